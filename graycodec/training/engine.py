"""The training loop: ``train_step``, periodic validation, checkpoints, ``main(argv)``.

::

    DATA folders ──prepare──▶ cache (.npy, host) ──random crops (uint8)──▶ device
        ──Lab, hints (tensors)──▶ train_step (AdamW, bf16 autocast) ──every N steps──▶
        validate (rank 0: decoder path vs gray / bilinear) ──▶ best.pt, last.ckpt, log.jsonl,
        loss.png ──end──▶ models/NAME-<sha8>.safetensors + card

Reproducible by construction: the batch of step ``k`` is drawn from a generator seeded with
``(seed, k)`` (``(seed, k, rank)`` under torchrun), the learning rate is a function of the
step alone, and checkpoints hold the model, the optimizer, the step and the best validation
so far, so ``--resume`` continues exactly where a run stopped: the losses that follow are
those of an uninterrupted run.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import GraycodecError
from ..imageio import read_image
from ..model import NORMS, ColorUNet, load_model, save_model
from ..predictor import Predictor, resolve_device
from . import distributed, validate
from .backbone import CHOICES as BACKBONE_CHOICES
from .backbone import load_backbone
from .. import colorbins
from .batches import make_inputs, random_crops, rgb_to_lab_torch
from .data import VAL_FRACTION, ImageCache, find_images, prepare, source_key
from .plots import plot_log

PRIOR_PHOTOS = 2000  # photos sampled for the colour prior of the class rebalancing
PRIOR_PIXELS = 256  # pixels per sampled photo
# Arguments a resumed run must share with the run it continues to reproduce it.
RESUME_MUST_MATCH = ("steps", "batch_size", "size", "lr", "weight_decay", "hint_fraction", "seed", "warmup",
                     "hint_loss_weight", "norm", "ema")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graycodec train", description="Train the colour predictor.")
    p.add_argument("data", nargs="+", help="image folders (MIRFLICKR-25k layout or any tree) or a .npy cache")
    p.add_argument("--out", required=True, help="models/NAME: weight file written as NAME-<sha8>.safetensors")
    p.add_argument("--val", help="folder of validation images (default: the fixed hash split of DATA, "
                                 f"{VAL_FRACTION:.0%} of the photos, held out of training)")
    p.add_argument("--val-images", type=int, default=64,
                   help="validation images scored at each validation (the first of the split by name; default 64)")
    p.add_argument("--workdir", help="checkpoints, log and cache (default: runs/NAME)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=2000, help="optimizer steps (default 2000)")
    length.add_argument("--epochs", type=float,
                        help="train for N epochs instead (one epoch = training photos / batch size steps)")
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes of training even before the last step: validate, "
                        "checkpoint and release as at the end (the learning-rate schedule still spans --steps)")
    p.add_argument("--batch-size", type=int, default=16, help="global batch (split over torchrun ranks)")
    p.add_argument("--size", type=int, default=128, help="training crop side in pixels")
    p.add_argument("--short-side", type=int, default=256, help="cache resolution (short side)")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (AdamW; warm-up, then cosine decay)")
    p.add_argument("--warmup", type=int, default=100, help="steps of linear learning-rate warm-up")
    p.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    p.add_argument("--hint-fraction", type=float, default=0.5,
                   help="share of each batch given hints (0: the U-Net learns colour without hints only, for a "
                        "model whose hints go through the refiner; validation then skips the hinted setting)")
    p.add_argument("--hint-loss-weight", type=float, default=1.0,
                   help="weight of the hinted samples' L1 a/b loss (CIELAB units) next to the bins' cross-entropy")
    p.add_argument("--norm", choices=NORMS, default="group",
                   help="normalisation layers: group (default; see model.norm_layer) or batch (the first models)")
    p.add_argument("--init", help="start from the weights of a checkpoint or best.pt of an earlier run "
                                  "(layers that fit are copied; optimizer and step start afresh)")
    p.add_argument("--backbone-weights", choices=BACKBONE_CHOICES, default="none",
                   help="encoder start: none (from scratch) or imagenet (torchvision ResNet18, downloaded)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (auto: cuda when available)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast (default: on for CUDA and for CPUs with AVX-512 bf16 support)")
    p.add_argument("--val-every", type=int, default=200, help="steps between validations (the best one is released)")
    p.add_argument("--ckpt-every", type=int, default=100, help="steps between checkpoints (for --resume)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.999) and validate and release "
                        "it instead of the last step's weights (default 0: off)")
    p.add_argument("--resume", help="checkpoint to continue from")
    p.add_argument("--seed", type=int, default=0, help="random seed (crops, hints, batch order)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--prefetch", action=argparse.BooleanOptionalAction, default=None,
                   help="cut the next batch's crops on a host thread while the device trains on this one "
                        "(default: on with CUDA; the same batches either way)")
    return p


def default_bf16(device: torch.device) -> bool:
    """bf16 autocast where it is fast: CUDA, and CPUs with native bf16 (2.6x on this project's CI CPU)."""
    if device.type == "cuda":
        return True
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def lr_at(step: int, total: int, base: float, warmup: int = 100) -> float:
    """Linear warm-up, then cosine decay to 10% of the base rate."""
    if step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


# --- data --------------------------------------------------------------------------------
def describe_cache(path, cache: ImageCache) -> str:
    stats = cache.meta.get("stats")
    made = (f" (when prepared: {stats['grayscale']} grayscale and {stats['unreadable']} unreadable files skipped)"
            if stats else "")
    return f"cache {path}: {len(cache)} photos{made}"


def load_or_build_cache(args, workdir: Path, ctx: distributed.Dist) -> ImageCache:
    """The photo cache: a given .npy, else ``workdir/cache-<short side>.npy``, built by rank 0
    when missing or made from other folders."""
    if len(args.data) == 1 and args.data[0].endswith(".npy"):
        cache = ImageCache.load(Path(args.data[0]))
        if ctx.is_main:
            print(describe_cache(args.data[0], cache))
        return cache
    cache_path = workdir / f"cache-{args.short_side}.npy"
    cache = None
    if ctx.is_main:
        cache = ImageCache.load(cache_path) if cache_path.is_file() else None
        if cache is not None and cache.meta.get("roots", source_key(args.data)) != source_key(args.data):
            print(f"{cache_path} was made from other folders: preparing it again")
            cache = None
        if cache is None:
            prepare(args.data, args.short_side).save(cache_path)
            cache = ImageCache.load(cache_path)  # memory-mapped, like the other ranks'
        else:
            print(describe_cache(cache_path, cache))
    distributed.barrier(ctx)
    return cache if cache is not None else ImageCache.load(cache_path)


def split_val(args, cache: ImageCache, with_val: bool = True) -> tuple[ImageCache, list[np.ndarray]]:
    """(training photos, validation RGB images): the --val folder, or the fixed hash split of
    the cache (``data.is_validation``), held out of training; at most ``--val-images`` of
    them, in name order. ``with_val=False`` (ranks other than 0) reads no images."""
    if not len(cache):
        raise GraycodecError("no usable colour photos to train on")
    if args.val:
        if not with_val:
            return cache, []
        paths = find_images([args.val])[: args.val_images]
        rgbs = [rgb for rgb in (read_image(p, max_pixels=None).rgb for p in paths) if rgb is not None]
        if not rgbs:
            raise GraycodecError(f"--val {args.val}: no colour images found")
        return cache, rgbs
    train, held_out = cache.split()
    if not len(held_out) or not len(train):
        raise GraycodecError(f"too few photos for a validation split ({len(cache)} photos, "
                             f"{len(held_out)} in the split): pass --val DIR")
    order = sorted(range(len(held_out)), key=lambda i: held_out.names[i])[: args.val_images]
    return train, [np.asarray(held_out.image(i)) for i in order] if with_val else []


def colour_prior(cache: ImageCache, seed: int) -> np.ndarray:
    """The smoothed a/b distribution of the training photos (a fixed random sample of pixels)."""
    rng = np.random.default_rng([seed, 12])
    picks = rng.choice(len(cache), size=min(PRIOR_PHOTOS, len(cache)), replace=False)
    samples = []
    for i in picks:
        img = cache.image(int(i))
        flat = img.reshape(-1, 3)
        samples.append(flat[rng.integers(len(flat), size=PRIOR_PIXELS)])
    ab = rgb_to_lab_torch(torch.from_numpy(np.concatenate(samples)).float().T[None, :, :, None] / 255.0)
    return colorbins.empirical_prior(ab[0, 1:, :, 0].T.numpy())


# --- one step, checkpoints ---------------------------------------------------------------
def colour_loss(out, target: torch.Tensor, hinted: torch.Tensor, class_weights: torch.Tensor,
                hint_loss_weight: float = 1.0) -> torch.Tensor:
    """The training loss of one batch (see docs/TRAINING.md, "Loss").

    Samples without hints: class-rebalanced soft cross-entropy of the bin logits against the
    a/b target pooled to the logits' resolution. Samples with hints: L1 of the residual head's
    a/b in CIELAB units (the metric is a distance, and L1 keeps colour edges sharp where MSE
    blurs them). Each part is a mean over its own samples, so neither drowns the other.
    """
    # Both heads always join the graph (a zero term for a head with no samples this batch):
    # under DistributedDataParallel every rank must produce gradients for every parameter.
    loss = (out.logits.float().sum() + out.ab.float().sum()) * 0.0
    free = ~hinted
    if free.any():
        logits = out.logits[free]
        pooled = torch.nn.functional.adaptive_avg_pool2d(target[free], logits.shape[-2:])
        soft = colorbins.soft_encode(pooled)
        loss = loss + colorbins.weighted_soft_cross_entropy(logits, soft, class_weights)
    if hinted.any():
        loss = loss + hint_loss_weight * (out.ab[hinted].float() - target[hinted]).abs().mean()
    return loss


def train_step(model, opt, lab, rng, hint_fraction, use_bf16, hint_loss_weight=1.0) -> float:
    L, hint, mask, target = make_inputs(lab, hint_fraction, rng)
    weights = distributed.unwrap(model).class_weights
    with torch.autocast(lab.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        out = model(L, hint, mask)
    loss = colour_loss(out, target, mask[:, 0, 0, 0] > 0, weights, hint_loss_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


class WeightAverage:
    """An exponential moving average of a network's weights, kept in a copy of the network.

    Small batches on a CPU make the weights of any one step noisy: validation scores of
    neighbouring checkpoints differ by more than a whole run gains. The average over the last
    ~1 / (1 - decay) steps smooths that noise out. The decay ramps up as (1 + k) / (10 + k) so
    that a fresh average is not dominated by the starting weights."""

    def __init__(self, net: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise GraycodecError(f"--ema {decay}: the decay must be between 0 and 1 (e.g. 0.999)")
        self.decay = decay
        self.net = copy.deepcopy(net).eval()
        self.net.requires_grad_(False)

    @torch.no_grad()
    def update(self, net: torch.nn.Module, step: int) -> None:
        """Blend in ``net``'s weights after optimizer step ``step`` (1-based)."""
        keep = min(self.decay, (1 + step) / (10 + step))
        for mine, theirs in zip(self.net.state_dict().values(), net.state_dict().values()):
            if mine.is_floating_point():
                mine.lerp_(theirs.detach(), 1.0 - keep)
            else:
                mine.copy_(theirs)


def save_checkpoint(path: Path, model, opt, step, best, args, average: WeightAverage | None = None):
    tmp = path.with_suffix(".tmp")
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "best": best, "args": vars(args)}
    if average is not None:
        state["ema"] = average.net.state_dict()
    torch.save(state, tmp)
    tmp.replace(path)


def resume_from(path: Path, model, opt, args, workdir: Path, device, ctx,
                average: WeightAverage | None = None) -> tuple[int, dict]:
    """Restore model, optimizer, weight average, step and best validation from a checkpoint;
    (step, best)."""
    ck = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(ck["model"])
    opt.load_state_dict(ck["optimizer"])
    if average is not None:
        # A checkpoint of a run without --ema: the average starts from its weights.
        average.net.load_state_dict(ck.get("ema", ck["model"]))
    step, best = ck["step"], ck["best"]
    if ctx.is_main:
        old = ck.get("args", {})
        diff = [f"--{k.replace('_', '-')} {old[k]} → {getattr(args, k)}" for k in RESUME_MUST_MATCH
                if k in old and old[k] != getattr(args, k)]
        if diff:
            print(f"warning: resuming with other settings than the checkpoint's ({'; '.join(diff)}): "
                  "the run will not reproduce an uninterrupted one")
        # The best weights so far live beside the checkpoint; bring them along to a new workdir.
        src = Path(path).parent / "best.pt"
        if best["step"] >= 0 and src.is_file() and src.resolve() != (workdir / "best.pt").resolve():
            shutil.copyfile(src, workdir / "best.pt")
        if best["step"] >= 0 and not (workdir / "best.pt").is_file():
            print(f"warning: best.pt of step {best['step']} is missing: keeping the best from now on")
            best = {"score": float("inf"), "step": -1}
        print(f"resumed from {path} at step {step}")
    return step, best


# --- the run -----------------------------------------------------------------------------
def validate_step(model, device, val, base, step, best, workdir: Path, log, short_side: int,
                  settings=tuple(validate.SETTINGS)) -> dict:
    """Validate (rank 0), log, keep the best weights; the updated best record."""
    res = validate.evaluate(Predictor(model, {"working_short_side": short_side}, device), val, settings)
    score = validate.selection_score(res, base)
    log.write(json.dumps({"step": step, "val": res, "baselines": base, "score": score}) + "\n")
    log.flush()
    improved = score < best["score"]
    if improved:
        best = {"score": score, "step": step, "val": res}
        tmp = workdir / "best.pt.tmp"
        torch.save(model.state_dict(), tmp)
        tmp.replace(workdir / "best.pt")
    verdict = "new best" if improved else f"best: step {best['step']}, {best['score']:.4f}"
    tqdm.write(f"\nstep {step}: validation on {len(val)} images (score {score:.4f}, lower is better; {verdict})\n"
               + validate.format_table(res, base))
    plot_log(workdir / "log.jsonl", workdir / "loss.png")
    model.train()
    return best


def init_from(net, path: Path) -> str:
    """Copy the tensors of a checkpoint (``last.ckpt``), state dict (``best.pt``) or released
    weight file (``.safetensors``, e.g. the shipped model) that fit ``net`` by name and shape —
    e.g. a BatchNorm run's weights into a GroupNorm model, whose norms keep the affine
    parameters and drop the running statistics; a one-line summary."""
    if not path.is_file():
        raise GraycodecError(f"--init {path}: no such file")
    if path.suffix == ".safetensors":
        state = load_model(path)[0].state_dict()  # the release's own checks (hash, finite weights)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    step = state.get("step") if "model" in state else None  # a checkpoint knows its step
    state = state.get("model", state)
    own = net.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise GraycodecError(f"--init {path}: no tensor fits this model")
    net.load_state_dict(fitting, strict=False)
    return f"initialised {len(fitting)} of {len(own)} tensors from {path}" + (f" (step {step})" if step else "")


def make_model(args, ctx: distributed.Dist, device: torch.device):
    """(model to train — DDP-wrapped under torchrun —, the bare network, its AdamW)."""
    torch.manual_seed(args.seed)
    net = ColorUNet(args.norm)
    if ctx.is_main:  # other ranks receive rank 0's weights when DDP starts
        load_backbone(net, args.backbone_weights)
        if args.init:
            print(init_from(net, Path(args.init)))
    # channels-last is ~25% faster for this network on CPU and GPU alike.
    net = net.to(device, memory_format=torch.channels_last)
    model = distributed.wrap(net, ctx, device)
    net = distributed.unwrap(model)
    return model, net, torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)


def crop_stream(cache, per_rank: int, size: int, seed: int, start: int, ctx: distributed.Dist, prefetch: bool):
    """(rng, crops) for steps start, start + 1, ...: each step's generator, seeded by the step
    (and rank), after it cut that step's crops; the step's hints go on drawing from it.

    With ``prefetch`` a host thread cuts step s + 1's crops while step s trains: the same
    batches, in the same order, since each step's generator depends on nothing else."""
    def cut(step):
        rng = np.random.default_rng([seed, step] if not ctx.enabled else [seed, step, ctx.rank])
        return rng, random_crops(cache, per_rank, size, rng)

    step = start
    if not prefetch:
        while True:
            yield cut(step)
            step += 1
    with ThreadPoolExecutor(1, thread_name_prefix="crops") as pool:
        pending = pool.submit(cut, step)
        while True:
            ready = pending.result()
            step += 1
            pending = pool.submit(cut, step)
            yield ready


def out_of_time(minutes: float | None, t_start: float, ctx: distributed.Dist, device: torch.device) -> bool:
    """``--minutes`` spent? Every rank must stop at the same step (they all-reduce each step),
    so with several processes the ranks agree on rank 0's clock."""
    if minutes is None:
        return False
    spent = time.time() - t_start >= 60 * minutes
    if ctx.enabled:
        return distributed.mean(float(spent) if ctx.is_main else 0.0, ctx, device) > 0
    return spent


def fit(args, ctx: distributed.Dist, device: torch.device, workdir: Path) -> dict:
    """Train as ``args`` say; returns the run's summary (model, best, cache size, timings)."""
    if args.batch_size % ctx.world:
        raise GraycodecError(f"--batch-size {args.batch_size} does not split over {ctx.world} processes")
    use_bf16 = default_bf16(device) if args.bf16 is None else args.bf16
    model, net, opt = make_model(args, ctx, device)  # first: a backbone that cannot load fails fast
    cache, val_rgbs = split_val(args, load_or_build_cache(args, workdir, ctx), with_val=ctx.is_main)
    prior = colour_prior(cache, args.seed)  # the same on every rank: same photos, same seed
    net.class_weights.copy_(torch.from_numpy(colorbins.rebalance_weights(prior)).float())
    if args.epochs is not None:
        args.steps = max(1, math.ceil(args.epochs * len(cache) / args.batch_size))
    val = base = log = None
    if ctx.is_main:
        print(f"training on {len(cache)} photos: {args.steps} steps of {args.batch_size} crops of "
              f"{args.size}² = {args.steps * args.batch_size / len(cache):.1f} epochs"
              + (f", {ctx.world} processes" if ctx.enabled else "") + f", {device}, bf16 {use_bf16}")
        val = validate.prepare_val(val_rgbs)
        base = validate.baselines(val)
        print(f"validation: {len(val)} images; baselines\n{validate.format_table(None, base)}")
        log = open(workdir / "log.jsonl", "a")

    # The average lives on rank 0 only: the ranks' weights are identical after every step.
    average = WeightAverage(net, args.ema) if args.ema and ctx.is_main else None
    step, best = 0, {"score": float("inf"), "step": -1}
    if args.resume:
        step, best = resume_from(Path(args.resume), net, opt, args, workdir, device, ctx, average)
    per_rank = args.batch_size // ctx.world
    bar = tqdm(total=args.steps, initial=step, desc="train", unit="step", disable=not ctx.is_main)
    t_start, seen = time.time(), 0
    prefetch = device.type == "cuda" if args.prefetch is None else args.prefetch
    stream = crop_stream(cache, per_rank, args.size, args.seed, step, ctx, prefetch)
    model.train()
    try:  # an interrupted run (Ctrl-C) still closes its progress bar and log
        while step < args.steps:
            rng, crops = next(stream)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
            crops = crops.to(device, non_blocking=True)
            lab = rgb_to_lab_torch(crops.float() / 255.0).contiguous(memory_format=torch.channels_last)
            loss = distributed.mean(train_step(model, opt, lab, rng, args.hint_fraction, use_bf16,
                                               args.hint_loss_weight), ctx, device)
            step += 1
            seen += args.batch_size
            ips = seen / (time.time() - t_start)
            last = step == args.steps or out_of_time(args.minutes, t_start, ctx, device)
            if not ctx.is_main:
                if last:
                    break
                continue
            if average is not None:
                average.update(net, step)
            bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{ips:.1f}")
            bar.update(1)
            log.write(json.dumps({"step": step, "loss": loss, "lr": opt.param_groups[0]["lr"],
                                  "images_per_s": ips, "time": time.time()}) + "\n")
            if step % args.val_every == 0 or last:
                scored = net if average is None else average.net  # with --ema: the average is released
                best = validate_step(scored, device, val, base, step, best, workdir, log, args.short_side,
                                     validate.settings_for(args.hint_fraction))
            if step % args.ckpt_every == 0 or last:
                save_checkpoint(workdir / "last.ckpt", net, opt, step, best, args, average)
            log.flush()
            if last:
                break
    finally:
        stream.close()  # with prefetch: waits for the one batch cut ahead, then ends the thread
        bar.close()
        if log is not None:
            log.close()
    return {"model": net, "best": best, "baselines": base, "photos": len(cache), "last_step": step,
            "seconds": time.time() - t_start, "device": str(device), "world": ctx.world}


def command_line(args: dict) -> str:
    """A ``graycodec train`` command meaning ``args`` (the options that differ from defaults)."""
    parser = build_parser()
    words = ["graycodec", "train", *args["data"]]
    for action in parser._actions:
        key = action.dest
        if not action.option_strings or key not in args or args[key] == action.default:
            continue
        if key == "steps" and args.get("epochs") is not None:
            continue  # derived from --epochs
        flag = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction):
            words.append(flag if args[key] else f"--no-{flag[2:]}")
        else:
            words += [flag, str(args[key])]
    return shlex.join(words)


def release(net, args: dict, command: str, best: dict, baselines: dict, **facts) -> Path:
    """Write ``net`` as ``<--out>-<sha8>.safetensors`` with its card; return the path."""
    card = {"working_short_side": args["short_side"],  # the network runs at the scale it learnt
            "training": {"command": command, "args": args, "best_step": best["step"], **facts},
            "validation": {"predictor": best.get("val"), "baselines": baselines}}
    out = Path(args["out"])
    return save_model(net, out.parent, out.name, card)


def finish(args, argv, run: dict, workdir: Path) -> Path:
    """Write the best weights as the release file with its card (rank 0)."""
    net = run["model"]
    net.load_state_dict(torch.load(workdir / "best.pt", map_location=next(net.parameters()).device,
                                   weights_only=True))
    return release(net, vars(args), "graycodec train " + shlex.join(argv), run["best"], run["baselines"],
                   images=run["photos"], processes=run["world"], device=run["device"], last_step=run["last_step"],
                   seconds_this_session=round(run["seconds"], 1))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    workdir = Path(args.workdir or Path("runs") / out.name)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx, device = distributed.init(resolve_device(args.device))
    try:
        run = fit(args, ctx, device, workdir)
        if ctx.is_main:
            path = finish(args, argv, run, workdir)
            print(f"saved {path} (best validation at step {run['best']['step']}); curves in {workdir / 'loss.png'}")
    finally:
        distributed.cleanup(ctx)
    return 0
