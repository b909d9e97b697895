"""Turning cached photos into training batches: crops at many scales, flips, Lab, hints.

Everything after the crop runs on tensors on the training device (the GPU when there is
one), so the data pipeline is a few cheap numpy slices per sample on the host.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..color import RGB_TO_XYZ, WHITE_D65
from ..upsampling import guided_hint_plane

# Hint cells, in pixels of the working resolution, are drawn log-uniformly from this range:
# on Kodak at the 256-pixel working resolution low/medium/high give cells of 16/8/4 px,
# larger photos give smaller cells.
HINT_CELL_RANGE = (2.0, 20.0)


def rgb_to_lab_torch(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (N, 3, H, W) in [0, 1] to CIELAB, same constants as graycodec.color."""
    rgb = rgb.float()
    lin = torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = torch.as_tensor(RGB_TO_XYZ / WHITE_D65[:, None], dtype=lin.dtype, device=lin.device)
    xyz = torch.einsum("ij,njhw->nihw", m, lin)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    L = 116 * f[:, 1:2] - 16
    a = 500 * (f[:, 0:1] - f[:, 1:2])
    b = 200 * (f[:, 1:2] - f[:, 2:3])
    return torch.cat([L, a, b], dim=1)


def random_crops(cache, batch_size: int, crop: int, rng: np.random.Generator,
                 scale_range=(0.5, 1.0)) -> torch.Tensor:
    """``batch_size`` crops of ``crop``² pixels (uint8 NCHW), each from a random photo at a
    random scale (a square of crop/scale pixels, resized), flipped at random."""
    out = torch.empty(batch_size, 3, crop, crop, dtype=torch.uint8)
    for k in range(batch_size):
        img = cache.image(int(rng.integers(len(cache))))
        h, w = img.shape[:2]
        side = min(h, w, max(1, round(crop / rng.uniform(*scale_range))))
        y, x = int(rng.integers(h - side + 1)), int(rng.integers(w - side + 1))
        patch = torch.from_numpy(np.ascontiguousarray(img[y : y + side, x : x + side])).permute(2, 0, 1)
        if side != crop:
            patch = F.interpolate(patch[None].float(), size=(crop, crop), mode="bilinear",
                                  antialias=True, align_corners=False)[0].round().clamp(0, 255).byte()
        if rng.random() < 0.5:
            patch = patch.flip(-1)
        out[k] = patch
    return out


def stored_thumbnail(ab: torch.Tensor, thumb_hw: tuple[int, int]) -> torch.Tensor:
    """The thumbnail the encoder stores: block means at ``thumb_hw``, rounded to whole CIELAB
    units (int8 range)."""
    return F.adaptive_avg_pool2d(ab, thumb_hw).round().clamp(-128, 127)


def hint_plane(L: torch.Tensor, ab: torch.Tensor, thumb_hw: tuple[int, int]) -> torch.Tensor:
    """The hint plane the decoder builds: the stored thumbnail, upsampled under the guidance of L*."""
    return guided_hint_plane(L, stored_thumbnail(ab, thumb_hw))


def make_inputs(lab: torch.Tensor, hint_fraction: float, rng: np.random.Generator):
    """Split a Lab batch into (L, hint_ab, mask, target_ab).

    Hints are dropped *per sample* (never per batch: BatchNorm statistics would then fit
    neither case); kept samples get a thumbnail at a random cell size.
    """
    L, ab = lab[:, :1], lab[:, 1:]
    n, _, h, w = ab.shape
    hint = torch.zeros_like(ab)
    mask = torch.zeros_like(L)
    by_size: dict[tuple[int, int], list[int]] = {}
    for k in np.flatnonzero(rng.random(n) < hint_fraction):
        cell = math.exp(rng.uniform(*np.log(HINT_CELL_RANGE)))
        by_size.setdefault((max(1, round(h / cell)), max(1, round(w / cell))), []).append(int(k))
    # One call per thumbnail size, not per sample: a batch holds only a dozen sizes, and on a
    # GPU each call is some twenty kernel launches (the samples do not interact).
    for thumb_hw, members in by_size.items():
        idx = torch.as_tensor(members, device=ab.device)
        hint[idx] = hint_plane(L[idx], ab[idx], thumb_hw)
        mask[idx] = 1.0
    return L, hint, mask, ab
