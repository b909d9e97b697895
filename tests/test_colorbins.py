"""Colour as a distribution over a/b bins: targets, rebalancing, loss and read-outs."""
import numpy as np
import pytest
import torch

from graycodec import colorbins
from graycodec.colorbins import AB_BINS, NUM_BINS

torch.set_num_threads(1)


def bin_index(a: float, b: float) -> int:
    return int(np.argmin(((AB_BINS - (a, b)) ** 2).sum(1)))


def test_bins_cover_the_srgb_gamut_on_a_10_unit_grid():
    assert 200 < NUM_BINS < 330  # Zhang 2016 keeps 313 of ImageNet's
    assert np.all(AB_BINS % 10 == 0)
    assert bin_index(0, 0) == int(np.flatnonzero((AB_BINS == 0).all(1))[0])
    # Saturated sRGB primaries land in a bin within half a cell; far outside the gamut none does.
    for rgb in ([255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]):
        from graycodec.color import rgb_to_lab

        ab = rgb_to_lab(np.array([rgb], np.uint8))[0, 1:]
        assert np.abs(AB_BINS - ab).max(1).min() <= 5.0 + 1e-4
    assert not ((AB_BINS[:, 0] < -100) & (AB_BINS[:, 1] < -100)).any()


def test_soft_encoding_puts_its_mass_on_the_nearest_bins():
    ab = torch.tensor([[10.0, -20.0], [13.0, -20.0]]).T.reshape(1, 2, 1, 2)
    soft = colorbins.soft_encode(ab)
    assert soft.shape == (1, NUM_BINS, 1, 2)
    torch.testing.assert_close(soft.sum(1), torch.ones(1, 1, 2))
    assert (soft > 0).sum(1).tolist() == [[[5, 5]]]
    assert soft[0, :, 0, 0].argmax().item() == bin_index(10, -20)  # on a centre: that bin wins
    # Its mean is close to the value it encodes (5 neighbours, σ = 5).
    mean = torch.einsum("nqhw,qc->nchw", soft, torch.from_numpy(AB_BINS))
    assert torch.allclose(mean[0, :, 0, 0], torch.tensor([10.0, -20.0]), atol=1.0)


def test_class_weights_have_unit_expectation_under_the_prior_and_favour_rare_colours():
    rng = np.random.default_rng(0)
    samples = np.concatenate([rng.normal(0, 5, (9000, 2)), rng.normal((60, 60), 5, (1000, 2))])
    prior = colorbins.empirical_prior(samples)
    assert prior.shape == (NUM_BINS,) and abs(prior.sum() - 1) < 1e-9
    weights = colorbins.rebalance_weights(prior)
    assert abs((prior * weights).sum() - 1.0) < 1e-9  # Σ p̃ w = 1, Zhang 2016 eq. 4
    assert weights[bin_index(60, 60)] > weights[bin_index(0, 0)]
    # λ = 1 gives uniform weights (no rebalancing), all equal to 1.
    np.testing.assert_allclose(colorbins.rebalance_weights(prior, lam=1.0), 1.0)


def test_weighted_cross_entropy_is_plain_cross_entropy_with_unit_weights_and_scales_with_them():
    torch.manual_seed(0)
    logits = torch.randn(2, NUM_BINS, 3, 4)
    target = colorbins.soft_encode(torch.randn(2, 2, 3, 4) * 30)
    plain = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    ones = torch.ones(NUM_BINS)
    torch.testing.assert_close(colorbins.weighted_soft_cross_entropy(logits, target, ones), plain)
    torch.testing.assert_close(colorbins.weighted_soft_cross_entropy(logits, target, 3 * ones), 3 * plain)


def test_annealed_mean_of_a_known_distribution():
    """Two bins with p = 0.8 / 0.2: T = 1 gives the mean, T → 0 the mode, T = 0.38 in between."""
    i, j = bin_index(0, 0), bin_index(40, 0)
    probs = torch.zeros(1, NUM_BINS, 1, 1)
    probs[0, i], probs[0, j] = 0.8, 0.2
    mean = colorbins.annealed_mean(probs, 1.0)[0, :, 0, 0]
    torch.testing.assert_close(mean, torch.tensor([8.0, 0.0]))
    # T = 0.38: weights ∝ p^(1/T): 0.8^2.63 : 0.2^2.63
    r = (0.2 / 0.8) ** (1 / 0.38)
    annealed = colorbins.annealed_mean(probs, 0.38)[0, :, 0, 0]
    torch.testing.assert_close(annealed, torch.tensor([40 * r / (1 + r), 0.0]), atol=1e-4, rtol=1e-4)
    assert colorbins.annealed_mean(probs, 0.01)[0, 0, 0, 0] < 1e-3


def test_readout_removes_the_rebalancing_at_vividness_0_and_sharpens_at_1():
    i, j = bin_index(0, 0), bin_index(40, 0)
    logits = torch.full((1, NUM_BINS, 1, 1), -1e4)
    logits[0, i], logits[0, j] = np.log(0.5), np.log(0.5)  # the network's (rebalanced) q
    weights = torch.ones(NUM_BINS)
    weights[j] = 4.0  # the rare bin was up-weighted 4× in training
    fidelity = colorbins.readout(logits, 0.0, weights)[0, :, 0, 0]
    # q ∝ w·p, so p ∝ q / w = 0.5 : 0.125 → mean 40 · 0.2
    torch.testing.assert_close(fidelity, torch.tensor([8.0, 0.0]), atol=1e-3, rtol=1e-4)
    vivid = colorbins.readout(logits, 1.0, weights)[0, :, 0, 0]
    torch.testing.assert_close(vivid, torch.tensor([20.0, 0.0]), atol=1e-3, rtol=1e-4)  # q as is
    assert colorbins.vividness_params(0.0) == (1.0, 1.0, 1.0, 0.0)
    assert colorbins.vividness_params(1.0) == (0.0, pytest.approx(0.38), 1.0, 0.0)
    assert colorbins.vividness_params(5.0) == colorbins.vividness_params(1.0)  # clipped


def test_readout_gain_scales_the_chroma_and_keeps_the_hue():
    i, j = bin_index(0, 0), bin_index(30, -40)
    logits = torch.full((1, NUM_BINS, 1, 1), -1e4)
    logits[0, i], logits[0, j] = np.log(0.5), np.log(0.5)
    weights = torch.ones(NUM_BINS)
    plain = colorbins.readout_with(logits, weights, 1.0, 1.0)[0, :, 0, 0]
    torch.testing.assert_close(plain, torch.tensor([15.0, -20.0]), atol=1e-3, rtol=1e-4)  # the mean
    ends = ((1.0, 1.0), (1.0, 1.0, 3.0))  # a two-number end has a gain of 1
    assert colorbins.vividness_params(0.5, *ends) == (1.0, 1.0, 2.0, 0.0)
    for v, gain in ((0.0, 1.0), (0.5, 2.0), (1.0, 3.0)):
        torch.testing.assert_close(colorbins.readout(logits, v, weights, *ends)[0, :, 0, 0], gain * plain)


def test_chroma_exponent_lifts_confident_colour_and_leaves_dull_colour_dull():
    """g · (C/10)^γ: a mean of chroma 10 gets exactly g, chroma 50 gets g · 5^γ, gray stays gray;
    the hue never moves, and vividness moves γ linearly between the ends."""
    weights = torch.ones(NUM_BINS)
    logits = torch.full((1, NUM_BINS, 1, 3), -1e4)
    for col, (a, b) in enumerate(((0, 0), (10, 0), (30, -40))):  # chroma 0, 10, 50
        logits[0, bin_index(a, b), 0, col] = 0.0
    plain = colorbins.readout_with(logits, weights, 1.0, 1.0)[0, :, 0]
    torch.testing.assert_close(plain, torch.tensor([[0.0, 10.0, 30.0], [0.0, 0.0, -40.0]]), atol=1e-3, rtol=0)
    shaped = colorbins.readout_with(logits, weights, 1.0, 1.0, 2.0, 1.5)[0, :, 0]
    torch.testing.assert_close(shaped, plain * torch.tensor([0.0, 2.0, 2.0 * 5 ** 1.5]), atol=1e-3, rtol=1e-4)
    ends = ((1.0, 1.0, 2.0), (1.0, 1.0, 2.0, 1.0))  # a three-number end has an exponent of 0
    assert colorbins.vividness_params(0.5, *ends) == (1.0, 1.0, 2.0, 0.5)
    torch.testing.assert_close(colorbins.readout(logits, 0.5, weights, *ends)[0, :, 0, 2],
                               2.0 * 5 ** 0.5 * plain[:, 2], atol=1e-3, rtol=1e-4)
