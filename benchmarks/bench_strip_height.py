"""Mode 3 strip height: size and decode speed of the encoder's strips against other minimum
strip heights, next to Pillow's PNG decode, all in one run.

    python benchmarks/bench_strip_height.py [--kodak DIR] [--limit N] [--repeat R] [--rounds K]
                                            [--min-rows 256 128] [--max-error 0 2]

Every payload is a valid mode 3 payload (the strip height is a header field), decoded by the
current decoder, which pairs strips (gap._gap_decode_pair) when there are at least two per
thread. The coders of one image are timed in turn, round after round, so that all see about
the same machine load; a decode's time is its best over all rounds.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from bench_lplane import DEFAULT_KODAK, best_in_turn, load_planes, png_bytes  # this folder is on sys.path when run
from graycodec import lplane
from graycodec.lplane import strips


def setup_args() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK, help="folder of test images (*.png)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images")
    ap.add_argument("--repeat", type=int, default=3, help="decodes per coder per round")
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all coders")
    ap.add_argument("--min-rows", type=int, nargs="+", default=[256, strips.MIN_STRIP_ROWS],
                    help="minimum strip heights to compare (the encoder's rule, strips.strip_rows)")
    ap.add_argument("--max-error", type=int, nargs="+", default=[0, 1, 2, 3], help="bounds D to compare")
    return ap


def main(argv=None) -> int:
    args = setup_args().parse_args(argv)
    files, planes = load_planes(args.kodak, args.limit)
    if not files:
        print(f"no images in {args.kodak}", file=sys.stderr)
        return 1
    pixels = sum(p.size for p in planes)
    coders = [(d, m) for d in args.max_error for m in args.min_rows]
    size = {c: 0 for c in coders}
    best = {c: 0.0 for c in ["png", *coders]}
    for plane in planes:
        h, w = plane.shape
        png = png_bytes(plane)
        payloads = {}
        for d, m in coders:
            payloads[d, m] = strips.encode(plane, d, strips.strip_rows(h, m))
            out = lplane.decode_plane(3, payloads[d, m], w, h, d)
            assert np.abs(out.astype(int) - plane).max() <= d
            size[d, m] += len(payloads[d, m])
        runs = {"png": (None, lambda: np.asarray(Image.open(io.BytesIO(png))))}
        runs.update({c: (None, lambda p=payloads[c], d=c[0]: lplane.decode_plane(3, p, w, h, d)) for c in coders})
        for c, seconds in best_in_turn(runs, args.rounds, calls_per_round=args.repeat).items():
            best[c] += seconds
    print(f"{len(planes)} planes ({pixels / 1e6:.2f} MP), {strips.num_threads()} threads, best of "
          f"{args.rounds} rounds x {args.repeat} decodes per image\n")
    print("| D | min strip rows | strips per plane | bpp | decode MP/s | decode vs PNG |")
    print("|---|---|---|---|---|---|")
    print(f"| | Pillow PNG | | | {pixels / best['png'] / 1e6:.1f} | 1.00× |")
    for d, m in coders:
        counts = sorted({-(-p.shape[0] // strips.strip_rows(p.shape[0], m)) for p in planes})
        print(f"| {d} | {m} | {'/'.join(map(str, counts))} | {size[d, m] * 8 / pixels:.4f} | "
              f"{pixels / best[d, m] / 1e6:.1f} | {best['png'] / best[d, m]:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
