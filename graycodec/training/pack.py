"""Pack training photos small enough to travel to a lent GPU machine.

    python -m graycodec.training.pack ../shared/data/photos --out gpu_data/photos --short-side 192 --quality 85

A lent GPU machine receives at most 64 MiB with the working tree (the shipped model file is
29 MB of it), and it cannot read ../shared. This writes every photo again as a JPEG resized
to ``--short-side`` (never enlarged), Huffman tables optimised, with 4:4:4 chroma by default
(``--chroma 420`` halves the colour's resolution once more, for a third less size: fine for
the U-Net's bins, which it predicts at half resolution anyway, not for the hint refiner). Each file keeps its folder and
file name, which is what the validation split hashes (``data.split_key``), so the split on
the GPU machine is the same as here. On the GPU machine, ``graycodec prepare gpu_data/photos
--out CACHE.npy --short-side S`` builds the training cache from them (docs/TRAINING.md,
"Training on a lent GPU").
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from .data import find_images, load_resized, split_key


def pack(paths, out: Path, short_side: int, quality: int, min_downscale: float = 1.0,
         chroma: str = "444") -> tuple[int, int]:
    """Write the photos at ``paths`` packed under ``out``; (files written, total bytes)."""
    count = total = 0
    for path in paths:
        try:
            rgb = load_resized(path, short_side, min_downscale)
        except (OSError, ValueError):
            continue  # unreadable: `prepare` would skip it too
        target = out / split_key(str(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(target, format="JPEG", quality=quality, optimize=True,
                                  subsampling=0 if chroma == "444" else 2)
        count += 1
        total += target.stat().st_size
    return count, total


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m graycodec.training.pack", description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="+", help="photo folders (as for graycodec prepare)")
    p.add_argument("--out", required=True, type=Path, help="folder to write (must not exist yet)")
    p.add_argument("--short-side", type=int, default=192)
    p.add_argument("--quality", type=int, default=85, help="JPEG quality (4:4:4 chroma)")
    p.add_argument("--min-downscale", type=float, default=1.0, help="as graycodec prepare --min-downscale")
    p.add_argument("--chroma", choices=("444", "420"), default="444", help="JPEG chroma sampling")
    args = p.parse_args(argv)
    if args.out.exists():
        print(f"error: {args.out} exists; pick a new folder", file=sys.stderr)
        return 2
    missing = [d for d in args.data if not Path(d).exists()]
    paths = [] if missing else find_images(args.data)
    if not paths:
        print(f"error: {missing[0] if missing else ', '.join(args.data)}: "
              f"{'no such file or folder' if missing else 'no photos found'}", file=sys.stderr)
        return 2
    count, total = pack(paths, args.out, args.short_side, args.quality, args.min_downscale, args.chroma)
    print(f"wrote {count} photos, {total / 2**20:.1f} MiB, under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
