"""Colour as a distribution: quantised a/b bins, soft targets, class rebalancing, read-outs.

Regressing a/b with MSE predicts the mean of every plausible colour of a pixel, which for
most objects is a brown-gray (the sepia of the first model). Following Zhang, Isola & Efros
(2016, "Colorful Image Colorization"), the predictor instead outputs, for each pixel, a
probability over ``Q`` bins of the a/b plane, trained with a soft cross-entropy whose
per-class weights lift rare, saturated colours. One distribution then gives two renderings:

* **fidelity** — its mean (the estimate of lowest squared error), after removing the
  rebalancing bias the weighted loss puts into the network's output (``q ∝ w · p``);
* **vivid** — the *annealed mean*: the distribution sharpened by a temperature ``T < 1``
  (Zhang's 0.38), which keeps colour where the mean would average it away; or the mean's
  chroma multiplied by a **gain** ``g > 1``, which keeps the mean's hue. A model trained
  from scratch on a few thousand photos is unsure of hue more often than of saturation,
  and sharpening then commits each pixel to one hue, often the wrong one, while the gain
  restores saturation in the averaged direction: on the validation photos the gain
  reaches the same colourfulness at a lower CIEDE2000 (docs/COLOUR_LOG.md, "Read-out with
  a chroma gain"). The gain may grow with the mean's own chroma C, as ``g · (C/10)^γ``:
  where the network hesitates between hues the mean is dull and stays so, where it agrees
  with itself the mean is colourful and is pushed further (docs/COLOUR_LOG.md, "A gain that
  grows with chroma").

``readout(logits, vividness, ...)`` moves between them (``vividness_params`` documents the mapping).

::

    a/b target ──soft_encode (5 nearest bins, Gaussian σ = 5)──▶ q* (N, Q, h, w)
    logits ──weighted soft cross-entropy against q* (weights of q*'s argmax bin)──▶ loss
    logits ──readout(vividness)──▶ a/b (N, 2, h, w)

The bins are the cells of a 10-unit grid over a, b ∈ [-110, 110] whose centre is an sRGB
colour (somewhere in its cell) at some lightness: a fixed, data-free set (``AB_BINS``), so a weight file only has to
agree on its size.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

GRID = 10.0  # CIELAB units between bin centres (Zhang 2016)
SOFT_NEIGHBOURS = 5  # bins that share a soft target
SOFT_SIGMA = 5.0  # CIELAB units, Gaussian of the soft target
PRIOR_SIGMA = 5.0  # smoothing of the empirical colour prior
REBALANCE_LAMBDA = 0.5  # mix of the prior with the uniform distribution (Zhang: 0.5)
VIVID_TEMPERATURE = 0.38  # Zhang's annealed-mean temperature


def _in_srgb_gamut(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where (L, a, b) is inside sRGB for at least one L* in 5..95."""
    from .color import RGB_TO_XYZ, WHITE_D65, _f_inv, linear_to_srgb

    inside = np.zeros(a.shape, dtype=bool)
    inv = np.linalg.inv(RGB_TO_XYZ)
    for L in np.arange(5.0, 96.0, 1.0):
        fy = (L + 16.0) / 116.0
        xyz = np.stack([_f_inv(fy + a / 500.0), np.broadcast_to(_f_inv(np.float64(fy)), a.shape),
                        _f_inv(fy - b / 200.0)], axis=-1) * WHITE_D65
        rgb = linear_to_srgb(xyz @ inv.T)
        inside |= np.all((rgb >= 0.0) & (rgb <= 1.0), axis=-1)
    return inside


def _make_bins() -> np.ndarray:
    centres = np.arange(-110.0, 110.0 + 1e-9, GRID)
    a, b = np.meshgrid(centres, centres, indexing="ij")
    # A bin is kept when any point of its cell (a 5×5 sample) is an sRGB colour.
    offsets = np.linspace(-GRID / 2, GRID / 2, 5)
    keep = np.zeros(a.shape, dtype=bool)
    for da in offsets:
        for db in offsets:
            keep |= _in_srgb_gamut(a + da, b + db)
    return np.stack([a[keep], b[keep]], axis=-1).astype(np.float32)


AB_BINS = _make_bins()  # (Q, 2) bin centres, a then b
NUM_BINS = len(AB_BINS)


def bins_tensor(device=None) -> torch.Tensor:
    return torch.from_numpy(AB_BINS).to(device)


# --- targets and weights -----------------------------------------------------------------
def soft_encode(ab: torch.Tensor, k: int = SOFT_NEIGHBOURS, sigma: float = SOFT_SIGMA) -> torch.Tensor:
    """a/b (N, 2, h, w) to soft targets (N, Q, h, w): the ``k`` nearest bins, Gaussian-weighted, sum 1."""
    n, _, h, w = ab.shape
    centres = bins_tensor(ab.device)
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    d2 = torch.cdist(flat, centres).square()
    near_d2, near = d2.topk(k, dim=1, largest=False)
    weights = torch.softmax(-near_d2 / (2 * sigma**2), dim=1)
    target = torch.zeros(flat.shape[0], len(centres), device=ab.device)
    target.scatter_(1, near, weights)
    return target.reshape(n, h, w, -1).permute(0, 3, 1, 2)


def empirical_prior(ab_samples: np.ndarray, sigma: float = PRIOR_SIGMA) -> np.ndarray:
    """Smoothed distribution (Q,) of a/b values (M, 2) over the bins: nearest-bin counts, then
    a Gaussian of ``sigma`` over the a/b plane (Zhang's p̃), normalised to sum 1."""
    centres = AB_BINS.astype(np.float64)
    d2 = ((ab_samples[:, None, :].astype(np.float64) - centres[None]) ** 2).sum(-1)
    counts = np.bincount(d2.argmin(1), minlength=len(centres)).astype(np.float64)
    kernel = np.exp(-((centres[:, None] - centres[None]) ** 2).sum(-1) / (2 * sigma**2))
    smooth = kernel @ counts
    return smooth / smooth.sum()


def rebalance_weights(prior: np.ndarray, lam: float = REBALANCE_LAMBDA) -> np.ndarray:
    """Class weights w ∝ ((1 − λ)·p̃ + λ/Q)⁻¹, scaled so that Σ p̃·w = 1 (Zhang 2016, eq. 4):
    the expected weight of a pixel stays 1, so the loss keeps its scale."""
    prior = np.asarray(prior, dtype=np.float64)
    w = 1.0 / ((1 - lam) * prior + lam / len(prior))
    return w / (prior * w).sum()


def weighted_soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of w(argmax q*) · Σ_q −q*_q log softmax(logits)_q."""
    logp = F.log_softmax(logits.float(), dim=1)
    pixel_w = class_weights[target.argmax(dim=1)]
    return (-(target * logp).sum(dim=1) * pixel_w).mean()


# --- read-outs ---------------------------------------------------------------------------
# The two ends of the vividness scale, as (debias exponent, temperature, chroma gain, chroma
# exponent). A model card may carry its own ends, chosen on the validation split (``readout``
# in the card, see benchmarks/tune_readout.py); these are the defaults: the plain mean and
# Zhang's T = 0.38.
FIDELITY_END = (1.0, 1.0, 1.0, 0.0)
VIVID_END = (0.0, VIVID_TEMPERATURE, 1.0, 0.0)
MAX_GAIN = 4.0  # beyond it most colours leave the sRGB gamut and are clipped
MAX_CHROMA_EXPONENT = 3.0  # (C/10)^3 already triples a chroma of 14; more only clips
CHROMA_REFERENCE = 10.0  # CIELAB units: the chroma at which the gain is exactly g


def vividness_params(vividness: float, fidelity_end=FIDELITY_END, vivid_end=VIVID_END) -> tuple[float, ...]:
    """(debias exponent, temperature, gain, chroma exponent) for a vividness in [0, 1]
    (clipped): each linear between the ends. An end written without the last numbers has a
    gain of 1 and a chroma exponent of 0 (``full_end``).

    The debias exponent says how much of the class rebalancing is divided out of the
    network's distribution (1: all of it, the plain estimate of p; 0: none, the rebalanced q
    that favours rare, saturated colours); the temperature sharpens the result before its
    mean is taken (1: the mean; 0.38: Zhang's annealed mean); the gain g and the chroma
    exponent γ multiply the resulting a/b by g · (C/10)^γ, C its chroma (the hue stays; γ = 0
    is a plain gain).
    """
    v = float(np.clip(vividness, 0.0, 1.0))
    fid, viv = full_end(fidelity_end), full_end(vivid_end)
    return tuple(x0 + v * (x1 - x0) for x0, x1 in zip(fid, viv))


def full_end(end) -> tuple[float, ...]:
    """A read-out end as (debias, temperature, gain, chroma exponent): ends written before the
    gain have a gain of 1, ends written before the exponent an exponent of 0."""
    end = tuple(end)
    return end + (1.0, 0.0)[len(end) - 2:]


def readout(logits: torch.Tensor, vividness: float, class_weights: torch.Tensor,
            fidelity_end=FIDELITY_END, vivid_end=VIVID_END) -> torch.Tensor:
    """a/b (N, 2, h, w) from bin logits (N, Q, h, w) at a vividness in [0, 1] (see above)."""
    return readout_with(logits, class_weights, *vividness_params(vividness, fidelity_end, vivid_end))


def readout_with(logits: torch.Tensor, class_weights: torch.Tensor, debias: float, temperature: float,
                 gain: float = 1.0, chroma_exponent: float = 0.0) -> torch.Tensor:
    """The a/b of the distribution softmax(logits) / w**debias, annealed at ``temperature``,
    times ``gain`` · (C/10)**``chroma_exponent`` (C: that a/b's chroma)."""
    logp = F.log_softmax(logits.float(), dim=1)
    logp = logp - debias * class_weights.log()[None, :, None, None]
    probs = torch.softmax(logp / temperature, dim=1)
    ab = torch.einsum("nqhw,qc->nchw", probs, bins_tensor(logits.device))
    return ab * chroma_gain(ab, gain, chroma_exponent)


def chroma_gain(ab: torch.Tensor, gain: float, chroma_exponent: float) -> torch.Tensor:
    """g · (C/10)^γ per pixel (N, 1, h, w) for a/b (N, 2, h, w); a plain ``gain`` when γ = 0."""
    if chroma_exponent == 0.0:
        return torch.full_like(ab[:, :1], gain)
    chroma = ab.norm(dim=1, keepdim=True).clamp_min(1e-6)  # 0^γ is 0: a gray pixel stays gray
    return gain * (chroma / CHROMA_REFERENCE) ** chroma_exponent


def annealed_mean(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Zhang's annealed mean of a distribution over the bins (N, Q, h, w) → a/b (N, 2, h, w)."""
    no_weights = torch.ones(probs.shape[1], device=probs.device)
    return readout_with(probs.clamp_min(1e-12).log(), no_weights, 0.0, temperature)
