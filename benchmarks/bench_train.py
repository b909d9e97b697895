"""Training throughput: images/s of the whole training step on this machine.

    python benchmarks/bench_train.py                          # batch 16 of 128² crops, auto device
    python benchmarks/bench_train.py --batch-size 256 --size 160 --device cuda

Times exactly what ``graycodec train`` does per step — random multi-scale crops from a photo
cache held on the host, uint8 crops moved to the device, Lab and per-sample hints as tensor
ops, the ColorUNet forward/backward under bf16 autocast where it is fast, AdamW — on a
synthetic cache (so no data set is needed), after warm-up steps. Prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numpy as np
import torch

from graycodec.model import ColorUNet
from graycodec.predictor import resolve_device
from graycodec.training.batches import random_crops, rgb_to_lab_torch
from graycodec.training.data import ImageCache
from graycodec.training.engine import default_bf16, train_step


def synthetic_cache(n: int = 32, h: int = 256, w: int = 384) -> ImageCache:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (n, h // 16, w // 16, 3), dtype=np.uint8)
    imgs = small.repeat(16, axis=1).repeat(16, axis=2)  # blocky photos: content does not matter here
    index = np.array([[i * h * w * 3, h, w] for i in range(n)], dtype=np.int64)
    return ImageCache(imgs.reshape(-1), index, [f"synthetic{i}" for i in range(n)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5, help="timed steps (after --warmup ones)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    use_bf16 = default_bf16(device) if args.bf16 is None else args.bf16
    cache = synthetic_cache()
    torch.manual_seed(0)
    model = ColorUNet().to(device, memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(k: int) -> None:
        rng = np.random.default_rng([0, k])
        crops = random_crops(cache, args.batch_size, args.size, rng).to(device)
        lab = rgb_to_lab_torch(crops.float() / 255.0).contiguous(memory_format=torch.channels_last)
        train_step(model, opt, lab, rng, 0.5, use_bf16)  # .item() inside synchronises the device

    for k in range(args.warmup):
        step(k)
    t0 = time.perf_counter()
    for k in range(args.steps):
        step(args.warmup + k)
    dt = (time.perf_counter() - t0) / args.steps
    print(json.dumps({
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "threads": torch.get_num_threads(), "bf16": use_bf16, "batch_size": args.batch_size, "size": args.size,
        "s_per_step": round(dt, 3), "images_per_s": round(args.batch_size / dt, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
