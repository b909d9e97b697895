"""Colour hints: a tiny a/b thumbnail stored beside the lightness plane.

The encoder block-averages the source's a/b channels down to 1/``factor`` of each side,
rounds them to whole CIELAB units (int8) and compresses them; the decoder upsamples the
thumbnail and feeds it to the predictor, which refines it with the full lightness plane.
(``encode --hint-search N`` may store other values on the same grid: the thumbnail that decodes
best through the model's refiner, see hint_search.py.)

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

Since issue 13 any factor ``MIN_FACTOR``..``MAX_FACTOR`` may be asked for (``--hints F`` or
``F:S``), and the block means may be quantised to a step of S CIELAB units (a/b errors of
S/2 are about ΔE 1 at most, below what the eye sees in smooth chroma, and cost far fewer
bits). Named levels keep their factors with S = 1.

Payload layouts (the ``hINT`` chunk of a .gcz, see docs/FORMAT.md §3.2)::

    v1 (before issue 13, still read; written by ``pack_hints(..., version=1)``):
    u8 factor (8, 16 or 32) | u16 thumb_height | u16 thumb_width (big-endian) | zstd frame of
    int8 deltas: plane a then plane b, each row-major, each value minus its left
    neighbour (first column minus the one above), wrapping modulo 256

    v2 (written since issue 13): u8 0 (a factor v1 never has) | u8 2 (version) | u8 factor |
    u8 step | u16 thumb_height | u16 thumb_width (big-endian) | zstd frame of int8 residuals:
    plane a then plane b, each row-major, of the quantisation indices k = round(mean / step)
    minus their LOCO-I median-edge prediction from the left, upper and upper-left indices
    (0 outside the thumbnail), wrapping modulo 256. The decoded thumbnail is k · step.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import zstandard
from numba import njit

from .errors import FormatError

LEVELS: dict[str, int | None] = {"none": None, "low": 32, "medium": 16, "high": 8}
_HEADER = struct.Struct(">BHH")
_HEADER_V2 = struct.Struct(">BBBBHH")
MIN_FACTOR, MAX_FACTOR = 2, 64  # v2 factors; finer than 1/2 would cost more than the colour
MAX_STEP = 16  # coarsest a/b quantiser step (CIELAB units)
# Encoder-side hint search (hint_search.py, which needs torch): the number of gradient steps the
# documentation suggests and the most allowed, here so that the CLI can name them without torch.
SEARCH_STEPS = 10
MAX_SEARCH_STEPS = 200
_ZSTD_LEVEL = 19  # the payload is a few kB: the slowest level costs nothing


@dataclass(frozen=True)
class HintThumbnail:
    """Quantized a/b block means: ``ab`` is int8 of shape (thumb_height, thumb_width, 2)."""

    factor: int
    ab: np.ndarray
    step: int = 1  # the a/b quantiser step the values in ``ab`` are multiples of

    @property
    def level(self) -> str:
        """The named level, or ``F:S`` for a factor/step no name has."""
        if self.step == 1:
            for name, f in LEVELS.items():
                if f == self.factor:
                    return name
        return f"{self.factor}:{self.step}"


def parse_spec(spec: str) -> tuple[int, int] | None:
    """``none`` → None; a level name, ``F`` or ``F:S`` → (factor, step); ValueError otherwise."""
    spec = str(spec).strip().lower()
    if spec in LEVELS:
        return None if LEVELS[spec] is None else (LEVELS[spec], 1)
    try:
        factor, _, step = spec.partition(":")
        factor, step = int(factor), int(step or 1)
    except ValueError:
        raise ValueError(f"unknown hint level {spec!r}; choose from {', '.join(LEVELS)}, "
                         f"or F / F:S (factor {MIN_FACTOR}..{MAX_FACTOR}, step 1..{MAX_STEP})") from None
    if not (MIN_FACTOR <= factor <= MAX_FACTOR and 1 <= step <= MAX_STEP):
        raise ValueError(f"hint factor {factor} / step {step} out of range "
                         f"(factor {MIN_FACTOR}..{MAX_FACTOR}, step 1..{MAX_STEP})")
    return factor, step


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
    """Thumbnail of the a/b channels (H, W, 2) at a level (name, F or F:S); None for ``none``."""
    spec = parse_spec(level)
    if spec is None:
        return None
    factor, step = spec
    th, tw = thumbnail_shape(ab.shape[0], ab.shape[1], factor)
    k = _indices(block_means(ab, th, tw), step)
    return HintThumbnail(factor, (k * step).astype(np.int8), step)


def _indices(means: np.ndarray, step: int) -> np.ndarray:
    """Quantisation indices round(mean / step), kept so that k·step fits int8."""
    return np.clip(np.round(means / step), -(128 // step), 127 // step).astype(np.int32)


def pack_hints(thumb: HintThumbnail, version: int = 2) -> bytes:
    """Serialize a thumbnail into the hint chunk payload (v2 unless ``version=1`` is asked)."""
    if version == 2:
        return _pack_v2(thumb)
    if thumb.step != 1 or thumb.factor not in {f for f in LEVELS.values() if f}:
        raise ValueError("hint coding v1 holds only the named levels at step 1")
    th, tw, _ = thumb.ab.shape
    planes = np.moveaxis(thumb.ab, -1, 0).astype(np.uint8)  # (2, th, tw), wrapping
    deltas = planes.copy()
    deltas[:, :, 1:] = planes[:, :, 1:] - planes[:, :, :-1]
    deltas[:, 1:, 0] = planes[:, 1:, 0] - planes[:, :-1, 0]
    body = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(deltas.tobytes())
    return _HEADER.pack(thumb.factor, th, tw) + body


@njit(cache=True)
def _med_residuals(k):
    """LOCO-I median-edge residuals of each plane of k (P, h, w), int32, 0 outside."""
    out = np.empty_like(k)
    for p in range(k.shape[0]):
        for i in range(k.shape[1]):
            for j in range(k.shape[2]):
                out[p, i, j] = k[p, i, j] - _med(k, p, i, j)
    return out


@njit(cache=True)
def _med_restore(res):
    """Inverse of _med_residuals, modulo 256 then read back as int8 (the values k fit int8)."""
    k = np.zeros(res.shape, np.int32)
    for p in range(res.shape[0]):
        for i in range(res.shape[1]):
            for j in range(res.shape[2]):
                v = (res[p, i, j] + _med(k, p, i, j)) & 255
                k[p, i, j] = v - 256 if v > 127 else v
    return k


@njit(cache=True, inline="always")
def _med(k, p, i, j):
    a = k[p, i, j - 1] if j > 0 else 0
    b = k[p, i - 1, j] if i > 0 else 0
    c = k[p, i - 1, j - 1] if i > 0 and j > 0 else 0
    if c >= max(a, b):
        return min(a, b)
    if c <= min(a, b):
        return max(a, b)
    return a + b - c


def _pack_v2(thumb: HintThumbnail) -> bytes:
    th, tw, _ = thumb.ab.shape
    k = np.moveaxis(thumb.ab.astype(np.int32) // thumb.step, -1, 0).copy()
    res = (_med_residuals(k) & 255).astype(np.uint8)
    body = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(res.tobytes())
    return _HEADER_V2.pack(0, 2, thumb.factor, thumb.step, th, tw) + body


def _unpack_v2(payload: bytes, width: int, height: int) -> HintThumbnail:
    if len(payload) < _HEADER_V2.size:
        raise FormatError("hINT chunk: too short for its v2 header")
    _, version, factor, step, th, tw = _HEADER_V2.unpack_from(payload)
    if version != 2:
        raise FormatError(f"hINT chunk: unknown hint coding version {version}")
    if not (MIN_FACTOR <= factor <= MAX_FACTOR and 1 <= step <= MAX_STEP):
        raise FormatError(f"hINT chunk: factor {factor} / step {step} out of range")
    if (th, tw) != thumbnail_shape(height, width, factor):
        raise FormatError(f"hINT chunk: thumbnail {tw}x{th} does not fit a {width}x{height} image")
    raw = _zstd_exact(payload[_HEADER_V2.size :], 2 * th * tw)
    k = _med_restore(np.frombuffer(raw, dtype=np.uint8).reshape(2, th, tw).astype(np.int32))
    if k.min() < -(128 // step) or k.max() > 127 // step:
        raise FormatError("hINT chunk: a quantisation index is out of range for its step")
    return HintThumbnail(factor, np.moveaxis(k * step, 0, -1).astype(np.int8), step)


def _zstd_exact(body: bytes, expected: int) -> bytes:
    """Decompress one zstd frame that must declare and hold exactly ``expected`` bytes."""
    try:
        declared = zstandard.get_frame_parameters(body).content_size
        if declared != expected:
            raise FormatError(f"hINT chunk: zstd frame declares {declared} bytes, expected {expected}")
        raw = zstandard.ZstdDecompressor().decompress(body, max_output_size=expected, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise FormatError(f"hINT chunk: corrupt zstd data ({exc})") from None
    if len(raw) != expected:
        raise FormatError("hINT chunk: decompressed size mismatch")
    return raw


def unpack_hints(payload: bytes, width: int, height: int) -> HintThumbnail:
    """Parse a hint chunk payload (v1 or v2) for an image of ``width`` × ``height``; FormatError if invalid."""
    if payload[:1] == b"\x00":
        return _unpack_v2(payload, width, height)
    if len(payload) < _HEADER.size:
        raise FormatError("hINT chunk: too short for its header")
    factor, th, tw = _HEADER.unpack_from(payload)
    if factor not in {f for f in LEVELS.values() if f}:
        raise FormatError(f"hINT chunk: unknown thumbnail factor {factor}")
    if (th, tw) != thumbnail_shape(height, width, factor):
        raise FormatError(f"hINT chunk: thumbnail {tw}x{th} does not fit a {width}x{height} image")
    raw = _zstd_exact(payload[_HEADER.size :], 2 * th * tw)
    deltas = np.frombuffer(raw, dtype=np.uint8).reshape(2, th, tw)
    # Undo the left-neighbour deltas (first column: the one above), modulo 256.
    first_col = np.cumsum(deltas[:, :, 0], axis=1, dtype=np.uint8)
    rows = deltas.copy()
    rows[:, :, 0] = first_col
    planes = np.cumsum(rows, axis=2, dtype=np.uint8)
    return HintThumbnail(factor, np.moveaxis(planes, 0, -1).view(np.int8).copy())


def describe_payload(payload: bytes) -> str:
    """Level of a hINT payload from its header alone (for ``info``); "damaged" if unreadable."""
    try:
        if payload[:1] == b"\x00":
            _, _, factor, step, _, _ = _HEADER_V2.unpack_from(payload)
        else:
            factor, step = _HEADER.unpack_from(payload)[0], 1
    except struct.error:
        return "damaged"
    return HintThumbnail(factor, np.zeros((0, 0, 2), np.int8), step).level


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
