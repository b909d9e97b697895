"""``graycodec prepare DATA... --out CACHE.npy [--short-side 256] [--min-downscale F]``: build the training cache.

``graycodec train`` prepares its cache by itself (in its workdir); this explicit step is for
building it once on one machine and carrying the ``.npy`` (+ ``.json``) to another, e.g. a
GPU machine (which receives at most 64 MiB: ``--short-side 128`` makes a cache a quarter of
the 256 one, still too big for the 8,377 photos; docs/TRAINING.md says what fits). Pass the
``.npy`` to ``graycodec train`` in place of folders.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GraycodecError
from .data import prepare


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graycodec prepare", description="Build the training photo cache (see docs/TRAINING.md).")
    p.add_argument("data", nargs="+", help="image folders (MIRFLICKR-25k layout or any tree) or files")
    p.add_argument("--out", required=True, help="cache file CACHE.npy (a CACHE.json index is written beside it)")
    p.add_argument("--short-side", type=int, default=256, help="resize each photo to this short side (never enlarges)")
    p.add_argument("--min-downscale", type=float, default=1.0,
                   help="also shrink every photo at least this many times (2: JPEG colour, stored at "
                        "half resolution, comes back to the pixel grid; docs/TRAINING.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.suffix != ".npy":
        raise GraycodecError(f"--out {out}: the cache file must end in .npy")
    if not 1.0 <= args.min_downscale <= 16.0:
        raise GraycodecError(f"--min-downscale {args.min_downscale:g}: must be between 1 and 16")
    cache = prepare(args.data, args.short_side, min_downscale=args.min_downscale, progress=not args.no_progress)
    if not len(cache):
        raise GraycodecError(f"no usable colour photos under {', '.join(args.data)}")
    cache.save(out)
    print(f"wrote {out} and {out.with_suffix('.json').name} ({len(cache)} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
