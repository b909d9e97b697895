"""Speed of .gcz encode/decode against Pillow's PNG and JPEG, on the same images, in one run.

    python benchmarks/bench_codec_speed.py                     # Kodak, CPU (+ cuda colour if present)
    python benchmarks/bench_codec_speed.py --max-images 6 --device cpu

Times every operation over all images (after one warm-up image) and prints megapixels/s and
how each compares with PNG and JPEG, as a Markdown table with the machine it ran on.
Colour decoding needs a trained model; without one those rows say so.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from graycodec import codec
from graycodec.errors import ModelError
from graycodec.evaluation.runner import find_images, load_rgb

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def pillow_encode(fmt: str, **opts):
    def enc(rgb):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, fmt, **opts)
        return buf.getvalue()

    return enc


def pillow_decode(data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im


def timed(fn, inputs, repeat: int) -> float:
    """Best of ``repeat`` passes over all inputs (after one warm-up call), in seconds."""
    fn(inputs[0])
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for x in inputs:
            fn(x)
        best = min(best, time.perf_counter() - t0)
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} logical CPUs, {gpu}; Python {platform.python_version()}, torch {torch.__version__}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=KODAK)
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--repeat", type=int, default=1, help="passes per operation; the best counts")
    p.add_argument("--model", help="model weights (default: the shipped model)")
    p.add_argument("--device", action="append", help="colour decode device(s), repeatable (default: cpu, and cuda if present)")
    args = p.parse_args(argv)

    images = [load_rgb(path) for _, path in find_images([args.data], args.max_images)]
    mpix = sum(im.shape[0] * im.shape[1] for im in images) / 1e6
    gcz = [codec.encode(Image.fromarray(im)) for im in images]
    png = [pillow_encode("PNG")(im) for im in images]
    jpeg = [pillow_encode("JPEG", quality=75)(im) for im in images]

    rows = [  # (operation, seconds, bytes per image or None)
        ("gcz encode (lossless L, hints none)", timed(lambda im: codec.encode(Image.fromarray(im)), images, args.repeat), gcz),
        ("gcz decode --gray", timed(lambda d: codec.decode(d, gray=True), gcz, args.repeat), None),
    ]
    import torch

    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    notes = []
    for dev in devices:
        try:
            pred = codec.load_predictor(args.model, dev)
        except ModelError as e:
            notes.append(f"colour decode on {dev} not measured: {e}")
            continue
        rows.append((f"gcz decode colour ({dev})", timed(lambda d: codec.decode(d, predictor=pred), gcz, args.repeat), None))
    rows += [
        ("PNG encode (Pillow, level 6)", timed(pillow_encode("PNG"), images, args.repeat), png),
        ("PNG decode", timed(pillow_decode, png, args.repeat), None),
        ("JPEG q75 encode (Pillow)", timed(pillow_encode("JPEG", quality=75), images, args.repeat), jpeg),
        ("JPEG q75 decode", timed(pillow_decode, jpeg, args.repeat), None),
    ]
    png_enc, png_dec = rows[-4][1], rows[-3][1]
    jpg_enc, jpg_dec = rows[-2][1], rows[-1][1]

    command = " ".join(["python benchmarks/bench_codec_speed.py", *(sys.argv[1:] if argv is None else argv)])
    load = f"; load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    print(f"`{command}`")
    print(f"\n{len(images)} images, {mpix:.2f} megapixels; {machine()}{load}\n")
    print("| operation | MP/s | ms per image | time vs PNG | time vs JPEG q75 | bpp |")
    print("|---|---|---|---|---|---|")
    for name, secs, files in rows:
        ref_png, ref_jpg = (png_dec, jpg_dec) if "decode" in name else (png_enc, jpg_enc)
        bpp = f"{8 * sum(map(len, files)) / (mpix * 1e6):.2f}" if files else ""
        print(f"| {name} | {mpix / secs:.3g} | {1000 * secs / len(images):.0f} | {secs / ref_png:.3g}× "
              f"| {secs / ref_jpg:.3g}× | {bpp} |")
    for n in notes:
        print(f"\n- {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
