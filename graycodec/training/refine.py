"""``graycodec train-refiner``: fit the full-resolution hint refiner (``graycodec/refiner.py``).

::

    cache (.npy, photos at their own size) ──crops, shrunk 1–2×──▶ Lab ──thumbnail at a
    random cell size──▶ L-guided hint plane ──▶ HintRefiner ──ΔE94 (or L1) against the crop's a/b──▶ AdamW
        step 0 (with --init) and every N steps: both losses on fixed validation crops (the cache's
        hash split, their own seed) ──▶ best.pt, log.jsonl
        end: the base model (the shipped one by default) + the best refiner ──▶ NAME-<sha8>.safetensors

The U-Net is not touched: the new weight file holds the base model's tensors unchanged plus
``refiner.*``, so colour without hints is exactly the base model's. The refiner is small
(43k weights) and learns fast, but it runs at full resolution, so crops are the cache's own
pixels (the decoder refines at the image's own scale), shrunk by at most ``--max-downscale``:
photos at their own size hold JPEG's half-resolution colour, shrunk ones colour on the pixel
grid, and a user's photos come both ways (docs/TRAINING.md, "The second refiner").

Reproducible: the batch of step k comes from a generator seeded with (seed, k), and
``--resume`` restores weights, optimizer, step and best score.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import GraycodecError
from ..model import load_model, read_card, save_model
from ..refiner import CHANNELS, HintRefiner, load_refiner, refiner_inputs, widen_state
from ..zoo import find_default_model
from .batches import random_crops, rgb_to_lab_torch, stored_thumbnail
from .data import ImageCache
from .engine import WeightAverage, lr_at

# Hint cells in pixels of the refine resolution, drawn log-uniformly: the named levels give
# 8/16/32-pixel cells on photos up to REFINE_SHORT_SIDE, and smaller cells on larger photos.
CELL_RANGE = (4.0, 40.0)
LOSSES = ("l1", "de94")
VAL_BATCHES = 4  # fixed validation batches (of --batch-size crops) scored every --val-every steps
# The validation crops' own seed, not --seed: runs with other seeds (and the same --crop,
# --batch-size and --max-downscale) are scored on the same crops, so their logs compare.
VAL_SEED = 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graycodec train-refiner",
                                description="Train the full-resolution hint refiner on top of a trained model.")
    p.add_argument("data", help="a .npy cache from `graycodec prepare`; the shipped refiner learned on photos at "
                                "their own size (`prepare --short-side 512`) with the default --max-downscale 2")
    p.add_argument("--out", required=True, help="models/NAME: weight file written as NAME-<sha8>.safetensors")
    p.add_argument("--model", help="base model whose U-Net the new file keeps (default: the shipped model)")
    p.add_argument("--workdir", help="checkpoints and log (default: runs/NAME)")
    p.add_argument("--steps", type=int, default=3000,
                   help="optimizer steps; 0 puts the --init refiner as it is on --model (default 3000)")
    p.add_argument("--minutes", type=float, help="stop after this many minutes even before --steps")
    p.add_argument("--batch-size", type=int, default=16, help="crops per step (default 16)")
    p.add_argument("--crop", type=int, default=96, help="crop side in pixels (default 96)")
    p.add_argument("--max-downscale", type=float, default=2.0,
                   help="shrink each crop by a random factor 1..F first (default 2; 1 keeps the cache's own "
                        "pixels). On photos at their own size, 2 mixes their colour (JPEG's, stored at half "
                        "resolution) with colour back on the pixel grid")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--val-every", type=int, default=100, help="validate every N steps (default 100)")
    p.add_argument("--init", help="start from these refiner weights (a best.pt or last.ckpt of this command, "
                                  "or a released .safetensors that has a refiner)")
    p.add_argument("--resume", help="continue from a last.ckpt of this command")
    p.add_argument("--loss", choices=LOSSES, default="de94",
                   help="de94: mean ΔE94 against the crop (the measure hinted decoding is scored by); l1: mean "
                        "|a/b error|. Also the validation measure that picks best.pt (default de94)")
    p.add_argument("--context", type=int, default=0, metavar="CHANNELS",
                   help="give the refiner a context branch of this many channels at 1/4 size (0: none, the "
                        "first two refiners; an --init refiner without one gains it, starting at zero)")
    p.add_argument("--width", type=int, metavar="CHANNELS",
                   help=f"channels of the full-size stack (default: the --init or --resume refiner's, else {CHANNELS}); "
                        "an --init refiner that is narrower is widened so that it starts computing exactly what it did")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="validate and keep an exponential moving average of the weights (e.g. 0.998) instead of "
                        "each step's own (default 0: off)")
    p.add_argument("--seed", type=int, default=0, help="random seed (crops, hint cells, batch order)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    return p


def init_state(path: Path) -> dict:
    """Refiner weights to start from: a ``best.pt`` / ``last.ckpt`` of this command, or a released
    weight file that has a refiner (its ``refiner.*`` tensors: the refiner does not depend on the
    U-Net, so the shipped one can go on top of a newly trained U-Net)."""
    if not path.is_file():
        raise GraycodecError(f"--init {path}: no such file")
    if path.suffix == ".safetensors":
        refiner = load_model(path)[0].refiner  # the release's own checks (hash, finite weights)
        if refiner is None:
            raise GraycodecError(f"--init {path}: this weight file has no refiner")
        return refiner.state_dict()
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state.get("refiner", state)


def load_init(refiner: HintRefiner, state: dict, name: str) -> None:
    """Load ``state`` into ``refiner``; a context branch the state lacks keeps its zero start, and
    a narrower state is widened so that the refiner starts computing exactly what it did."""
    stack_input = state.get("inp.weight")
    if stack_input is not None and stack_input.shape[0] < refiner.inp.out_channels:
        state = widen_state(state, refiner)
    try:
        missing, unexpected = refiner.load_state_dict(state, strict=False)
    except RuntimeError:  # a size mismatch: a wider state, or another context width
        missing, unexpected = [], ["(shapes)"]
    if unexpected or any(not k.startswith("context.") for k in missing):
        raise GraycodecError(f"--init {name}: its refiner does not fit this one's shape "
                             f"(--width {refiner.inp.out_channels}, --context {refiner.context.inp.out_channels if refiner.context else 0})")


def make_batch(cache: ImageCache, n: int, crop: int, rng: np.random.Generator, max_downscale: float = 1.0):
    """(L*, guided hint plane, bilinear thumbnail, target a/b) for ``n`` crops at random cells,
    each shrunk by a random factor 1..``max_downscale`` first."""
    crops = random_crops(cache, n, crop, rng, scale_range=(1.0 / max_downscale, 1.0))
    lab = rgb_to_lab_torch(crops.float() / 255)
    lstar, ab = lab[:, :1], lab[:, 1:]
    guided, bilinear = torch.empty_like(ab), torch.empty_like(ab)
    for k in range(n):
        cell = math.exp(rng.uniform(*np.log(CELL_RANGE)))
        thumb_hw = (max(1, round(crop / cell)), max(1, round(crop / cell)))
        guided[k:k + 1], bilinear[k:k + 1] = refiner_inputs(lstar[k:k + 1], stored_thumbnail(ab[k:k + 1], thumb_hw))
    return lstar, guided, bilinear, ab


def delta_e94_ab(pred: torch.Tensor, ref: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-pixel ΔE94 (N, h, w) of a/b ``pred`` against ``ref`` (N, 2, h, w) at equal L*.

    skimage's ``deltaE_ciede94`` with its defaults and the original as reference: chroma and
    hue differences are divided by 1 + 0.045·C and 1 + 0.015·C of the reference, so an error
    in a near-gray area counts up to several times more than the same error in a saturated one.
    ``eps`` keeps the gradient finite where the error is zero.
    """
    c_ref = ref.square().sum(1).sqrt()
    dc = c_ref - pred.square().sum(1).add(eps).sqrt()
    dab2 = (ref - pred).square().sum(1)
    dh2 = (dab2 - dc * dc).clamp(min=0)
    return (dc.square() / (1 + 0.045 * c_ref).square() + dh2 / (1 + 0.015 * c_ref).square() + eps).sqrt()


def loss_of(kind: str, pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The mean training / validation loss ``kind`` (one of LOSSES)."""
    return (pred - ref).abs().mean() if kind == "l1" else delta_e94_ab(pred, ref).mean()


@torch.no_grad()
def validation_scores(refiner: HintRefiner, batches) -> dict:
    """Mean of each loss of LOSSES, for the refiner (``val_KIND``) and for its input, the guided
    plane (``val_KIND_input``), on fixed batches."""
    refiner.eval()
    outs = [(refiner(L, g, up), g, ab) for L, g, up, ab in batches]
    refiner.train()
    scores = {}
    for kind in LOSSES:
        scores[f"val_{kind}"] = float(np.mean([loss_of(kind, o, ab).item() for o, g, ab in outs]))
        scores[f"val_{kind}_input"] = float(np.mean([loss_of(kind, g, ab).item() for o, g, ab in outs]))
    return scores


def _save(path: Path, payload) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def validate_and_keep(refiner: HintRefiner, val_batches, step: int, best: dict, workdir: Path, record: dict,
                      loss: str = "de94") -> dict:
    """Score the refiner on the validation crops into ``record``; keep its weights as best.pt
    when its ``loss`` beats ``best``'s; the updated best record."""
    record.update(validation_scores(refiner, val_batches))
    if record[f"val_{loss}"] < best.get(f"val_{loss}", float("inf")):
        best = {**{k: v for k, v in record.items() if k.startswith("val_")}, "step": step}
        _save(workdir / "best.pt", refiner.state_dict())
    return best


def _scores_line(record: dict) -> str:
    return ", ".join(f"{k} {record[f'val_{k}']:.4f} (input {record[f'val_{k}_input']:.4f})" for k in LOSSES)


def resolve_shape(args, state: dict | None) -> None:
    """Fill ``--width`` left unset from the refiner being continued (``--resume``) or started from
    (``--init``), so that a released refiner goes on at its own width without restating it (a
    narrower width is refused by ``load_init``); without either, CHANNELS. (``--context`` stays
    explicit: a plain --init refiner gains a branch only when asked.)"""
    if args.width is None:
        args.width = state["inp.weight"].shape[0] if state and "inp.weight" in state else CHANNELS


def fit(args, workdir: Path) -> dict:
    cache = ImageCache.load(Path(args.data))
    train, val = cache.split()
    if len(train) == 0 or len(val) == 0:
        raise GraycodecError(f"{args.data}: the cache needs photos on both sides of the validation split")
    vrng = np.random.default_rng([VAL_SEED, 10**9])
    val_batches = [make_batch(val, args.batch_size, args.crop, vrng, args.max_downscale) for _ in range(VAL_BATCHES)]
    torch.manual_seed(args.seed)
    init = init_state(Path(args.init)) if args.init else None
    resume = torch.load(args.resume, map_location="cpu", weights_only=True) if args.resume else None
    resolve_shape(args, resume["refiner"] if resume else init)
    refiner = HintRefiner(channels=args.width, context_channels=args.context)
    opt = torch.optim.AdamW(refiner.parameters(), lr=args.lr, weight_decay=1e-4)
    step, best = 0, {"step": -1}
    if init is not None:
        load_init(refiner, init, args.init)
    average = WeightAverage(refiner, args.ema) if args.ema else None
    if resume is not None:
        refiner.load_state_dict(resume["refiner"])
        opt.load_state_dict(resume["optimizer"])
        if average is not None:
            average.net.load_state_dict(resume.get("ema", resume["refiner"]))
        step, best = resume["step"], resume["best"]
        print(f"resumed from {args.resume} at step {step}")
    scored = refiner if average is None else average.net  # what is validated and kept as best.pt
    log = open(workdir / "log.jsonl", "a")
    start, first = time.time(), step
    if step == 0 and args.init:  # (--steps 0 always has one: main refuses it without)
        # The starting point's score, logged as step 0: what every later step must beat, and
        # what best.pt holds if none does (so a run never releases worse than its --init).
        record = {"step": 0}
        best = validate_and_keep(scored, val_batches, 0, best, workdir, record, args.loss)
        print(f"step 0 (--init as it is): validation {_scores_line(record)}", flush=True)
        log.write(json.dumps(record) + "\n")
    while step < args.steps and (args.minutes is None or time.time() - start < 60 * args.minutes):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        L, g, up, ab = make_batch(train, args.batch_size, args.crop, np.random.default_rng([args.seed, step]),
                                  args.max_downscale)
        loss = loss_of(args.loss, refiner(L, g, up), ab)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if average is not None:
            average.update(refiner, step)
        record = {"step": step, "loss": loss.item(),
                  "images_per_s": (step - first) * args.batch_size / (time.time() - start)}
        if step % args.val_every == 0 or step == args.steps:
            best = validate_and_keep(scored, val_batches, step, best, workdir, record, args.loss)
            _save(workdir / "last.ckpt", {"refiner": refiner.state_dict(), "optimizer": opt.state_dict(),
                                          "step": step, "best": best, "args": vars(args),
                                          **({"ema": average.net.state_dict()} if average else {})})
            print(f"step {step}: validation {_scores_line(record)}; best step {best['step']}, "
                  f"{record['images_per_s']:.1f} crops/s", flush=True)
        log.write(json.dumps(record) + "\n")
        if "val_l1" in record:
            log.flush()
    log.close()
    seconds = time.time() - start
    return {"best": best, "steps_this_session": step - first, "seconds_this_session": round(seconds, 1),
            "crops_per_s": round((step - first) * args.batch_size / max(seconds, 1e-9), 1),
            "photos": {"train": len(train), "validation": len(val)}, "step": step}


def release(args, argv, run: dict, workdir: Path) -> Path:
    """The base model plus the best refiner, with the base card and a ``refiner_training`` record."""
    base_path = Path(args.model) if args.model else find_default_model()
    if base_path is None:
        raise GraycodecError("no base model: pass --model PATH (models/ holds no weight file)")
    if not (workdir / "best.pt").is_file():
        raise GraycodecError(f"{workdir}: no validated refiner yet (best.pt); train at least --val-every steps")
    net, card = load_model(base_path)
    net.refiner = load_refiner(torch.load(workdir / "best.pt", map_location="cpu", weights_only=True))
    card = {k: v for k, v in card.items() if k not in ("model_id", "sha256", "file")}
    card["refiner_training"] = {
        "command": "graycodec train-refiner " + shlex.join(argv), "base_model": base_path.name, "init": args.init,
        "data": str(args.data), "cell_range_px": list(CELL_RANGE), "crop": args.crop,
        "max_downscale": args.max_downscale,
        "batch_size": args.batch_size, "loss": args.loss, "channels": args.width, "context_channels": args.context,
        "steps": run["step"], "best_step": run["best"]["step"],
        **{f"validation_{k}{s}": run["best"].get(f"val_{k}{s}") for k in LOSSES for s in ("", "_input")},
        "photos": run["photos"], "crops_per_s": run["crops_per_s"],
        "seconds_this_session": run["seconds_this_session"], "device": "cpu", "threads": torch.get_num_threads()}
    if args.init and Path(args.init).suffix == ".safetensors":
        # How the refiner it started from was trained (for --steps 0, how this one was).
        earlier = read_card(Path(args.init).with_suffix(".json")).get("refiner_training")
        if earlier:
            card["refiner_training"]["init_training"] = earlier
    out = Path(args.out)
    return save_model(net, out.parent, out.name, card)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if not args.data.endswith(".npy") or not Path(args.data).is_file():
        raise GraycodecError(f"{args.data}: not a .npy cache (make one with `graycodec prepare`)")
    if args.steps < 0 or args.batch_size < 1 or args.crop < 8 or args.val_every < 1 or not 1 <= args.max_downscale <= 8:
        raise GraycodecError("--batch-size and --val-every must be ≥ 1, --steps ≥ 0, --crop ≥ 8, "
                             "--max-downscale 1..8")
    if args.width is not None and not 1 <= args.width <= 256:
        raise GraycodecError("--width must be 1..256 channels")
    if args.steps == 0 and not args.init:
        raise GraycodecError("--steps 0 attaches the --init refiner as it is: pass --init")
    if args.threads:
        torch.set_num_threads(args.threads)
    workdir = Path(args.workdir or Path("runs") / Path(args.out).name)
    workdir.mkdir(parents=True, exist_ok=True)
    run = fit(args, workdir)
    path = release(args, argv, run, workdir)
    print(f"saved {path} (best validation at step {run['best']['step']})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GraycodecError as exc:
        from ..cli import report_error

        sys.exit(report_error(None, exc))
