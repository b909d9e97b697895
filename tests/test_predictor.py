"""Inference: working size, any image size, hints, device choice, model discovery."""
import numpy as np
import pytest
import torch

from graycodec import hints, predictor, zoo
from graycodec.errors import DeviceError, ModelError
from graycodec.model import ColorUNet, save_model
from graycodec.predictor import Predictor, working_size

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def untrained():
    return Predictor(ColorUNet(), {"model_id": "0" * 16}, torch.device("cpu"))


@pytest.mark.parametrize("h,w,expect", [
    (512, 768, (256, 384)),  # Kodak: short side to 256
    (100, 50, (100, 50)),  # small images run at their own size
    (1, 1, (1, 1)),
    (20000, 30000, (256, 384)),
    (10, 100000, (1, 1024)),  # panoramas: long side capped
])
def test_working_size(h, w, expect):
    assert working_size(h, w) == expect


def test_working_size_follows_the_model_card():
    """A model trained at short side 128 runs at 128 (long side capped at 4× that)."""
    assert working_size(512, 768, 128) == (128, 192)
    assert working_size(10, 100000, 128) == (1, 512)
    net = ColorUNet()
    seen = []
    real_forward = net.forward
    net.forward = lambda l, h, m: seen.append(tuple(l.shape[-2:])) or real_forward(l, h, m)
    Predictor(net, {"working_short_side": 128}, torch.device("cpu")).predict_ab(np.full((256, 384), 50, np.float32))
    Predictor(net, {}, torch.device("cpu")).predict_ab(np.full((512, 768), 50, np.float32))
    assert seen == [(128, 192), (256, 384)]  # cards without the key: the first models' 256


@pytest.mark.parametrize("value", [0, 8, "256", 2.5, True, 100000])
def test_a_bad_working_size_in_the_card_is_a_model_error(value):
    with pytest.raises(ModelError, match="working_short_side"):
        Predictor(ColorUNet(), {"working_short_side": value}, torch.device("cpu"))


@pytest.mark.parametrize("h,w", [(1, 1), (1, 300), (300, 1), (37, 53), (600, 900)])
def test_any_size_works_without_hints(untrained, h, w):
    lstar = np.random.default_rng(0).uniform(0, 100, (h, w)).astype(np.float32)
    ab = untrained.predict_ab(lstar)
    assert ab.shape == (h, w, 2) and ab.dtype == np.float32
    assert np.isfinite(ab).all() and np.abs(ab).max() <= 110  # a mean of bin centres


def test_vividness_changes_the_colour_but_not_its_hue_family(untrained):
    """0 and 1 read the same distribution differently: different a/b from the same L*."""
    lstar = np.random.default_rng(3).uniform(20, 80, (48, 64)).astype(np.float32)
    with torch.no_grad():
        untrained.model.class_weights.copy_(torch.linspace(0.5, 3.0, len(untrained.model.class_weights)))
    try:
        fidelity, vivid = untrained.predict_ab(lstar, None, 0.0), untrained.predict_ab(lstar, None, 1.0)
        again = untrained.predict_ab(lstar, None, 0.0)
    finally:
        with torch.no_grad():
            untrained.model.class_weights.fill_(1.0)
    assert np.abs(fidelity - vivid).mean() > 1.0
    np.testing.assert_array_equal(fidelity, again)


def test_hints_steer_the_colour(untrained):
    rng = np.random.default_rng(1)
    ab_true = np.zeros((64, 96, 2))
    ab_true[:, :48] = (40, 20)
    ab_true[:, 48:] = (-30, -30)
    thumb = hints.make_hints(ab_true, "high")
    ab = untrained.predict_ab(rng.uniform(40, 60, (64, 96)).astype(np.float32), thumb)
    assert np.abs(ab[:, :40] - (40, 20)).mean() < 3 and np.abs(ab[:, 56:] - (-30, -30)).mean() < 3


def test_large_image_is_downscaled_not_tiled(untrained, monkeypatch):
    seen = []
    real = untrained.predict_working
    monkeypatch.setattr(untrained, "predict_working",
                        lambda l, h, m, v=0.0: seen.append(l.shape) or real(l, h, m, v))
    ab = untrained.predict_ab(np.full((3000, 4000), 50, np.float32))
    assert ab.shape == (3000, 4000, 2) and seen == [(1, 1, 256, 341)]


def test_out_of_memory_falls_back_to_cpu_with_a_warning(untrained, monkeypatch):
    calls = []
    real = untrained._forward

    def flaky(l, h, m, v, device):
        calls.append(device)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return real(l, h, m, v, device)

    monkeypatch.setattr(untrained, "_forward", flaky)
    with pytest.warns(UserWarning, match="out of memory"):
        ab = untrained.predict_ab(np.full((40, 40), 50, np.float32))
    assert ab.shape == (40, 40, 2) and calls[-1] == torch.device("cpu")


def test_device_choice():
    assert predictor.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert predictor.resolve_device("auto") == torch.device("cpu")
        with pytest.raises(DeviceError, match="no CUDA"):
            predictor.resolve_device("cuda")
    with pytest.raises(ModelError, match="unknown device"):
        predictor.resolve_device("tpu")


def test_model_discovery(tmp_path, monkeypatch):
    monkeypatch.delenv(zoo.MODEL_ENV, raising=False)
    monkeypatch.setattr(zoo, "MODEL_DIRS", (tmp_path,))
    assert predictor.find_default_model() is None and predictor.find_default_model_id() == ""
    with pytest.raises(ModelError, match="no trained model"):
        Predictor.load()
    path = save_model(ColorUNet(), tmp_path, "m", {})
    assert predictor.find_default_model() == path
    loaded = Predictor.load(device="cpu")
    assert loaded.model_id == predictor.find_default_model_id() and len(loaded.model_id) == 16
    monkeypatch.setenv(zoo.MODEL_ENV, str(tmp_path / "elsewhere.safetensors"))
    with pytest.raises(ModelError, match="not found"):
        Predictor.load()


def test_readout_ends_come_from_the_card_and_bad_ones_are_refused():
    from graycodec.colorbins import FIDELITY_END, VIVID_END

    assert predictor.readout_ends({}) == (FIDELITY_END, VIVID_END)
    card = {"readout": {"fidelity": [0.5, 0.8], "vivid": [0.0, 0.3]}}
    assert predictor.readout_ends(card) == ((0.5, 0.8, 1.0, 0.0), (0.0, 0.3, 1.0, 0.0))  # cards before the gain
    card = {"readout": {"fidelity": [0.5, 0.8, 1.5], "vivid": [0.0, 0.3, 2.5]}}
    assert predictor.readout_ends(card) == ((0.5, 0.8, 1.5, 0.0), (0.0, 0.3, 2.5, 0.0))  # before the exponent
    card = {"readout": {"fidelity": [0.5, 0.8, 1.5, 0.5], "vivid": [0.0, 0.3, 2.5, 1.5]}}
    assert predictor.readout_ends(card) == ((0.5, 0.8, 1.5, 0.5), (0.0, 0.3, 2.5, 1.5))
    for bad in ({"fidelity": "x"}, {"vivid": [2.0, 0.5]}, {"fidelity": [0.5, 0.0]}, "junk",
                {"vivid": [0.5, 0.5, 0.0]}, {"vivid": [0.5, 0.5, 9.0]}, {"fidelity": [0.5, 0.5, 1.0, -1.0]},
                {"fidelity": [0.5, 0.5, 1.0, 9.0]}, {"fidelity": [0.5, 0.5, 1.0, 1.0, 1.0]}):
        with pytest.raises(ModelError, match="readout"):
            predictor.readout_ends({"readout": bad})
    # The card's ends reach the read-out: vividness 0 with a vivid-looking end differs from the default.
    net = ColorUNet()
    lstar = np.random.default_rng(5).uniform(20, 80, (32, 32)).astype(np.float32)
    plain = Predictor(net, {}, torch.device("cpu")).predict_ab(lstar)
    tuned = Predictor(net, {"readout": {"fidelity": [0.0, 0.2]}}, torch.device("cpu")).predict_ab(lstar)
    assert np.abs(plain - tuned).mean() > 0.1


def test_the_shipped_vividness_scale_is_more_saturated_on_every_pixel_in_the_same_hue():
    """The shipped ends read one distribution and differ only in gain (benchmarks/tune_readout.py),
    so from vividness 0 to 1 every pixel's chroma grows and its hue stays, whatever the logits."""
    import json

    from graycodec.colorbins import NUM_BINS, readout

    card = json.loads(zoo.find_default_model().with_suffix(".json").read_text())
    fidelity, vivid = predictor.readout_ends(card)
    assert fidelity[:2] + fidelity[3:] == vivid[:2] + vivid[3:] and vivid[2] > fidelity[2]
    logits = 3 * torch.randn(1, NUM_BINS, 16, 16, generator=torch.Generator().manual_seed(3))
    weights = torch.rand(NUM_BINS, generator=torch.Generator().manual_seed(4)) + 0.5
    abs_ = [readout(logits, v, weights, fidelity, vivid)[0] for v in (0.0, 0.5, 1.0)]
    chroma = [ab.norm(dim=0) for ab in abs_]
    assert bool((chroma[1] > chroma[0]).all() and (chroma[2] > chroma[1]).all())
    cosine = (abs_[0] * abs_[2]).sum(0) / (chroma[0] * chroma[2])
    assert float(cosine.min()) > 0.9999
