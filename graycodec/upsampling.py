"""Edge-aware upsampling of the colour-hint thumbnail, steered by the lightness plane.

Bilinear upsampling of a 1/16 a/b thumbnail blurs every colour edge over 16 pixels. But
most colour edges are lightness edges too, and the decoder knows lightness at full detail.
So the hint plane fed to the network is

    hint = up(thumb) + up(A) · (L − up(thumb_L))

where ``thumb_L`` is L block-averaged to the thumbnail grid, and ``A`` the local slope of
a/b against L fitted over 3×3 thumbnail cells (a guided filter's linear model, He et al.
2013), regularised by ``EPS`` so that flat lightness adds nothing. On 12 Kodak images at the
1/16 level this alone lowers mean ΔE94 from 2.30 (bilinear) to 1.93; the network then
refines it. Training and decoding share this function, so the network sees the same input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

RADIUS = 1  # window radius, in thumbnail cells
EPS = 4.0  # (L* units)²: lightness variation below ~2 L* carries no colour detail


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)² window; windows are clipped at the borders."""
    k = 2 * r + 1
    s = F.avg_pool2d(F.pad(x, (r, r, r, r)), k, stride=1, divisor_override=1)
    n = F.avg_pool2d(F.pad(torch.ones_like(x[:, :1]), (r, r, r, r)), k, stride=1, divisor_override=1)
    return s / n


def _up(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def guided_hint_plane(lstar: torch.Tensor, thumb_ab: torch.Tensor, r: int = RADIUS, eps: float = EPS) -> torch.Tensor:
    """Hint plane (N, 2, h, w) from L* (N, 1, h, w) and an a/b thumbnail (N, 2, th, tw)."""
    size = lstar.shape[-2:]
    thumb_l = F.adaptive_avg_pool2d(lstar, thumb_ab.shape[-2:])
    mean_l, mean_ab = box_mean(thumb_l, r), box_mean(thumb_ab, r)
    cov = box_mean(thumb_l * thumb_ab, r) - mean_l * mean_ab
    var = box_mean(thumb_l * thumb_l, r) - mean_l * mean_l
    slope = box_mean(cov / (var + eps), r)
    return _up(thumb_ab, size) + _up(slope, size) * (lstar - _up(thumb_l, size))


def match_hint_means(lstar: torch.Tensor, ab: torch.Tensor, thumb_ab: torch.Tensor) -> torch.Tensor:
    """Pull a predicted a/b plane (N, 2, h, w) towards the stored thumbnail's block means.

    The thumbnail *is* the block-averaged truth, so whatever the network's prediction does
    inside a cell, its mean should match: the per-cell difference is upsampled with the same
    L-guided rule as the hint plane and added back. (Bilinear upsampling does not preserve
    block means exactly, so this is one projection step, not an exact constraint.) On Kodak
    at the 1/16 level, with a model after 1,100 training steps, it lowered mean ΔE94 from 2.08
    to 1.88.
    """
    residual = thumb_ab - F.adaptive_avg_pool2d(ab, thumb_ab.shape[-2:])
    return ab + guided_hint_plane(lstar, residual)
