"""Rate–ΔE94 of every (max_error, hint factor:step) setting on training photos: the frontier
that `graycodec encode --quality` is fitted to (graycodec/quality.py).

    python benchmarks/quality_frontier.py [--photos DIR] [--per-set N] [--json OUT] [--check]
                                          [--lightness 0,2,...,h0,h1] [--merge]

Lightness settings: D = full-size plane within D (modes 3), hD = half-size plane within D
(mode 4, lplane.half), wD = the wavelet mode with base step 3D/4 (mode 5, lplane.wavelet). Keys of the JSON: "<lightness>,<factor>:<step>". --merge adds the
settings to those already in --json (same images).

Images: the first N (sorted by name) of each of bsds500/ and imagenet-sample/ under --photos
(training photos; Kodak is kept for reporting). bpp = bytes of the whole .gcz × 8 / pixels; ΔE94 =
skimage deltaE_ciede94 of the decoded sRGB against the original, averaged over pixels, then images.

Colour with hints is what an *untrained* ColorUNet returns — the L-guided upsampling of the
thumbnail pulled to its block means (predictor.predict_ab with a zero residual) — computed here
without the network (``--check`` confirms it equals Predictor(ColorUNet()) on two images). A
trained model should do better: these ΔE94 are an upper bound of the error.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import color as skcolor

from graycodec import color, container, hints, imageio, lplane
from graycodec.predictor import hint_inputs, resize_plane, thumbnail_tensor, upsample_ab, working_size
from graycodec.upsampling import match_hint_means

MAX_ERRORS = ("0", "1", "2", "3", "4", "6", "8", "11", "15")
FACTORS = (4, 6, 8, 11, 16, 22, 32)
STEPS = (1, 2, 3)
CHUNK_OVERHEAD = 12  # a hINT chunk's type, length and CRC


def untrained_ab(lstar: np.ndarray, thumb) -> np.ndarray:
    """What Predictor(ColorUNet() untrained).predict_ab returns with hints: no network needed."""
    l_work = resize_plane(lstar, working_size(*lstar.shape))
    hint, _ = hint_inputs(l_work, thumb)
    return upsample_ab(match_hint_means(l_work, hint, thumbnail_tensor(thumb)), *lstar.shape)


def images(photos: Path, per_set: int) -> list[Path]:
    out = []
    for sub in ("bsds500", "imagenet-sample"):
        out += sorted(p for p in (photos / sub).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:per_set]
    return out


PREFIX_MODE = {"": None, "h": lplane.MODE_HALF, "w": lplane.MODE_WAVELET}  # setting prefix -> lplane mode


def lightness_file(src, setting: str) -> bytes:
    """The .gcz (no hints) of a lightness setting: "D" full size, "hD" half size (mode 4), "wD" wavelet (mode 5)."""
    prefix = setting.rstrip("0123456789")
    return container.write_gcz(container.GczImage(src.width, src.height, src.plane, max_error=int(setting[len(prefix):]),
                                                  coding=PREFIX_MODE[prefix]))


def measure_image(path: Path, specs, lightness=MAX_ERRORS) -> dict:
    """{"D,spec": (bpp, ΔE94)} for one image."""
    rgb = np.asarray(Image.open(path).convert("RGB"))
    ref = skcolor.rgb2lab(rgb)
    src = imageio.from_array(rgb)
    pixels = rgb.shape[0] * rgb.shape[1]
    thumbs = {s: hints.make_hints(src.ab(), s) for s in specs}
    hint_bytes = {s: len(hints.pack_hints(t)) + CHUNK_OVERHEAD for s, t in thumbs.items()}
    out = {}
    with torch.inference_mode():
        for d in lightness:
            data = lightness_file(src, d)
            lstar = color.plane_to_lstar(container.read_gcz(data).plane)
            for s, t in thumbs.items():
                rgb_out = color.lab_to_rgb8(lstar, untrained_ab(lstar, t))
                de = float(skcolor.deltaE_ciede94(ref, skcolor.rgb2lab(rgb_out)).mean())
                out[f"{d},{s}"] = ((len(data) + hint_bytes[s]) * 8 / pixels, de)
    return out


def check_against_predictor(paths) -> None:
    from graycodec.model import ColorUNet
    from graycodec.predictor import Predictor

    pred = Predictor(ColorUNet(), {}, torch.device("cpu"))
    for p in paths:
        src = imageio.from_array(np.asarray(Image.open(p).convert("RGB")))
        lstar = color.plane_to_lstar(src.plane)
        t = hints.make_hints(src.ab(), "6:2")
        diff = np.abs(pred.predict_ab(lstar, t) - untrained_ab(lstar, t)).max()
        print(f"check {p.name}: max |predictor − untrained_ab| = {diff:.2e}")
        assert diff < 1e-3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    ap.add_argument("--per-set", type=int, default=12)
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/quality_frontier.json"))
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--lightness", default=",".join(MAX_ERRORS))
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("--hints", default=None, help="hint settings F:S, comma-separated (default: FACTORS × STEPS)")
    args = ap.parse_args()
    lightness = args.lightness.split(",")
    old = json.loads(args.json.read_text())["per_image"] if args.merge else {}
    paths = images(args.photos, args.per_set)
    if args.merge:  # the images already measured, whatever --per-set says
        paths = [args.photos / name for name in json.loads(args.json.read_text())["images"]]
    if args.check:
        check_against_predictor(paths[:1] + paths[-1:])
    specs = args.hints.split(",") if args.hints else [f"{f}:{s}" for f in FACTORS for s in STEPS]
    per_image, t0 = {}, time.time()
    for i, p in enumerate(paths):
        per_image[p.name] = {**old.get(p.name, {}), **measure_image(p, specs, lightness)}
        print(f"{i + 1}/{len(paths)} {p.name} {time.time() - t0:.0f} s", flush=True)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"images": [q.parent.name + "/" + q.name for q in paths[: i + 1]],
                                         "per_image": per_image}, indent=0))


if __name__ == "__main__":
    main()
