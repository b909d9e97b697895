"""Hint payload rate: v1's left deltas against v2's median-edge prediction, by factor and a/b step.

    python benchmarks/bench_hint_coding.py [--photos ../shared/data/photos] [--per-set 8]

The first N (by name) of bsds500/ and imagenet-sample/ (training photos). For each factor and
quantiser step: the block means' indices round(mean / step) coded three ways (left deltas as v1,
the planar gradient a + b − c, LOCO-I MED as v2), zstd level 19, bits per image pixel of the
zstd frame (headers left out), summed over images.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import zstandard
from PIL import Image
from skimage import color

from graycodec import hints


def left(k):
    d = k.copy()
    d[:, :, 1:] = k[:, :, 1:] - k[:, :, :-1]
    d[:, 1:, 0] = k[:, 1:, 0] - k[:, :-1, 0]
    return d


def grad(k):
    p = np.pad(k, ((0, 0), (1, 0), (1, 0)))
    return k - p[:, :-1, 1:] - p[:, 1:, :-1] + p[:, :-1, :-1]


def med(k):
    p = np.pad(k, ((0, 0), (1, 0), (1, 0))).astype(np.int32)
    a, b, c = p[:, 1:, :-1], p[:, :-1, 1:], p[:, :-1, :-1]
    pred = np.where(c >= np.maximum(a, b), np.minimum(a, b), np.where(c <= np.minimum(a, b), np.maximum(a, b), a + b - c))
    return k - pred


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=Path, default=Path("../shared/data/photos"))
    ap.add_argument("--per-set", type=int, default=8)
    args = ap.parse_args()
    files = [p for sub in ("bsds500", "imagenet-sample") for p in sorted((args.photos / sub).iterdir())[: args.per_set]]
    z = zstandard.ZstdCompressor(level=19)
    bits, pixels = {}, 0
    for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"))
        lab = color.rgb2lab(rgb)
        pixels += rgb.shape[0] * rgb.shape[1]
        for factor in (4, 8, 16, 32):
            means = hints.block_means(lab[..., 1:], *hints.thumbnail_shape(*rgb.shape[:2], factor))
            for step in (1, 2, 3, 4):
                k = np.moveaxis(np.round(means / step), -1, 0).astype(np.int32)
                for name, fn in (("left (v1)", left), ("gradient", grad), ("MED (v2)", med)):
                    key = (factor, step, name)
                    bits[key] = bits.get(key, 0) + 8 * len(z.compress(fn(k).astype(np.uint8).tobytes()))
    print(f"{len(files)} images; hint payload bpp (zstd frame only)")
    for (factor, step, name), b in sorted(bits.items()):
        print(f"1/{factor:<3} step {step}  {name:<10} {b / pixels:.4f}")


if __name__ == "__main__":
    main()
