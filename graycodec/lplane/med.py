"""Mode 1 (``med``): pixel quantizer, LOCO-I's median edge detector, residuals mod M, one zstd frame."""
from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import FormatError
from ._zstd import compress, decompress_into


def alphabet_size(max_error: int) -> int:
    """Number of distinct quantized values M for the near-lossless bound D (256 when lossless)."""
    return (255 + max_error) // (2 * max_error + 1) + 1


def quantize(plane: np.ndarray, max_error: int) -> np.ndarray:
    """Near-lossless pixel quantizer: q = (x + D) // (2D + 1); identity for D = 0."""
    if max_error == 0:
        return plane
    return ((plane.astype(np.uint16) + max_error) // (2 * max_error + 1)).astype(np.uint8)


def dequantize(q: np.ndarray, max_error: int) -> np.ndarray:
    """Inverse of :func:`quantize`: the bin centre q·(2D + 1), clipped to 255 (error ≤ D)."""
    if max_error == 0:
        return q
    return np.minimum(q.astype(np.uint16) * (2 * max_error + 1), 255).astype(np.uint8)


def _med_padded(q: np.ndarray, m: int) -> np.ndarray:
    """Plane with one row above (value M//2) and one column left (the pixel above row's first)."""
    h, w = q.shape
    b = np.empty((h + 1, w + 1), np.int16)
    b[1:, 1:] = q
    b[0, :] = m // 2
    b[1:, 0] = b[:-1, 1]
    return b


def encode(plane: np.ndarray, max_error: int) -> bytes:
    """Mode 1 payload of a plane with the near-lossless bound max_error."""
    m = alphabet_size(max_error)
    b = _med_padded(quantize(plane, max_error), m)
    a, n, c = b[1:, :-1], b[:-1, 1:], b[:-1, :-1]
    mx, mn = np.maximum(a, n), np.minimum(a, n)
    pred = np.where(c >= mx, mn, np.where(c <= mn, mx, a + n - c))
    res = ((b[1:, 1:] - pred) % m).astype(np.uint8)
    return compress(res.reshape(-1))


@njit(cache=True)
def _med_kernel(res, h, w, m):  # pragma: no cover - compiled
    out = np.empty((h + 1, w + 1), np.int32)
    out[0, :] = m // 2
    for y in range(1, h + 1):
        out[y, 0] = out[y - 1, 1]
        i = (y - 1) * w
        for x in range(1, w + 1):
            a = out[y, x - 1]
            n = out[y - 1, x]
            c = out[y - 1, x - 1]
            mx = max(a, n)
            mn = min(a, n)
            p = mn if c >= mx else (mx if c <= mn else a + n - c)
            r = np.int32(res[i + x - 1])
            if r >= m:
                return out, -1
            v = p + r
            if v >= m:
                v -= m
            out[y, x] = v
    return out, 0


def decode(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    """Plane from a mode 1 payload (FormatError when damaged)."""
    m = alphabet_size(max_error)
    res = np.empty(width * height, np.uint8)
    decompress_into(payload, res, "mode 1 residuals")
    out, rc = _med_kernel(res, height, width, m)
    if rc:
        raise FormatError("lightness plane: mode 1 residual out of range")
    return dequantize(out[1:, 1:].astype(np.uint8), max_error)
