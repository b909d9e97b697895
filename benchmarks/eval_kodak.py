"""Evaluate the shipped model on Kodak at every hint level; write the report; print the headline.

    python benchmarks/eval_kodak.py                    # -> out/kodak-eval/, headline on stdout
    python benchmarks/eval_kodak.py --force --device cpu --model models/xxx.safetensors

The headline table (graycodec at each level, gray, JPEG q50/75/90, WebP q50/75/90, AVIF
q50/75: bpp, ΔE94, CIEDE2000, PSNR) is what docs/BENCHMARKS.md quotes. Without a trained
model the graycodec colour rows are left out with a note and the rest is still measured.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from graycodec.errors import GraycodecError
from graycodec.evaluation import report
from graycodec.evaluation.codecs import HINT_LEVELS
from graycodec.evaluation.runner import EvalOptions, evaluate

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=KODAK, help="image folder (default: %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "out" / "kodak-eval", help="report folder (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="write into a non-empty report folder")
    p.add_argument("--model", help="model weights (default: the shipped model)")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-images", type=int)
    args = p.parse_args(argv)
    opts = EvalOptions(
        inputs=[args.data], hints=HINT_LEVELS, report=args.out, force=args.force,
        model=args.model, device=args.device, max_images=args.max_images,
    )
    t0 = time.perf_counter()
    try:
        results = evaluate(opts)
    except GraycodecError as e:
        print(f"eval_kodak: {e}", file=sys.stderr)
        return e.exit_code
    command = " ".join(["python benchmarks/eval_kodak.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"`{command}` — {len(results.images)} images in {time.perf_counter() - t0:.0f} s\n")
    print(report.headline_markdown(results))
    for note in results.notes:
        print(f"- note: {note}")
    for f in results.failures:
        print(f"- failed: {f['image']}: {f['error']}")
    print(f"\nreport: {args.out / 'index.html'}", file=sys.stderr)
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
