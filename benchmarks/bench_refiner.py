"""Hinted decode time of the model alone: ``Predictor.predict_ab`` on one photo, one thread.

    python benchmarks/bench_refiner.py MODEL.safetensors [MODEL ...] [--image PATH] [--hints medium]

Mean of ``--repeats`` runs after one warm-up, so that the refiner's cost can be compared
between weight files on the same machine (docs/BENCHMARKS.md, "Throughput").
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from graycodec import color, hints
from graycodec.imageio import read_image
from graycodec.predictor import Predictor

KODIM01 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak" / "kodim01.png"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--image", type=Path, default=KODIM01)
    p.add_argument("--hints", default="medium")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rgb = read_image(args.image, max_pixels=None).rgb
    lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    thumb = hints.make_hints(lab[..., 1:], args.hints)
    for path in args.models:
        predictor = Predictor.load(path, device="cpu")
        predictor.predict_ab(lstar, thumb)  # warm-up: allocations, first-call paths
        runs = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            predictor.predict_ab(lstar, thumb)
            runs.append(time.perf_counter() - start)
        print(f"{path.name}: {np.mean(runs):.3f} s per image "
              f"({rgb.shape[1]}x{rgb.shape[0]}, hints {args.hints}, {args.threads} thread(s); "
              f"runs {', '.join(f'{r:.3f}' for r in runs)})")


if __name__ == "__main__":
    main()
