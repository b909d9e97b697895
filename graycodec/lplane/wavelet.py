"""Mode 5 (``wavelet``): a lossy transform coder for mid and low rates (no per-pixel bound).

    plane ─5/3 integer lifting, L levels─▶ subbands ─deadzone quantiser, step per subband─▶
    indices ─class by parent and sibling magnitudes─▶ 12 streams (+ LL, + escapes) ─▶ zstd each

Near-lossless coding spends its bits on a uniform ±D error everywhere; at D = 8–11 a transform
coder reaches the same mean error for far fewer bits (docs/BENCHMARKS.md, "Lightness at mid
rates"). The transform is JPEG 2000's reversible LeGall 5/3 (integer lifting, symmetric
extension), so the decoder computes every value in integers and decodes the same plane on
every platform. The encoder chooses one quantiser step per subband (a base step Δ scaled by
the subband's synthesis gain, so that each subband's error costs the same in the plane), and
a reconstruction offset per subband: the centroid of the coefficients in their bins, measured
at the encoder (bias-cancelling dequantisation, a byte per subband). Both are in the payload;
the decoder needs nothing else.

Entropy stage: every quantisation index is a byte (zigzag, 255 escapes to a 16-bit value in
the escape stream) in one of 12 streams chosen by a context the decoder also has before it
reads the index: the magnitudes of the co-located index of the coarser subband of the same
orientation (its parent) and its 3 × 3 neighbours, and of the subbands of the same level
decoded before it (HL before LH before HH). Decoding is vectorised (numpy), a subband at a time.

The bitstream is specified in docs/FORMAT.md §4 (mode 5). The header's max_error D (1..64) is
the encoder's base step in quarters of three plane units (Δ = 3D / 4: D = 64 is Δ = 48);
decoders only check its range.
"""
from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ._zstd import compress_stream, decompress_into, get_varints, put_varint

MAX_LEVELS = 8
N_CLASSES = 12
N_STREAMS = N_CLASSES + 2  # the classes, then LL, then escapes
LL_STREAM = N_CLASSES
ESC_STREAM = N_CLASSES + 1
ESCAPE = 255
# class of a context value c = 2·|parent| + (sum of the parent's 3×3 magnitudes + 4) // 9 + siblings
CLASS_THRESHOLDS = (1, 2, 3, 4, 6, 8, 11, 15, 20, 28, 40)  # class = number of thresholds ≤ c

# encoder choices (not part of the format)
MIN_SIDE = 16  # levels are added while the low band's shorter side stays at least this
DEADZONE_ROUNDING = 0.33  # |q| = floor(|c| / step + r): below 0.5 widens the zero bin


# --- the transform (integer lifting; FORMAT.md §4, mode 5) -----------------------------------
def _fwd_1d(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """One 5/3 analysis step along ``axis``: (low, high), ceil(n/2) and floor(n/2) long."""
    x = np.moveaxis(x, axis, 0)
    n = x.shape[0]
    even, odd = x[0::2], x[1::2]
    if n == 1:
        return np.moveaxis(even.copy(), 0, axis), np.moveaxis(odd.copy(), 0, axis)
    right = np.concatenate([even[1:], even[-1:]]) if n % 2 == 0 else even[1:]  # x[2i+2], mirrored
    d = odd - ((even[:odd.shape[0]] + right[:odd.shape[0]]) >> 1)
    dl = np.concatenate([d[:1], d])  # d[i-1], d[-1] mirrored to d[0]
    dr = d if even.shape[0] == d.shape[0] else np.concatenate([d, d[-1:]])  # d[i], past the end mirrored
    s = even + ((dl[:even.shape[0]] + dr + 2) >> 2)
    return np.moveaxis(s, 0, axis), np.moveaxis(d, 0, axis)


def _inv_1d(s: np.ndarray, d: np.ndarray, axis: int) -> np.ndarray:
    """Inverse of :func:`_fwd_1d`."""
    s, d = np.moveaxis(s, axis, 0), np.moveaxis(d, axis, 0)
    n = s.shape[0] + d.shape[0]
    if n == 1:
        return np.moveaxis(s.copy(), 0, axis)
    dl = np.concatenate([d[:1], d])
    dr = d if s.shape[0] == d.shape[0] else np.concatenate([d, d[-1:]])
    even = s - ((dl[:s.shape[0]] + dr + 2) >> 2)
    right = np.concatenate([even[1:], even[-1:]]) if n % 2 == 0 else even[1:]
    odd = d + ((even[:d.shape[0]] + right[:d.shape[0]]) >> 1)
    out = np.empty((n,) + s.shape[1:], s.dtype)
    out[0::2], out[1::2] = even, odd
    return np.moveaxis(out, 0, axis)


def band_shapes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Shapes of the subbands in payload order: LL_L, then HL, LH, HH of level L … 1."""
    shapes, h, w = [], height, width
    for _ in range(levels):
        hl, wl = (h + 1) // 2, (w + 1) // 2
        shapes.append([(hl, w - wl), (h - hl, wl), (h - hl, w - wl)])  # HL, LH, HH
        h, w = hl, wl
    out = [(h, w)]
    for level in reversed(shapes):
        out += level
    return out


def forward(plane: np.ndarray, levels: int) -> list[np.ndarray]:
    """Subbands (int64) in payload order; HL = high horizontally, low vertically."""
    ll = plane.astype(np.int64)
    details = []
    for _ in range(levels):
        lo, hi = _fwd_1d(ll, 1)  # columns split: horizontal low / high
        ll, lh = _fwd_1d(lo, 0)
        hl, hh = _fwd_1d(hi, 0)
        details.append([hl, lh, hh])
    out = [ll]
    for level in reversed(details):
        out += level
    return out


def inverse(bands: list[np.ndarray], levels: int) -> np.ndarray:
    ll = bands[0]
    for j in range(levels):
        hl, lh, hh = bands[1 + 3 * j: 4 + 3 * j]
        lo = _inv_1d(ll, lh, 0)
        hi = _inv_1d(hl, hh, 0)
        ll = _inv_1d(lo, hi, 1)
    return ll


def choose_levels(height: int, width: int) -> int:
    levels, h, w = 0, height, width
    while levels < MAX_LEVELS and min((h + 1) // 2, (w + 1) // 2) >= MIN_SIDE:
        h, w, levels = (h + 1) // 2, (w + 1) // 2, levels + 1
    return levels


_GAIN_CACHE: dict = {}


def synthesis_gains(levels: int) -> list[float]:
    """L2 norm of each subband's synthesis basis function (float 5/3 on a large plane): a step
    of Δ / gain in the subband costs the plane about the same error as Δ would."""
    if levels not in _GAIN_CACHE:
        size = 16 << levels
        shapes = band_shapes(size, size, levels)
        gains = []
        for b, (h, w) in enumerate(shapes):
            bands = [np.zeros(s, np.int64) for s in shapes]
            bands[b][h // 2, w // 2] = 1 << 20
            gains.append(float(np.sqrt((inverse(bands, levels).astype(np.float64) ** 2).sum())) / (1 << 20))
        _GAIN_CACHE[levels] = gains
    return _GAIN_CACHE[levels]


# --- contexts -------------------------------------------------------------------------------
_CLASS_LUT = np.searchsorted(np.array(CLASS_THRESHOLDS), np.arange(4096), side="right").astype(np.uint8)


def _expand(parent: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A coarser subband's values at each position of a finer one ((y // 2, x // 2), clamped)."""
    ys = np.minimum(np.arange(shape[0]) // 2, parent.shape[0] - 1)
    xs = np.minimum(np.arange(shape[1]) // 2, parent.shape[1] - 1)
    return parent[np.ix_(ys, xs)]


def _box3(a: np.ndarray) -> np.ndarray:
    """Sum over each 3 × 3 neighbourhood (edges replicated)."""
    p = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return sum(p[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))


def classes(mags: list[np.ndarray], b: int) -> np.ndarray:
    """Stream class of every index of detail subband b, from the magnitudes already decoded."""
    shape = mags[b].shape
    orient = (b - 1) % 3
    c = np.zeros(shape, np.int64)
    if shape[0] == 0 or shape[1] == 0:
        return c.astype(np.uint8)
    parent = b - 3
    if parent >= 1 and mags[parent].size:
        pm = np.minimum(mags[parent], 1000)
        c += 2 * _expand(pm, shape) + (_expand(_box3(pm), shape) + 4) // 9
    for sib in range(b - orient, b):  # HL for LH; HL and LH for HH (same level, same size or ±1)
        s = mags[sib]
        if s.size:
            c += _expand_same(np.minimum(s, 1000), shape)
    return _CLASS_LUT[np.minimum(c, 4095)]


def _expand_same(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A subband of the same level at the positions of another (sizes differ by at most one)."""
    ys = np.minimum(np.arange(shape[0]), a.shape[0] - 1)
    xs = np.minimum(np.arange(shape[1]), a.shape[1] - 1)
    return a[np.ix_(ys, xs)]


# --- quantisation ---------------------------------------------------------------------------
def dequantize(q: np.ndarray, step16: int, offset16: int) -> np.ndarray:
    """Coefficient of index q: sign(q) · ((|q|·16 + offset16 − 8) · step16 + 128) >> 8, 0 for q = 0."""
    mag = ((np.abs(q) * 16 + offset16 - 8) * step16 + 128) >> 8
    return np.where(q == 0, 0, np.sign(q) * mag)


def _quantize(c: np.ndarray, step: float, rounding: float) -> tuple[np.ndarray, int]:
    """Indices and the centroid offset (in 1/16, 0..15) that the decoder reconstructs at."""
    a = np.abs(c) / step
    mag = np.floor(a + rounding).astype(np.int64)
    q = np.sign(c) * mag
    nz = mag > 0
    frac = float((a[nz] - mag[nz]).mean()) if nz.any() else 0.0
    return q, int(np.clip(np.round(16 * frac + 8), 0, 15))


def _zigzag(q: np.ndarray) -> np.ndarray:
    return np.where(q > 0, 2 * q - 1, -2 * q)


def _unzigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v & 1, (v + 1) >> 1, -(v >> 1))


# --- payload ------------------------------------------------------------------------------
def encode(plane: np.ndarray, max_error: int, rounding: float = DEADZONE_ROUNDING) -> bytes:
    """Mode 5 payload; max_error D ≥ 1 sets the base step Δ = 3D / 4 (plane units)."""
    if max_error < 1:
        raise ValueError("wavelet mode: max_error (the base step Δ = 3D / 4) must be at least 1")
    height, width = plane.shape
    levels = choose_levels(height, width)
    bands = forward(plane, levels)
    gains = synthesis_gains(levels)
    base = 0.75 * max_error
    head = bytearray([levels])
    qs, mags = [], []
    for b, c in enumerate(bands):
        step16 = int(np.clip(np.round(16 * base / gains[b]), 16, 65535))
        if b == 0:
            q, off16 = np.sign(c) * np.floor(np.abs(c) * 16 / step16 + 0.5).astype(np.int64), 8
        else:
            q, off16 = _quantize(c, step16 / 16, rounding)
        head += step16.to_bytes(2, "big") + bytes([off16])
        qs.append(q)
        mags.append(np.abs(q))
    # streams
    ll = qs[0]
    if ll.size:
        delta = np.diff(ll, axis=1, prepend=0)
        delta[:, 0] = np.diff(ll[:, 0], prepend=0)
    else:
        delta = ll
    parts = [[] for _ in range(N_STREAMS)]
    values = [_zigzag(delta.reshape(-1))]
    targets = [np.full(delta.size, LL_STREAM, np.uint8)]
    for b in range(1, len(qs)):
        values.append(_zigzag(qs[b].reshape(-1)))
        targets.append(classes(mags, b).reshape(-1))
    v = np.concatenate(values)
    k = np.concatenate(targets)
    esc = v >= ESCAPE
    escapes = v[esc] - ESCAPE
    if escapes.size and escapes.max() > 0xFFFF:
        raise ValueError("wavelet mode: a coefficient index too large to code")  # never for 8-bit planes
    v = np.minimum(v, ESCAPE).astype(np.uint8)
    for s in range(N_STREAMS):
        parts[s] = v[k == s]
    parts[ESC_STREAM] = escapes.astype(">u2").view(np.uint8)
    frames = [compress_stream(p) for p in parts]
    table = b"".join(put_varint(int(p.size)) + put_varint(len(f)) for p, f in zip(parts, frames))
    return bytes(head) + table + b"".join(frames)


def decode(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    if len(payload) < 1 or payload[0] > MAX_LEVELS:
        raise FormatError("lightness plane: mode 5 level count missing or over the limit")
    levels = payload[0]
    shapes = band_shapes(height, width, levels)
    nb = len(shapes)
    pos = 1 + 3 * nb
    if len(payload) < pos:
        raise FormatError("lightness plane: mode 5 subband table truncated")
    steps = [(int.from_bytes(payload[1 + 3 * b:3 + 3 * b], "big"), payload[3 + 3 * b]) for b in range(nb)]
    if any(s < 1 or o > 15 for s, o in steps):
        raise FormatError("lightness plane: mode 5 step 0 or reconstruction offset over 15")
    head, pos = get_varints(payload, pos, 2 * N_STREAMS, "mode 5 stream table")
    raw, comp = head[0::2], head[1::2]
    n_detail = sum(h * w for h, w in shapes[1:])
    ll_size = shapes[0][0] * shapes[0][1]
    if sum(raw[:N_CLASSES]) != n_detail or raw[LL_STREAM] != ll_size or raw[ESC_STREAM] % 2:
        raise FormatError("lightness plane: mode 5 stream lengths do not add up to the subband sizes")
    if raw[ESC_STREAM] > 2 * (n_detail + ll_size):
        raise FormatError("lightness plane: mode 5 escape stream longer than the coefficients")
    if pos + sum(comp) != len(payload):
        raise FormatError("lightness plane: mode 5 compressed lengths do not match the payload size")
    streams = []
    for s in range(N_STREAMS):
        buf = np.empty(raw[s], np.uint8)
        decompress_into(payload[pos:pos + comp[s]], buf, "mode 5 stream", s)
        pos += comp[s]
        streams.append(buf)
    escapes = streams[ESC_STREAM].view(">u2").astype(np.int64)
    esc_ptr = 0

    def unescape(v):
        nonlocal esc_ptr
        v = v.astype(np.int64)
        idx = np.flatnonzero(v == ESCAPE)
        if esc_ptr + idx.size > escapes.size:
            raise FormatError("lightness plane: mode 5 escape stream ended early")
        v[idx] += escapes[esc_ptr:esc_ptr + idx.size]
        esc_ptr += idx.size
        return v

    # LL: zigzag deltas (left neighbour; first column: the one above)
    h0, w0 = shapes[0]
    delta = _unzigzag(unescape(streams[LL_STREAM])).reshape(h0, w0)
    if delta.size:
        delta[:, 0] = np.cumsum(delta[:, 0])
    qs = [np.cumsum(delta, axis=1)]
    mags = [np.abs(qs[0])]
    ptr = [0] * N_CLASSES
    for b in range(1, nb):
        mags.append(np.zeros(shapes[b], np.int64))  # classes() reads only earlier subbands
        cls = classes(mags, b).reshape(-1)
        v = np.empty(cls.size, np.int64)
        for k in np.unique(cls):
            idx = np.flatnonzero(cls == k)
            if ptr[k] + idx.size > raw[k]:
                raise FormatError(f"lightness plane: mode 5 stream {k} ended early")
            v[idx] = streams[k][ptr[k]:ptr[k] + idx.size]
            ptr[k] += idx.size
        q = _unzigzag(unescape(v)).reshape(shapes[b])
        qs.append(q)
        mags[b] = np.abs(q)
    if ptr != raw[:N_CLASSES] or esc_ptr != escapes.size:
        raise FormatError("lightness plane: mode 5 data inconsistent (a stream has unused values)")
    bands = [dequantize(q, *steps[b]) for b, q in enumerate(qs)]
    return np.clip(inverse(bands, levels), 0, 255).astype(np.uint8)
