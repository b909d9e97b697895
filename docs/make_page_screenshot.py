"""Make docs/img/serve_page.png: the `graycodec serve` page after encoding and decoding a photo.

    python docs/make_page_screenshot.py [--stand-in] [--photo samples/astronaut.jpg] [--hints high]

Runs the server in-process, drives Debian's chromium through Playwright (upload through the file
input, Encode, Decode) and takes a 1280-wide screenshot of the whole page. ``--stand-in`` decodes
with a stand-in for the model that paints the stored hint thumbnail alone (bilinear): for when
no trained model is installed; the README says which one made the picture.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import threading
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graycodec import codec, hints as hints_mod, server  # noqa: E402


class HintPainter:
    """Stand-in predictor: the hint thumbnail upsampled; neutral gray without hints."""

    model_id = ""

    def predict_ab(self, lstar, hints=None, vividness=0.0):
        if hints is None:
            return np.zeros(lstar.shape + (2,), np.float32)
        return hints_mod.upsample_bilinear(hints.ab.astype(np.float32), *lstar.shape)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--photo", default=str(ROOT / "samples" / "astronaut.jpg"))
    p.add_argument("--hints", default="high")
    p.add_argument("--stand-in", action="store_true", help="decode with the hint painter, not the model")
    p.add_argument("--out", default=str(ROOT / "docs" / "img" / "serve_page.png"))
    args = p.parse_args()
    if args.stand_in:
        codec.load_predictor = lambda model=None, device="auto": HintPainter()
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    httpd = server.make_server(server.App(), "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/")
            page.set_input_files("#file", args.photo)
            page.select_option("#hints", args.hints)
            page.click("#encode")
            page.wait_for_selector("#encoded:not([hidden])")
            page.click("#decode")
            page.wait_for_selector("#result:not([hidden])")
            page.fill("#split", "45")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        httpd.shutdown()
    # 256 colours keep the page and its photos legible at under half the bytes
    from PIL import Image

    with Image.open(args.out) as shot:
        small = shot.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    small.save(args.out, optimize=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
