"""Release the best weights of a run that has not finished (or whose end was lost).

    python -m graycodec.training.export runs/NAME [--out models/NAME] [--weights best|last]

A run writes ``models/NAME-<sha8>.safetensors`` only at its end; until then its workdir
holds ``best.pt`` (the best validation so far) and ``last.ckpt`` (its arguments). This
writes the same kind of release file from them, the card saying at which step the run
stood and which validation the weights won. The training itself is left alone: it may
still be running, or continue later with ``--resume``.

``--weights last`` releases the checkpoint's weights instead (the last checkpointed step,
with the validation of that step when the log has one; for a run with ``--ema``, the
weight average, which is what it validates): the selection score that picks
``best.pt`` is one number, and a later step may be better by the measures one chooses on
(``benchmarks/eval_colour.py`` on the validation split) — export both and compare there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..errors import GraycodecError
from ..model import ColorUNet
from .engine import command_line, release
from .plots import read_log


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m graycodec.training.export", description=__doc__.split("\n")[1])
    p.add_argument("workdir", help="the run's workdir (runs/NAME)")
    p.add_argument("--out", help="models/NAME for the release file (default: the run's --out)")
    p.add_argument("--weights", choices=("best", "last"), default="best",
                   help="best.pt (best validation so far, the default) or the last checkpoint's weights")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    workdir = Path(args.workdir)
    missing = [n for n in ("last.ckpt", "best.pt", "log.jsonl") if not (workdir / n).is_file()]
    if missing:
        raise GraycodecError(f"{workdir}: no {', '.join(missing)} (has it validated and checkpointed yet?)")
    ck = torch.load(workdir / "last.ckpt", map_location="cpu", weights_only=True)
    train, val = read_log(workdir / "log.jsonl")
    net = ColorUNet(ck["args"].get("norm", "batch"))  # runs before --norm were BatchNorm
    if args.weights == "best":
        # best.pt may be newer than the checkpoint's record: the log says which validation it won.
        step = min(val, key=lambda s: val[s]["score"])
        net.load_state_dict(torch.load(workdir / "best.pt", map_location="cpu", weights_only=True))
    else:
        step = ck["step"]
        net.load_state_dict(ck.get("ema", ck["model"]))  # a run with --ema validates and releases its average
    record = val.get(step, {})
    chosen = {"score": record.get("score"), "step": step, "val": record.get("val")}
    baselines = record.get("baselines") or next(iter(val.values()), {}).get("baselines")
    run_args = dict(ck["args"], **({"out": args.out} if args.out else {}))
    last_step = max(train)
    path = release(net, run_args, command_line(ck["args"]), chosen, baselines,
                   exported_at_step=last_step, of_steps=run_args["steps"], weights=args.weights)
    what = "best validation" if args.weights == "best" else "last checkpoint"
    print(f"wrote {path}: {what} at step {step} of a run at step {last_step}/{run_args['steps']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
