"""Encoder-side hint search: store the thumbnail that decodes best, not the plain block means.

The decoder turns a hint thumbnail into colour with a fixed, deterministic function of the
thumbnail and the stored lightness (``Predictor._refine_hinted``)::

    thumbnail ─ L-guided plane + bilinear ─ HintRefiner ─ pull to the block means ─▶ a/b

The block means are what that function assumes, but not the values that give the least colour
error after it: the L-guided slopes, the refiner and the bilinear kernel all smear each cell into
its neighbours. The encoder holds the original a/b, so it can run a few steps of gradient
descent on the thumbnail's values *through the decoder itself* and store the rounded result.
Learned image codecs do the same to their latents ("Content adaptive optimization for neural
image compression", Campos et al. 2019; "Improving inference for neural image compression",
Yang et al. 2020).

The file format does not change: every decoder reads such a file, and one with another model
still gets values near the block means. What it costs is encoding time (a forward and a backward
pass of the refiner per step; docs/BENCHMARKS.md, "Encoder-side hint search"), so it is asked for
(``encode(hint_search=N)``, CLI ``--hint-search N``); by default the encoder stores the plain block
means and needs no model.

Large images are searched at the refiner's own size (``refiner.refine_size``) with the refiner
run in row strips, so memory stays bounded as in decoding.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import torch
import torch.nn.functional as F

from .hints import SEARCH_STEPS, HintThumbnail
from .predictor import Predictor, resize_plane
from .refiner import HALO, HintRefiner, refine_size, refiner_inputs, upsample_context
from .upsampling import guided_hint_plane

SUGGESTED_STEPS = SEARCH_STEPS  # the value the documentation suggests
# Adam's step size in quantiser steps, decayed linearly: large enough to move a cell by a few
# units in ten steps, small at the end so the values settle before rounding (chosen on val-large,
# docs/COLOUR_LOG.md "Encoder-side hint search").
LR_START, LR_END = 0.6, 0.1
STRIP_PIXELS = 1 << 19  # refiner pixels per strip with gradients: about 1 GB of activations


def de94(ab: torch.Tensor, ab_ref: torch.Tensor) -> torch.Tensor:
    """Mean CIE ΔE94 (graphic arts) between two a/b planes (N, 2, h, w) that share their L*.

    With equal L* only chroma and hue differ: ΔE94² = ΔC²/S_C² + ΔH²/S_H², S weighted by the
    reference's chroma. The small constant keeps the square root's gradient finite at zero."""
    c_ref, c_out = ab_ref.norm(dim=1), ab.norm(dim=1)
    dc2 = (c_ref - c_out) ** 2
    dh2 = (((ab - ab_ref) ** 2).sum(1) - dc2).clamp_min(0.0)
    return torch.sqrt(dc2 / (1 + 0.045 * c_ref) ** 2 + dh2 / (1 + 0.015 * c_ref) ** 2 + 1e-4).mean()


def decoded_error(refiner: HintRefiner, lstar: torch.Tensor, ab_ref: torch.Tensor, thumb: torch.Tensor,
                  strip_rows: int | None = None) -> torch.Tensor:
    """Mean ΔE94 of what the decoder makes of ``thumb`` (N=1), with ``thumb.grad`` filled in when
    ``thumb`` requires it. All tensors at the refiner's size.

    The refiner runs in row strips (``strip_rows``; default: whole plane up to STRIP_PIXELS).
    Its output feeds a pull to the block means that mixes the whole plane, so the gradient is
    taken in two passes: the refined plane without gradients, the error's gradient with respect
    to it, then each strip again with gradients, back-propagating its share.
    """
    h, w = lstar.shape[-2:]
    rows = strip_rows or max(8, STRIP_PIXELS // w)
    guided, bilinear = refiner_inputs(lstar, thumb)
    context = refiner.context(refiner.inputs(lstar, guided, bilinear)) if refiner.context is not None else None
    leaves = [t.detach().requires_grad_(thumb.requires_grad) for t in (guided, bilinear)]
    leaves.append(None if context is None else context.detach().requires_grad_(thumb.requires_grad))

    def run(a: int, b: int) -> torch.Tensor:
        ctx = None if leaves[2] is None else upsample_context(leaves[2], (a, b), w)
        return refiner(lstar[..., a:b, :], leaves[0][..., a:b, :], leaves[1][..., a:b, :], ctx)

    one_strip = rows >= h
    if one_strip:
        refined = run(0, h)
    else:
        with torch.no_grad():
            refined = torch.cat([_core(run, r0, min(h, r0 + rows), h) for r0 in range(0, h, rows)], dim=-2)
    refined_leaf = refined.detach().requires_grad_(thumb.requires_grad)
    residual = thumb - F.adaptive_avg_pool2d(refined_leaf, thumb.shape[-2:])
    error = de94(refined_leaf + guided_hint_plane(lstar, residual), ab_ref)
    if not thumb.requires_grad:
        return error.detach()
    error.backward(retain_graph=True)  # ``thumb``'s own graph is walked again below
    if one_strip:
        refined.backward(refined_leaf.grad)
    else:
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            _core(run, r0, r1, h).backward(refined_leaf.grad[..., r0:r1, :])
    outputs = [guided, bilinear] + ([context] if context is not None else [])
    torch.autograd.backward(outputs, [leaf.grad for leaf in leaves[: len(outputs)]])
    return error.detach()


def _core(run, r0: int, r1: int, h: int) -> torch.Tensor:
    """Rows r0:r1 of the refined plane, computed with HALO rows of context on each side."""
    a, b = max(0, r0 - HALO), min(h, r1 + HALO)
    return run(a, b)[..., r0 - a : r1 - a, :]


def search(refiner: HintRefiner, lstar: np.ndarray, ab: np.ndarray, thumb: HintThumbnail,
           steps: int = SUGGESTED_STEPS, device: str | torch.device = "cpu") -> HintThumbnail:
    """The thumbnail (same factor and step) that ``steps`` of Adam find for the decoder.

    ``lstar`` (H, W): the L* plane the decoder will see (the stored one, after any lossy coding);
    ``ab`` (H, W, 2): the original a/b. The values stay multiples of ``thumb.step`` within int8.
    Returns ``thumb`` itself when ``steps`` is 0, or when the rounded result decodes no better
    than the block means (a search that overshot, or that rounding undid, is not kept).
    """
    if steps <= 0:
        return thumb
    # Gradients are the point here, even when called from inference code (an evaluation loop
    # under torch.inference_mode would otherwise make every step a silent no-op).
    with torch.inference_mode(False), torch.enable_grad(), _frozen(refiner):
        return _search(refiner, lstar, ab, thumb, steps, device)


@contextlib.contextmanager
def _frozen(refiner: HintRefiner):
    """The refiner's weights without gradients for the while (only the thumbnail's are wanted;
    the weights' would cost a third of each backward pass), restored afterwards."""
    flags = [(p, p.requires_grad) for p in refiner.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _search(refiner, lstar, ab, thumb: HintThumbnail, steps: int, device) -> HintThumbnail:
    l_ref, ab_ref = _at_refine_size(lstar, ab, device)
    start = torch.from_numpy(thumb.ab.astype(np.float32)).permute(2, 0, 1)[None].to(device)
    units = (start / thumb.step).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([units], lr=LR_START)
    for i in range(steps):
        for group in optimiser.param_groups:
            group["lr"] = LR_START + (LR_END - LR_START) * i / max(1, steps - 1)
        optimiser.zero_grad()
        error = decoded_error(refiner, l_ref, ab_ref, units * thumb.step)
        if i == 0:
            start_error = error  # the first step scores the block means themselves
        optimiser.step()
    lo, hi = -(128 // thumb.step), 127 // thumb.step
    found = torch.round(units.detach()).clamp(lo, hi) * thumb.step
    with torch.no_grad():
        if decoded_error(refiner, l_ref, ab_ref, found) >= start_error:
            return thumb
    values = found[0].permute(1, 2, 0).cpu().numpy().astype(np.int8)
    return HintThumbnail(thumb.factor, values, thumb.step)


def _at_refine_size(lstar: np.ndarray, ab: np.ndarray, device) -> tuple[torch.Tensor, torch.Tensor]:
    """L* and a/b as (1, C, h, w) tensors at the size the decoder refines at: L* resized exactly
    as the decoder resizes it (``predictor.resize_plane``), the target a/b area-averaged."""
    size = refine_size(*lstar.shape)
    l_ref = resize_plane(lstar, size)
    ab_ref = torch.from_numpy(np.ascontiguousarray(ab, dtype=np.float32)).permute(2, 0, 1)[None]
    if tuple(size) != tuple(lstar.shape):
        ab_ref = F.interpolate(ab_ref, size=size, mode="area")
    return l_ref.to(device), ab_ref.to(device)


@functools.lru_cache(maxsize=2)
def load_refiner(model: str | None = None, device: str = "auto") -> tuple[HintRefiner | None, torch.device]:
    """(refiner, device) of the weight file ``model`` (default: the installed one), loaded once
    per process on ``device`` (auto: CUDA when there is one, where a search takes a fraction of a
    second); (None, device) for a model without a refiner. ModelError when there is no model."""
    predictor = Predictor.load(model, device=device)
    refiner = predictor.model.refiner
    if refiner is not None:
        # NHWC convolutions: forward and backward 30 % faster on a CPU (1.9 s against 2.8 s for a
        # 768×512 image, one thread). This copy only searches; decoding keeps its own refiner.
        refiner = refiner.to(memory_format=torch.channels_last)
    return refiner, predictor.device
