"""Batch throughput (issue 16): images/s and MB/s of `graycodec encode`, `decode --gray` and colour
`decode`, with --workers 1 and all cores (and on the GPU with --batch-size, where there is one).

    python benchmarks/bench_throughput.py [--copies 2] [--colour-files 8] [--workers 1 2] [--json out.json]

Inputs: the Kodak set (../shared/data/kodak, 24 images of 768×512) copied ``--copies`` times
under distinct names, else scikit-image's sample photos cropped and tiled to 768×512. Each figure
is the wall time of the whole command (start-up, worker spawning and model loading included:
what a user waits for), best of ``--repeat`` runs. MB/s counts uncompressed RGB bytes
(W·H·3) per second, the same unit for every task. On a GPU the colour decode also runs with
``--device cuda --batch-size B``, and the model alone (one forward pass on a batch of B L* planes
at Kodak's working size) gives the rate the pipeline is compared with.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"
SIZE = (768, 512)  # Kodak's landscape size (W, H)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--copies", type=int, default=2, help="copies of the 24 images (default: %(default)s)")
    p.add_argument("--colour-files", type=int, default=8, help="files of the CPU colour decode (default: %(default)s)")
    p.add_argument("--workers", type=int, nargs="+", default=None,
                   help="worker counts to measure (default: 1 and every usable core)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each command, best kept (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="GPU decode batch size (default: %(default)s)")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p


def source_images() -> list[tuple[str, Image.Image]]:
    """The Kodak images, else skimage's sample photos cropped/tiled to 768×512."""
    if KODAK.is_dir() and any(KODAK.glob("*.png")):
        return [(p.stem, Image.open(p).convert("RGB")) for p in sorted(KODAK.glob("*.png"))]
    from skimage import data

    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"):
        a = np.asarray(getattr(data, name)())
        if a.ndim == 2:
            a = np.stack([a] * 3, -1)
        reps = (-(-SIZE[1] // a.shape[0]), -(-SIZE[0] // a.shape[1]), 1)
        out.append((name, Image.fromarray(np.tile(a[..., :3], reps)[:SIZE[1], :SIZE[0]])))
    return out


def graycodec_cmd() -> list[str]:
    """The command of this interpreter's graycodec (not whichever is first on PATH)."""
    return [sys.executable, "-m", "graycodec"]


def timed(args: list, repeat: int) -> float:
    best = None
    for _ in range(repeat):
        out = Path(args[args.index("-o") + 1])
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        r = subprocess.run(graycodec_cmd() + [str(a) for a in args], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if r.returncode:
            raise SystemExit(f"graycodec {' '.join(map(str, args[:1]))} failed: {r.stderr.strip()[-300:]}")
        best = seconds if best is None else min(best, seconds)
    return best


def model_only_rate(batch_size: int) -> float | None:
    """Images/s of the network alone on CUDA at Kodak's working size (None without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return None
    from graycodec.codec import load_predictor
    from graycodec.predictor import working_size

    pred = load_predictor(device="cuda")
    h, w = working_size(SIZE[1], SIZE[0], pred.working_short_side)
    l_work = torch.rand(batch_size, 1, h, w) * 100
    hint, mask = torch.zeros(batch_size, 2, h, w), torch.zeros(batch_size, 1, h, w)
    for _ in range(3):
        pred.predict_working(l_work, hint, mask)
    torch.cuda.synchronize()
    n, start = 10, time.perf_counter()
    for _ in range(n):
        pred.predict_working(l_work, hint, mask)
    torch.cuda.synchronize()
    return n * batch_size / (time.perf_counter() - start)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    worker_counts = args.workers or sorted({1, cores})
    rows = []
    with tempfile.TemporaryDirectory(prefix="graycodec-bench-") as td:
        t = Path(td)
        src, colour_src = t / "in", t / "colour_in"
        src.mkdir()
        colour_src.mkdir()
        pixels = 0
        for k in range(args.copies):
            for name, im in source_images():
                im.save(src / f"{name}_{k}.png")
                pixels += im.width * im.height
        n = len(list(src.iterdir()))
        gcz = t / "gcz"
        timed(["encode", src, "-o", gcz], 1)  # warm: numba's compile cache, the file cache
        colour = sorted(gcz.iterdir())[: args.colour_files]
        for p in colour:
            shutil.copyfile(p, colour_src / p.name)
        colour_pixels = pixels * len(colour) // n
        tasks = [("encode", ["encode", src], n, pixels),
                 ("gray decode", ["decode", gcz, "--gray"], n, pixels),
                 ("colour decode (CPU)", ["decode", colour_src, "--device", "cpu"], len(colour), colour_pixels)]
        for what, cmd, files, px in tasks:
            for w in worker_counts:
                seconds = timed(cmd + ["-o", t / "out", "--workers", w], args.repeat)
                rows.append({"task": what, "workers": w, "files": files, "seconds": round(seconds, 3),
                             "images_per_s": round(files / seconds, 2), "mb_per_s": round(px * 3 / 1e6 / seconds, 2)})
        rate = model_only_rate(args.batch_size)
        if rate is not None:
            for bs in (1, args.batch_size):
                seconds = timed(["decode", gcz, "-o", t / "out", "--device", "cuda", "--batch-size", bs], args.repeat)
                rows.append({"task": f"colour decode (CUDA, batch {bs})", "workers": cores, "files": n,
                             "seconds": round(seconds, 3), "images_per_s": round(n / seconds, 2),
                             "mb_per_s": round(pixels * 3 / 1e6 / seconds, 2)})
            rows.append({"task": f"model only (CUDA, batch {args.batch_size})", "workers": 1, "files": None,
                         "seconds": None, "images_per_s": round(rate, 1), "mb_per_s": None})
    print(f"{'task':<34} {'workers':>7} {'files':>5} {'seconds':>8} {'images/s':>9} {'MB/s':>7}")
    for r in rows:
        print(f"{r['task']:<34} {r['workers']:>7} {r['files'] or '':>5} {r['seconds'] or '':>8} "
              f"{r['images_per_s']:>9} {r['mb_per_s'] or '':>7}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(usable cores: {cores}; load average at the end: {load:.2f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"cores": cores, "load_average": load, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
