"""Release the best weights of a run that has not finished (or whose end was lost).

    python -m graycodec.training.export runs/NAME [--out models/NAME]

A run writes ``models/NAME-<sha8>.safetensors`` only at its end; until then its workdir
holds ``best.pt`` (the best validation so far) and ``last.ckpt`` (its arguments). This
writes the same kind of release file from them, the card saying at which step the run
stood and which validation the weights won. The training itself is left alone: it may
still be running, or continue later with ``--resume``.
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
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    workdir = Path(args.workdir)
    missing = [n for n in ("last.ckpt", "best.pt", "log.jsonl") if not (workdir / n).is_file()]
    if missing:
        raise GraycodecError(f"{workdir}: no {', '.join(missing)} (has it validated and checkpointed yet?)")
    ck = torch.load(workdir / "last.ckpt", map_location="cpu", weights_only=True)
    # best.pt may be newer than the checkpoint's record: the log says which validation it won.
    val = read_log(workdir / "log.jsonl")[1]
    step = min(val, key=lambda s: val[s]["score"])
    best = {"score": val[step]["score"], "step": step, "val": val[step]["val"]}
    net = ColorUNet(ck["args"].get("norm", "batch"))  # runs before --norm were BatchNorm
    net.load_state_dict(torch.load(workdir / "best.pt", map_location="cpu", weights_only=True))
    run_args = dict(ck["args"], **({"out": args.out} if args.out else {}))
    last_step = max(s for s in read_log(workdir / "log.jsonl")[0])
    path = release(net, run_args, command_line(ck["args"]), best, val[step]["baselines"],
                   exported_at_step=last_step, of_steps=run_args["steps"])
    print(f"wrote {path}: best validation at step {step} of a run at step {last_step}/{run_args['steps']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
