"""Lightness plane coding benchmark: bpp of every graycodec mode next to standard codecs on the
same stored plane, and encode/decode speed against Pillow's PNG in the same run.

    python benchmarks/bench_lplane.py [--kodak DIR] [--limit N] [--repeat R] [--threads T] [--json OUT]

The plane of each image is ``color.rgb_to_plane`` of its sRGB pixels (the plane a .gcz stores).
Every graycodec result is decoded and checked (bit-exact, or within max_error). Speeds are the
best of ``--repeat`` rounds per image (the least disturbed by other processes), summed over
images; in each round every coder runs once, in turn, so PNG and graycodec see the same load.
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import numba

from graycodec import lplane
from graycodec.color import rgb_to_plane
from graycodec.lplane import strips

DEFAULT_KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "kodak"
NEAR = (1, 2, 3)

try:
    import imagecodecs
except ImportError:  # the benchmark still runs; these columns are left out with a note
    imagecodecs = None


def setup_args() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=DEFAULT_KODAK, help="folder of test images (*.png)")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images")
    ap.add_argument("--repeat", type=int, default=5, help="timing runs per image (best is kept)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="time with the wall clock, or with this thread's CPU time (steadier on a shared machine)")
    ap.add_argument("--speed-only", action="store_true", help="skip the size comparison")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for mode 3 (default: numba's thread count, NUMBA_NUM_THREADS)")
    ap.add_argument("--json", type=Path, help="also write all results as JSON here")
    return ap


# --- codecs: each returns the compressed size in bytes -----------------------------------
def gcz_size(plane, mode, max_error):
    got, payload = lplane.encode_plane(plane, max_error=max_error, mode=mode)
    out = lplane.decode_plane(got, payload, plane.shape[1], plane.shape[0], max_error)
    err = np.abs(out.astype(int) - plane).max()
    if err > max_error:
        raise AssertionError(f"mode {mode} D={max_error}: error {err}")
    return len(payload)


def png_bytes(plane, **kw):
    buf = io.BytesIO()
    Image.fromarray(plane).save(buf, "PNG", **kw)
    return buf.getvalue()


def webp_size(plane):
    buf = io.BytesIO()
    Image.fromarray(plane).save(buf, "WEBP", lossless=True, quality=100, method=6)
    return len(buf.getvalue())


def codec_table():
    """name -> (function plane -> bytes, or None with the reason it is missing)."""
    table = {"graycodec mode 3": lambda p: gcz_size(p, 3, 0), "graycodec mode 2": lambda p: gcz_size(p, 2, 0),
             "graycodec mode 1 (MED)": lambda p: gcz_size(p, 1, 0),
             "PNG (optimize)": lambda p: len(png_bytes(p, optimize=True)), "WebP lossless": webp_size}
    for mode in (3, 2):
        for d in NEAR:
            table[f"graycodec mode {mode}, D={d}"] = lambda p, d=d, mode=mode: gcz_size(p, mode, d)
    missing = {}
    if imagecodecs is not None and imagecodecs.JPEGLS.available:
        table["JPEG-LS"] = lambda p: len(imagecodecs.jpegls_encode(p))
        for d in NEAR:
            table[f"JPEG-LS NEAR={d}"] = lambda p, d=d: len(imagecodecs.jpegls_encode(p, level=d))
    else:
        missing["JPEG-LS"] = "imagecodecs with JPEG-LS not installed"
    if imagecodecs is not None and imagecodecs.JPEGXL.available:
        table["JPEG XL lossless (effort 7)"] = lambda p: len(imagecodecs.jpegxl_encode(p, lossless=True, effort=7))
    else:
        missing["JPEG XL"] = "imagecodecs with JPEG XL not installed"
    return table, missing


# --- speed -------------------------------------------------------------------------------
SPEED_ROWS = [  # (label, key, mode, max_error, mode 3 threads: None = the run's count)
    ("graycodec mode 3 lossless (default)", "m3", 3, 0, None),
    *[(f"graycodec mode 3, D={d}", f"m3d{d}", 3, d, None) for d in NEAR],
    ("graycodec mode 3 lossless, 1 thread", "m3t1", 3, 0, 1),
    ("graycodec mode 2 lossless", "m2", 2, 0, None),
    *[(f"graycodec mode 2, D={d}", f"m2d{d}", 2, d, None) for d in NEAR],
    ("graycodec mode 1 lossless", "m1", 1, 0, None),
]


def best_in_turn(jobs, repeat, clock=time.perf_counter, threads=None, calls_per_round=1):
    """{key: best seconds of one call} for jobs {key: (mode 3 threads or None, fn)}: ``repeat``
    rounds, each calling every job (``calls_per_round`` times) in turn, so that all of them see
    the same moments of machine load (on a shared host a core's speed swings by tens of per
    cent within seconds)."""
    best = dict.fromkeys(jobs, float("inf"))
    try:
        for _ in range(repeat):
            for key, (n, fn) in jobs.items():
                strips.set_num_threads(n or threads)
                for _ in range(calls_per_round):
                    start = clock()
                    fn()
                    best[key] = min(best[key], clock() - start)
    finally:
        strips.set_num_threads(None)
    return best


def speed(planes, repeat, clock=time.perf_counter, threads=None):
    """Seconds (best of repeat, summed over images) for graycodec modes and Pillow PNG. For each
    image the decoders are timed in turn (see best_in_turn), then the encoders."""
    t = {f"{k}_{op}": 0.0 for k in ["png"] + [r[1] for r in SPEED_ROWS] for op in ("enc", "dec")}
    for plane in planes:
        h, w = plane.shape
        png = png_bytes(plane)
        decoders = {"png_dec": (None, lambda: np.asarray(Image.open(io.BytesIO(png))))}
        encoders = {"png_enc": (None, lambda: png_bytes(plane))}
        for _, key, mode, d, n in SPEED_ROWS:
            _, payload = lplane.encode_plane(plane, mode=mode, max_error=d)
            decoders[key + "_dec"] = (n, functools.partial(lplane.decode_plane, mode, payload, w, h, d))
            encoders[key + "_enc"] = (n, functools.partial(lplane.encode_plane, plane, mode=mode, max_error=d))
        for jobs in (decoders, encoders):
            for key, seconds in best_in_turn(jobs, repeat, clock, threads).items():
                t[key] += seconds
    return t


def size_tables(files, planes, table, missing):
    """Print the per-image and mean bpp tables; returns {codec: [bpp per image]}."""
    bpp = {name: [] for name in table}
    for f, plane in zip(files, planes):
        for name, fn in table.items():
            bpp[name].append(fn(plane) * 8 / plane.size)
    names = list(table)
    print("| image | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for i, f in enumerate(files):
        print(f"| {f.stem} | " + " | ".join(f"{bpp[n][i]:.3f}" for n in names) + " |")
    print("| **mean** | " + " | ".join(f"**{np.mean(bpp[n]):.3f}**" for n in names) + " |")
    for name, why in missing.items():
        print(f"\n{name}: skipped ({why})")
    print("\n| coder | mean bpp | vs JPEG-LS (same max error) |")
    print("|---|---|---|")
    for name in names:
        d = next((d for d in NEAR if name.endswith(f"D={d}") or name.endswith(f"NEAR={d}")), 0)
        ref = "JPEG-LS" if d == 0 else f"JPEG-LS NEAR={d}"
        rel = f"{np.mean(bpp[name]) / np.mean(bpp[ref]) - 1:+.1%}" if ref in bpp else "n/a"
        print(f"| {name} | {np.mean(bpp[name]):.3f} | {rel} |")
    return bpp


def load_planes(folder: Path, limit: int = 0) -> tuple[list[Path], list[np.ndarray]]:
    """The first ``limit`` (0: all) *.png images of folder, and the lightness plane a .gcz stores
    for each; ([], []) when there are none."""
    files = sorted(folder.glob("*.png"))[: limit or None]
    return files, [rgb_to_plane(np.asarray(Image.open(f).convert("RGB"))) for f in files]


def main(argv=None) -> int:
    args = setup_args().parse_args(argv)
    files, planes = load_planes(args.kodak, args.limit)
    if not files:
        print(f"no images in {args.kodak}", file=sys.stderr)
        return 1
    lplane.decode_plane(*lplane.encode_plane(planes[0][:8, :8]), 8, 8, 0)  # JIT / cache warm-up
    table, missing = codec_table()
    bpp = {}
    if not args.speed_only:
        bpp = size_tables(files, planes, table, missing)

    if args.clock == "cpu":  # mode 3 works on several threads: one thread's CPU time would miss them
        print("note: --clock cpu counts the calling thread only; mode 3 rows other than the 1-thread "
              "one are wall clock figures in disguise and undercount", file=sys.stderr)
    clock = time.thread_time if args.clock == "cpu" else time.perf_counter
    threads = args.threads or None
    t = speed(planes, args.repeat, clock, threads)
    strips.set_num_threads(threads)
    nthreads = strips.num_threads()
    strips.set_num_threads(None)
    nstrips = sorted({-(-p.shape[0] // strips.strip_rows(p.shape[0])) for p in planes})
    mpix = sum(p.size for p in planes) / 1e6
    print(f"\nSpeed on {len(planes)} planes ({mpix:.2f} MP), best of {args.repeat} rounds per image (coders in turn), "
          f"{args.clock} clock. Mode 3: {nthreads} threads (numba.get_num_threads() = "
          f"{numba.get_num_threads()}), {'/'.join(map(str, nstrips))} strips per plane; "
          f"{len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()} CPUs, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} after the run:\n")
    print("| coder | encode MP/s | decode MP/s | encode vs PNG | decode vs PNG |")
    print("|---|---|---|---|---|")
    rows = [("Pillow PNG (default level)", "png")] + [(r[0], r[1]) for r in SPEED_ROWS]
    for label, key in rows:
        enc, dec = t[key + "_enc"], t[key + "_dec"]
        print(f"| {label} | {mpix / enc:.1f} | {mpix / dec:.1f} | "
              f"{t['png_enc'] / enc:.2f}× | {t['png_dec'] / dec:.2f}× |")
    machine = platform.processor() or platform.machine()
    print(f"\n(× = PNG time / graycodec time: above 1 is faster than PNG.) Machine: {machine}, "
          f"Python {platform.python_version()}")
    if args.json:
        args.json.write_text(json.dumps({"files": [f.name for f in files], "bpp": bpp, "seconds": t,
                                         "megapixels": mpix, "missing": missing, "mode3_threads": nthreads},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
