"""Mode 4 (``half``): the plane at half resolution, coded by mode 3, upsampled 2× at decode.

For low rates: near-lossless coding spends its bits on uniform ±D noise everywhere, while
lightness detail at half resolution is most of what the eye reads. On 8 training photos the
half-size plane coded with D = 1 costs 0.62 bpp at a mean |ΔL*| of 1.54 after upsampling, where
full-size D = 15 costs the same rate at 2.33 (benchmarks/quality_frontier.py has the colour
figures). There is no per-pixel bound on the full-size plane: ``max_error`` bounds the
half-size plane only.

Payload: u8 inner mode (3) | the inner mode's payload for the plane of ceil(H/2) × ceil(W/2).
Encoder (free to change): a [1 3 3 1]/8 tent filter each way, rounded. Decoder (fixed, exact
integer arithmetic so every platform decodes the same plane): separable bicubic (a = −0.75)
2× upsampling, pixel centres aligned (output pixel 2i sits at i − 1/4, 2i + 1 at i + 1/4),
weights ×256: even outputs (−9, 67, 225, −27) on inputs i−2..i+1, odd ones (−27, 225, 67, −9)
on i−1..i+2, edges replicated; rows first into int32, then columns; (v + 2¹⁵) >> 16, clipped to
0..255, cropped to H × W.
"""
from __future__ import annotations

import numpy as np

from ..errors import FormatError
from . import strips

INNER_MODE = 3
_TENT = np.array([1.0, 3.0, 3.0, 1.0]) / 8.0
_EVEN = np.array([-9, 67, 225, -27], dtype=np.int64)  # inputs i-2, i-1, i, i+1
_ODD = _EVEN[::-1].copy()  # inputs i-1, i, i+1, i+2


def half_shape(height: int, width: int) -> tuple[int, int]:
    return (height + 1) // 2, (width + 1) // 2


def downsample(plane: np.ndarray) -> np.ndarray:
    """Tent-filtered 2× reduction (the encoder's choice, not part of the format)."""
    x = np.asarray(plane, dtype=np.float64)
    for axis in (0, 1):
        n = x.shape[axis]
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 2 + n % 2)  # one before, enough after for an odd size's last pair
        p = np.pad(x, pad, mode="edge")
        m = (n + 1) // 2
        taps = [np.take(p, np.arange(m) * 2 + k, axis=axis) for k in range(4)]
        x = sum(w * t for w, t in zip(_TENT, taps))
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def _up_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """2× along ``axis`` with the integer bicubic weights (no rounding: ×256)."""
    n = x.shape[axis]
    pad = [(0, 0), (0, 0)]
    pad[axis] = (2, 2)
    p = np.pad(x, pad, mode="edge")
    idx = np.arange(n) + 2  # position of input i in p
    even = sum(w * np.take(p, idx + k, axis=axis) for w, k in zip(_EVEN, (-2, -1, 0, 1)))
    odd = sum(w * np.take(p, idx + k, axis=axis) for w, k in zip(_ODD, (-1, 0, 1, 2)))
    out = np.stack([even, odd], axis=axis + 1)
    shape = list(x.shape)
    shape[axis] = 2 * n
    return out.reshape(shape)


def upsample(small: np.ndarray, height: int, width: int) -> np.ndarray:
    """The decoder's exact 2× upsampling of the half-size plane, cropped to height × width."""
    v = _up_axis(_up_axis(small.astype(np.int64), 0), 1)
    return np.clip((v + (1 << 15)) >> 16, 0, 255).astype(np.uint8)[:height, :width]


def encode(plane: np.ndarray, max_error: int) -> bytes:
    return bytes([INNER_MODE]) + strips.encode(downsample(plane), max_error)


def decode(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    if len(payload) < 1 or payload[0] != INNER_MODE:
        raise FormatError("half mode: unknown inner coding mode")
    hh, hw = half_shape(height, width)
    return upsample(strips.decode(payload[1:], hw, hh, max_error), height, width)
