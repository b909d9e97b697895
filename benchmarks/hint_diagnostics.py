"""Does the network beat its own hint input? The same question on altered copies of a set.

    python benchmarks/hint_diagnostics.py --set kodak --every 2 \
        --variants original,jpeg75,jpeg95,jpeg95-444,blur1,lanczos320,box256
    python benchmarks/hint_diagnostics.py --set kodak --every 2 --variants original --working-short-side 512
    python benchmarks/hint_diagnostics.py --set val-large --variants half --working-short-side 256,128

Each variant of each image becomes the reference itself (its L plane is stored, its hints are
made from it, the output is scored against it), so a variant asks "what if the photos looked
like this?". Rows: mean ΔE94 of the predictor's hinted output and of its own input (the
L-guided upsampling of the thumbnail, what an untrained network returns) at medium and high
hints, and on how many images the network wins. Written to explain why the shipped model
beats its input on the (JPEG) validation photos but not on Kodak (docs/BENCHMARKS.md,
"Colour predictor"). Kodak is a test set: these rows explain, they choose nothing.

Variants: ``original``; ``jpegQ`` (JPEG quality Q, 4:2:0 colour, as most web photos);
``jpegQ-444`` (full-resolution colour); ``blurS`` (a/b blurred, Gaussian sigma S pixels);
``lanczosS`` (downscaled to short side S, Lanczos); ``boxS`` (downscaled to short side S,
box filter); ``half`` (downscaled 2x, box filter).
"""
from __future__ import annotations

import argparse
import io
import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import gaussian_filter

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_colour  # noqa: E402  (the sets and the scores)

from graycodec import color, hints  # noqa: E402
from graycodec.model import ColorUNet  # noqa: E402
from graycodec.predictor import Predictor  # noqa: E402

LEVELS = ("medium", "high")


def _jpeg(rgb: np.ndarray, quality: int, subsampling: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return np.asarray(Image.open(buf).convert("RGB"))


def _resize(rgb: np.ndarray, short_side: float, resample) -> np.ndarray:
    im = Image.fromarray(rgb)
    k = short_side / min(im.size)
    return np.asarray(im.resize((round(im.width * k), round(im.height * k)), resample))


def _blur_ab(rgb: np.ndarray, sigma: float) -> np.ndarray:
    lab = color.rgb_to_lab(rgb)
    lab[..., 1:] = gaussian_filter(lab[..., 1:], (sigma, sigma, 0))
    return color.lab_to_rgb8(lab[..., 0], lab[..., 1:])


def make_variant(rgb: np.ndarray, name: str) -> np.ndarray:
    """The image altered as ``name`` says (see the module docstring); ValueError if unknown."""
    if name == "original":
        return rgb
    if name == "half":
        return _resize(rgb, min(rgb.shape[:2]) / 2, Image.Resampling.BOX)
    patterns = {
        r"jpeg(\d+)": lambda q: _jpeg(rgb, int(q), 2),
        r"jpeg(\d+)-444": lambda q: _jpeg(rgb, int(q), 0),
        r"blur([\d.]+)": lambda s: _blur_ab(rgb, float(s)),
        r"lanczos(\d+)": lambda s: _resize(rgb, int(s), Image.Resampling.LANCZOS),
        r"box(\d+)": lambda s: _resize(rgb, int(s), Image.Resampling.BOX),
    }
    for pattern, make in patterns.items():
        m = re.fullmatch(pattern, name)
        if m:
            return make(m.group(1))
    raise ValueError(f"unknown variant {name!r}")


@torch.inference_mode()
def network_and_input(pred: Predictor, untrained: Predictor, rgb: np.ndarray) -> dict:
    """ΔE94 of the network and of its own input, per hint level, for one image."""
    ref_lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    out = {}
    for level in LEVELS:
        thumb = hints.make_hints(ref_lab[..., 1:], level)
        out[level] = (eval_colour.scores(ref_lab, lstar, pred.predict_ab(lstar, thumb))["de94"],
                      eval_colour.scores(ref_lab, lstar, untrained.predict_ab(lstar, thumb))["de94"])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", choices=("val", "val-large", "kodak"), default="kodak")
    p.add_argument("--every", type=int, default=1, help="use every Nth image of the set")
    p.add_argument("--variants", default="original", help="comma-separated (see the docstring)")
    p.add_argument("--working-short-side", default="", help="comma-separated; default: the card's")
    p.add_argument("--model", help="weight file (default: the shipped model)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not eval_colour.SHARED.is_dir():
        print(f"hint_diagnostics: {eval_colour.SHARED} is not present", file=sys.stderr)
        return 3
    variants = args.variants.split(",")
    images = eval_colour.load_set(args.set, None)[::args.every]
    for name in variants:  # fail on a typo before the long run
        make_variant(images[0][1], name)
    pred = Predictor.load(args.model, "cpu")
    sides = [int(s) for s in args.working_short_side.split(",") if s] or [pred.working_short_side]
    print(f"model {pred.model_id}, {len(images)} images of the {args.set} set; "
          "ΔE94 network / its input (wins)\n")
    print("| variant | working side | " + " | ".join(LEVELS) + " |")
    print("|---|---|" + "---|" * len(LEVELS))
    for side in sides:
        pred.working_short_side = side
        untrained = Predictor(ColorUNet(), {"working_short_side": side}, torch.device("cpu"))
        for name in variants:
            rows = [network_and_input(pred, untrained, make_variant(rgb, name)) for _, rgb in images]
            cells = []
            for level in LEVELS:
                pairs = np.array([r[level] for r in rows])
                wins = int((pairs[:, 0] < pairs[:, 1]).sum())
                cells.append(f"{pairs[:, 0].mean():.3f} / {pairs[:, 1].mean():.3f} ({wins}/{len(rows)})")
            print(f"| {name} | {side} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
