"""benchmarks/refine_scale.py: the hint refiner run at a fraction of the image's size."""
import numpy as np
import pytest
import torch
from conftest import load_benchmark
from skimage import data

from graycodec import color, hints
from graycodec.model import ColorUNet
from graycodec.predictor import Predictor, resize_plane, thumbnail_tensor, upsample_ab
from graycodec.refiner import HintRefiner


@pytest.fixture
def bench(monkeypatch):
    return load_benchmark("refine_scale", monkeypatch)


def random_refiner(seed=0) -> HintRefiner:
    torch.manual_seed(seed)
    net = HintRefiner()
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return net.eval()


@pytest.fixture(scope="module")
def photo():
    rgb = np.ascontiguousarray(data.astronaut()[::4, ::4])  # 128 x 128
    ref_lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    return ref_lab, lstar, hints.make_hints(ref_lab[..., 1:], "medium")


def test_scale_1_is_the_decoders_path_and_none_its_input(bench, photo):
    ref_lab, lstar, thumb = photo
    net = ColorUNet(refiner=True)
    net.refiner = random_refiner()
    decoder = Predictor(net, {}, torch.device("cpu")).predict_ab(lstar, thumb)
    ours = upsample_ab(bench.refined_at(net.refiner, resize_plane(lstar, lstar.shape), thumbnail_tensor(thumb), 1.0),
                       *lstar.shape)
    np.testing.assert_allclose(ours, decoder, atol=1e-3)
    untrained = Predictor(ColorUNet(refiner=True), {}, torch.device("cpu")).predict_ab(lstar, thumb)
    guided = upsample_ab(bench.refined_at(None, resize_plane(lstar, lstar.shape), thumbnail_tensor(thumb), None),
                         *lstar.shape)
    np.testing.assert_allclose(guided, untrained, atol=1e-3)


def test_a_smaller_scale_changes_the_colour_but_keeps_the_block_means_close(bench, photo):
    ref_lab, lstar, thumb = photo
    refiner, l_full, t = random_refiner(), resize_plane(lstar, lstar.shape), thumbnail_tensor(thumb)
    def off_means(ab):  # mean distance of the block means from the stored ones
        return (torch.nn.functional.adaptive_avg_pool2d(ab, t.shape[-2:]) - t).abs().mean().item()

    full = bench.refined_at(refiner, l_full, t, 1.0)
    for plain in (False, True):
        half = bench.refined_at(refiner, l_full, t, 0.5, plain=plain)
        assert half.shape == full.shape and (half - full).abs().mean() > 0.1
        # Pulled to the stored block means as closely as the decoder's own path (one projection
        # step, not exact); the raw refined plane is much further off.
        assert off_means(half) < 1.1 * off_means(full)
    raw = bench.refine(refiner, l_full, t)
    assert off_means(raw) > 1.5 * off_means(full)
