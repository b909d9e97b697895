"""benchmarks/hint_diagnostics.py: the image variants and the network-against-its-input rows."""
import numpy as np
import pytest
import torch
from conftest import load_benchmark
from skimage import data

from graycodec import color
from graycodec.model import ColorUNet
from graycodec.predictor import Predictor


@pytest.fixture
def diag(monkeypatch):
    return load_benchmark("hint_diagnostics", monkeypatch)


@pytest.fixture(scope="module")
def photo():
    return np.ascontiguousarray(data.astronaut()[::4, ::4])  # 128 x 128 RGB


def test_variants_alter_the_colour_or_the_size_as_named(diag, photo):
    assert diag.make_variant(photo, "original") is photo
    assert diag.make_variant(photo, "half").shape == (64, 64, 3)
    assert diag.make_variant(photo, "box100").shape == (100, 100, 3)
    assert diag.make_variant(photo, "lanczos96").shape == (96, 96, 3)
    for name in ("jpeg75", "jpeg95-444", "blur1"):
        out = diag.make_variant(photo, name)
        assert out.shape == photo.shape and out.dtype == np.uint8
        assert 0 < np.abs(out.astype(int) - photo).mean() < 10, name
    # Blurring a/b leaves the lightness alone (up to 8-bit rounding).
    l_before = color.rgb_to_lab(photo)[..., 0]
    l_after = color.rgb_to_lab(diag.make_variant(photo, "blur2"))[..., 0]
    assert np.abs(l_before - l_after).mean() < 1.0
    with pytest.raises(ValueError, match="unknown variant"):
        diag.make_variant(photo, "jpeg")


def test_an_untrained_network_ties_with_its_input_and_hints_beat_none(diag, photo):
    untrained = Predictor(ColorUNet(), {"working_short_side": 64}, torch.device("cpu"))
    rows = diag.network_and_input(untrained, untrained, photo)
    assert set(rows) == {"medium", "high"}
    for net, own_input in rows.values():
        assert net == pytest.approx(own_input) and 0 < net < 10
    assert rows["high"][0] < rows["medium"][0]  # more hints, less error
