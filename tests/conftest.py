"""Shared fixtures: a fake colour predictor, a CLI runner, small images, ../shared/data.

Every test module of the project loads this file: it imports only light modules at the top.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from graycodec import hints as hints_mod

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
KODAK = SHARED_DATA / "kodak"


def pytest_collection_modifyitems(config, items):
    """Tests marked ``shared`` skip cleanly where ../shared/data is absent."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason="../shared/data is not present")
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


class FakePredictor:
    """Stands in for ``predictor.Predictor``: constant a/b, or the upsampled hint thumbnail.

    ``ab=(0, 0)`` makes decoded colour images neutral gray, so their pixels equal the stored
    plane exactly: a check of the whole colour path without a trained model.
    """

    def __init__(self, model_id: str = "fa4efa4efa4efa4e", ab=(20.0, -10.0)):
        self.model_id = model_id
        self.ab = np.asarray(ab, dtype=np.float32)
        self.calls: list[tuple[tuple[int, int], object]] = []

    def predict_ab(self, lstar: np.ndarray, hints=None, vividness: float = 0.0) -> np.ndarray:
        assert lstar.dtype == np.float32 and lstar.ndim == 2
        self.calls.append((lstar.shape, hints))
        self.vividness = vividness
        if hints is not None:
            return hints_mod.upsample_bilinear(hints.ab.astype(np.float32), *lstar.shape)
        return np.broadcast_to(self.ab, lstar.shape + (2,)).copy()


@pytest.fixture
def fake_predictor(monkeypatch):
    """Make ``codec.load_predictor`` return one FakePredictor; ``.loads`` counts the loads."""
    from graycodec import codec

    fake = FakePredictor()
    fake.loads = 0

    def load(model=None, device="auto"):
        fake.loads += 1
        return fake

    monkeypatch.setattr(codec, "load_predictor", load)
    return fake


@pytest.fixture
def gray_predictor(monkeypatch):
    """A FakePredictor returning a/b = 0 (neutral gray output)."""
    from graycodec import codec

    fake = FakePredictor(ab=(0.0, 0.0))
    monkeypatch.setattr(codec, "load_predictor", lambda model=None, device="auto": fake)
    return fake


@pytest.fixture
def cli_run():
    """Run the click group in-process: ``cli_run("encode", path, "-o", out, input=b"...")``."""
    from graycodec.cli import cli

    def run(*args, input=None, env=None):
        runner = CliRunner(env=env)
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


def load_benchmark(name: str, monkeypatch):
    """benchmarks/<name>.py as a module, with benchmarks/ on sys.path as when it is run."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cut_short(monkeypatch, module, name: str, at_call: int, run) -> None:
    """Run ``run()`` with ``module.name`` raising KeyboardInterrupt at its ``at_call``-th call
    (a training run stopped by Ctrl-C partway), then put the real function back."""
    real, calls = getattr(module, name), []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == at_call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, dying)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(module, name, real)


def random_rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def rgb_png(tmp_path) -> Path:
    """A 24×32 colour PNG."""
    path = tmp_path / "colour.png"
    Image.fromarray(random_rgb(24, 32)).save(path)
    return path


@pytest.fixture
def gray_png(tmp_path) -> Path:
    """A 20×28 8-bit grayscale PNG."""
    path = tmp_path / "gray.png"
    Image.fromarray(random_rgb(20, 28, seed=1)[..., 0]).save(path)
    return path
