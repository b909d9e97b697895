"""``graycodec train`` under ``torchrun --nproc_per_node=2`` on the CPU (gloo): the ranks stay
in step, and only rank 0 validates, logs and saves."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from test_training import colour_photo

# Runs in each rank: the real entry point, plus a checksum of the rank's parameters.
RANK_SCRIPT = """
import hashlib, os, sys
from pathlib import Path
import torch
from graycodec.training import engine

real_fit = engine.fit

def fit(*args, **kwargs):
    run = real_fit(*args, **kwargs)
    h = hashlib.sha256()
    for name, p in run["model"].named_parameters():
        h.update(name.encode() + p.detach().cpu().numpy().tobytes())
    Path(os.environ["CHECKSUM_DIR"], f"params-rank{os.environ['RANK']}.sha256").write_text(h.hexdigest())
    return run

engine.fit = fit
sys.exit(engine.main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_two_cpu_processes_train_in_step(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "val").mkdir()
    for i in range(6):
        Image.fromarray(colour_photo(48, 64, i)).save(tmp_path / "data" / f"p{i}.png")
    Image.fromarray(colour_photo(40, 48, 99)).save(tmp_path / "val" / "v.png")
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    workdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(tmp_path / "data"), "--val", str(tmp_path / "val"), "--out", str(tmp_path / "models" / "ddp"),
           "--workdir", str(workdir), "--steps", "3", "--batch-size", "4", "--size", "32",
           "--val-every", "3", "--ckpt-every", "3", "--warmup", "1", "--lr", "1e-3", "--threads", "1",
           "--device", "cpu"]  # CPU processes (gloo) also where a GPU is present
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHECKSUM_DIR": str(tmp_path)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    sums = [(tmp_path / f"params-rank{r}.sha256").read_text() for r in (0, 1)]
    assert sums[0] == sums[1]  # the gradients were averaged: both ranks hold the same weights
    records = [json.loads(line) for line in (workdir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3]  # one writer: rank 0
    assert [r["step"] for r in records if "val" in r] == [3]
    assert np.isfinite([r["loss"] for r in records if "loss" in r]).all()
    assert len(list((tmp_path / "models").glob("ddp-*.safetensors"))) == 1
    assert "2 processes" in proc.stdout


def test_more_processes_than_gpus_is_a_clear_error(monkeypatch):
    """Under torchrun, a process whose LOCAL_RANK has no GPU stops with one line, before CUDA is
    touched (torch would fail with 'invalid device ordinal' in set_device)."""
    import torch

    from graycodec.errors import GraycodecError
    from graycodec.training import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: pytest.fail("set_device was called"))
    with pytest.raises(GraycodecError, match="--nproc_per_node=1 or less, or --device cpu"):
        distributed.init(torch.device("cuda"))


def test_module_entry_point_reports_errors_in_one_line(tmp_path):
    """`python -m graycodec.training.train` (how torchrun starts it) ends a bad run as the CLI does:
    one line, the error's exit code, no traceback."""
    from graycodec.errors import GraycodecError

    (tmp_path / "empty").mkdir()
    cmd = [sys.executable, "-m", "graycodec.training.train", str(tmp_path / "empty"),
           "--out", str(tmp_path / "models" / "x"), "--workdir", str(tmp_path / "run")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == GraycodecError.exit_code
    assert "graycodec: error: no usable colour photos to train on" in proc.stderr
    assert "Traceback" not in proc.stderr
