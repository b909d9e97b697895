"""Colour hints: a tiny a/b thumbnail stored beside the lightness plane.

The encoder block-averages the source's a/b channels down to 1/``factor`` of each side,
rounds them to whole CIELAB units (int8) and compresses them; the decoder upsamples the
thumbnail and feeds it to the predictor, which refines it with the full lightness plane.

=========  ======  ==========================  ====================
level      factor  Kodak 768×512 thumbnail     stored bytes (Kodak)
=========  ======  ==========================  ====================
``low``    32      24×16                       about 0.3 kB
``medium`` 16      48×32                       about 1 kB
``high``   8       96×64                       about 4 kB
=========  ======  ==========================  ====================

Thumbnail size: ``max(1, round(side / factor))`` per side. Block means use the bins of
``torch.nn.functional.adaptive_avg_pool2d`` (cell ``i`` spans ``floor(i*n/m)`` to
``ceil((i+1)*n/m)``) so the training code, which works on tensors, makes identical hints.

Payload layout (the ``hINT`` chunk of a .gcz, see docs/FORMAT.md)::

    u8 factor | u16 thumb_height | u16 thumb_width (big-endian) | zstd frame of
    int8 deltas: plane a then plane b, each row-major, each value minus its left
    neighbour (first column minus the one above), wrapping modulo 256
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import zstandard

from .errors import FormatError

LEVELS: dict[str, int | None] = {"none": None, "low": 32, "medium": 16, "high": 8}
_HEADER = struct.Struct(">BHH")
_ZSTD_LEVEL = 19  # the payload is a few kB: the slowest level costs nothing


@dataclass(frozen=True)
class HintThumbnail:
    """Quantized a/b block means: ``ab`` is int8 of shape (thumb_height, thumb_width, 2)."""

    factor: int
    ab: np.ndarray

    @property
    def level(self) -> str:
        return next(name for name, f in LEVELS.items() if f == self.factor)


def thumbnail_shape(height: int, width: int, factor: int) -> tuple[int, int]:
    """Thumbnail size for an image of ``height`` × ``width`` at 1/``factor`` per side."""
    return max(1, round(height / factor)), max(1, round(width / factor))


def _bin_edges(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(m)
    return (i * n) // m, -((-(i + 1) * n) // m)  # floor start, ceil end


def block_means(values: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Adaptive average pooling of (H, W, C) to (out_h, out_w, C), float64, via an integral image."""
    h, w = values.shape[:2]
    integral = np.zeros((h + 1, w + 1) + values.shape[2:], dtype=np.float64)
    integral[1:, 1:] = values.cumsum(0, dtype=np.float64).cumsum(1)
    r0, r1 = _bin_edges(h, out_h)
    c0, c1 = _bin_edges(w, out_w)
    sums = (
        integral[r1][:, c1] - integral[r0][:, c1] - integral[r1][:, c0] + integral[r0][:, c0]
    )
    area = ((r1 - r0)[:, None] * (c1 - c0)[None, :]).astype(np.float64)
    return sums / area.reshape(area.shape + (1,) * (values.ndim - 2))


def make_hints(ab: np.ndarray, level: str) -> HintThumbnail | None:
    """Thumbnail of the a/b channels (H, W, 2) at a named level; None for level ``none``."""
    if level not in LEVELS:
        raise ValueError(f"unknown hint level {level!r}; choose from {', '.join(LEVELS)}")
    factor = LEVELS[level]
    if factor is None:
        return None
    th, tw = thumbnail_shape(ab.shape[0], ab.shape[1], factor)
    means = block_means(ab, th, tw)
    return HintThumbnail(factor, np.clip(np.round(means), -128, 127).astype(np.int8))


def pack_hints(thumb: HintThumbnail) -> bytes:
    """Serialize a thumbnail into the hint chunk payload."""
    th, tw, _ = thumb.ab.shape
    planes = np.moveaxis(thumb.ab, -1, 0).astype(np.uint8)  # (2, th, tw), wrapping
    deltas = planes.copy()
    deltas[:, :, 1:] = planes[:, :, 1:] - planes[:, :, :-1]
    deltas[:, 1:, 0] = planes[:, 1:, 0] - planes[:, :-1, 0]
    body = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(deltas.tobytes())
    return _HEADER.pack(thumb.factor, th, tw) + body


def unpack_hints(payload: bytes, width: int, height: int) -> HintThumbnail:
    """Parse a hint chunk payload for an image of ``width`` × ``height``; FormatError if invalid."""
    if len(payload) < _HEADER.size:
        raise FormatError("hINT chunk: too short for its header")
    factor, th, tw = _HEADER.unpack_from(payload)
    if factor not in {f for f in LEVELS.values() if f}:
        raise FormatError(f"hINT chunk: unknown thumbnail factor {factor}")
    if (th, tw) != thumbnail_shape(height, width, factor):
        raise FormatError(f"hINT chunk: thumbnail {tw}x{th} does not fit a {width}x{height} image")
    expected = 2 * th * tw
    body = payload[_HEADER.size :]
    try:
        declared = zstandard.get_frame_parameters(body).content_size
        if declared != expected:
            raise FormatError(f"hINT chunk: zstd frame declares {declared} bytes, expected {expected}")
        raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=expected, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise FormatError(f"hINT chunk: corrupt zstd data ({exc})") from None
    if len(raw) != expected:
        raise FormatError("hINT chunk: decompressed size mismatch")
    deltas = np.frombuffer(raw, dtype=np.uint8).reshape(2, th, tw)
    # Undo the left-neighbour deltas (first column: the one above), modulo 256.
    first_col = np.cumsum(deltas[:, :, 0], axis=1, dtype=np.uint8)
    rows = deltas.copy()
    rows[:, :, 0] = first_col
    planes = np.cumsum(rows, axis=2, dtype=np.uint8)
    return HintThumbnail(factor, np.moveaxis(planes, 0, -1).view(np.int8).copy())


def upsample_bilinear(values: np.ndarray, out_h: int, out_w: int, rows: slice | None = None) -> np.ndarray:
    """Bilinear resize of (h, w, C) to (out_h, out_w, C), float32, pixel-centre aligned.

    Same sampling as ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
    ``rows`` selects a strip of output rows, so huge outputs can be made piece by piece.
    """
    values = np.asarray(values, dtype=np.float32)
    rows = tuple(w[rows or slice(None)] for w in _linear_weights(values.shape[0], out_h))
    cols = _linear_weights(values.shape[1], out_w)
    tmp = _apply_weights(values, rows, axis=0)
    return _apply_weights(tmp, cols, axis=1)


def _linear_weights(n_in: int, n_out: int):
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def _apply_weights(values, weights, axis):
    lo, hi, t = weights
    shape = [1] * values.ndim
    shape[axis] = -1
    t = t.reshape(shape)
    return np.take(values, lo, axis=axis) * (1 - t) + np.take(values, hi, axis=axis) * t
