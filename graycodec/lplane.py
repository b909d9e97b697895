"""Lightness plane coding: predictive coding of an 8-bit plane with zstandard as entropy stage.

    encode_plane(plane, max_error=D, mode=m) -> (m, payload)
    decode_plane(m, payload, width, height, D) -> plane

    mode 1 (med):       q = (x + D) // (2D + 1) ─MED prediction─▶ residual mod M ─▶ one zstd frame
    mode 2 (gap-ctx16): GAP prediction ─texture/activity context bias correction─▶ error,
                        quantized in the loop when D ≥ 1 ─folded to 0..hi-lo─▶ 16 streams by
                        local activity ─▶ one zstd frame each (default mode)

Every mode id ever written stays decodable (docs/FORMAT.md §4 specifies them bit-exactly).
Decoding is sequential (each prediction needs the pixels decoded just before), so the pixel
loops are compiled with numba: it is made for exactly this (tight integer loops over numpy
arrays), well kept, already a dependency, and ``cache=True`` keeps the JIT cost to the first
run on a machine. The kernels check every stream read themselves (numba does no bounds checks),
so damaged payloads raise :class:`FormatError` and never read or write out of bounds.
"""
from __future__ import annotations

import functools
import operator

import numpy as np
import zstandard
from numba import njit
from numba import uint64 as U

from .errors import FormatError

MODE_MED = 1  # median edge detector (LOCO-I) prediction, one zstd stream
MODE_GAP = 2  # GAP prediction, texture/energy bias correction, 16 activity streams
DEFAULT_MODE = MODE_GAP
MODE_NAMES = {MODE_MED: "med", MODE_GAP: "gap-ctx16"}
MAX_ERROR_LIMIT = 64  # largest accepted max_error (near-lossless bound)

# --- mode 2 constants (part of the format: never change them, add a mode instead) --------
N_STREAMS = 16
# activity thresholds: class k = number of thresholds below activity (searchsorted 'left')
ACT_THRESHOLDS = (3, 6, 10, 14, 19, 25, 32, 40, 50, 62, 76, 92, 112, 140, 180)
ACT_MAX = 2047
BIAS_HALVE_AT = 256  # context counts are halved when they reach this
_ACT_LUT = np.searchsorted(np.array(ACT_THRESHOLDS), np.arange(ACT_MAX + 1), side="left")
_RECIP16 = np.array([0] + [65536 // n for n in range(1, BIAS_HALVE_AT + 1)])
# the kernel's flat int32 table: offsets of its parts
_T_ACT = 0  # activity -> stream class
_T_RECIP = _T_ACT + ACT_MAX + 1  # n -> 65536 // n
_T_QLO = _T_RECIP + BIAS_HALVE_AT + 1  # predicted value p -> smallest quantized error
_T_QHI = _T_QLO + 256  # p -> largest quantized error
_T_QERR = _T_QHI + 256  # e + 255 -> quantized error
_HALVE_AT = BIAS_HALVE_AT


# zstd is the entropy stage. Its Huffman literal coder does the work on residual streams, and
# the matches that mid levels find cost more than they save; min_match 7 with the fast strategy
# keeps zstd (nearly) literal-only and fast. Streams of low entropy (smooth areas, and most of a
# near-lossless plane) gain from zstd's optimal parser instead, which turns runs of small values
# into cheap matches; the encoder tries it there and keeps the smaller frame. The decoder does
# not depend on any of these settings.
_ZSTD_LITERAL = zstandard.ZstdCompressionParameters(
    strategy=zstandard.STRATEGY_FAST, min_match=7, window_log=17, hash_log=10, search_log=1,
    target_length=0, write_content_size=True, write_checksum=False,
)
_ZSTD_OPTIMAL = zstandard.ZstdCompressionParameters(
    strategy=zstandard.STRATEGY_BTOPT, min_match=3, window_log=17, chain_log=12, hash_log=12,
    search_log=1, target_length=16, write_content_size=True, write_checksum=False,
)
_OPTIMAL_BELOW_BITS = 3.0  # try the optimal parser on streams below this entropy (bits/value)


def alphabet_size(max_error: int) -> int:
    """Number of distinct quantized values M for the near-lossless bound D (256 when lossless)."""
    return (255 + max_error) // (2 * max_error + 1) + 1


# --- public API ------------------------------------------------------------------------
def encode_plane(plane: np.ndarray, *, max_error: int = 0, mode: int | None = None) -> tuple[int, bytes]:
    """Code an 8-bit plane (H, W); returns (mode id, payload). ``max_error`` D bounds |decoded − plane|."""
    plane = np.asarray(plane)
    if plane.dtype != np.uint8 or plane.ndim != 2 or plane.size == 0:
        raise ValueError(f"plane must be a non-empty uint8 (H, W) array, got {plane.dtype} {plane.shape}")
    _check_max_error(max_error, ValueError)
    mode = DEFAULT_MODE if mode is None else mode
    if mode not in MODE_NAMES:
        raise ValueError(f"unknown lightness coding mode {mode}")
    if mode == MODE_MED:
        return mode, _encode_med(quantize(plane, max_error), alphabet_size(max_error))
    return mode, _encode_gap(plane, max_error)


def decode_plane(mode: int, payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    """Decode a payload made by :func:`encode_plane`; FormatError when it is damaged."""
    try:
        width, height = operator.index(width), operator.index(height)
    except TypeError:
        raise FormatError(f"lightness plane: invalid size {width!r}x{height!r}") from None
    if width < 1 or height < 1:
        raise FormatError(f"lightness plane: invalid size {width}x{height}")
    _check_max_error(max_error, FormatError)
    if mode not in MODE_NAMES:
        raise FormatError(f"lightness plane: unknown coding mode {mode}")
    payload = bytes(payload)
    if mode == MODE_MED:
        return dequantize(_decode_med(payload, width, height, alphabet_size(max_error)), max_error)
    return _decode_gap(payload, width, height, max_error)


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


def _check_max_error(max_error, exc):
    if not isinstance(max_error, (int, np.integer)) or not 0 <= max_error <= MAX_ERROR_LIMIT:
        raise exc(f"max_error must be an integer in 0..{MAX_ERROR_LIMIT}, got {max_error!r}")


# --- zstd helpers ----------------------------------------------------------------------
def _compress(data: np.ndarray, params=_ZSTD_LITERAL) -> bytes:
    if data.size == 0:
        return b""
    return zstandard.ZstdCompressor(compression_params=params).compress(data.tobytes())


def _entropy_bits(data: np.ndarray) -> float:
    """Zeroth-order entropy of a uint8 array in bits per value."""
    freq = np.bincount(data, minlength=256)
    prob = freq[freq > 0] / data.size
    return float(-(prob * np.log2(prob)).sum())


def _compress_stream(data: np.ndarray) -> bytes:
    """The smaller of the literal-only frame and, for low-entropy streams, the optimal-parser one."""
    frame = _compress(data)
    if data.size >= 64 and _entropy_bits(data) < _OPTIMAL_BELOW_BITS:
        other = _compress(data, _ZSTD_OPTIMAL)
        if len(other) < len(frame):
            frame = other
    return frame


def _decompress_into(frame: bytes, out: np.ndarray, what: str) -> None:
    """Decompress one zstd frame into ``out`` after checking it declares exactly ``out.size`` bytes."""
    size = out.size
    if size == 0:
        if frame:
            raise FormatError(f"lightness plane: {what}: data for an empty stream")
        return
    try:
        declared = zstandard.get_frame_parameters(frame).content_size
    except zstandard.ZstdError as exc:
        raise FormatError(f"lightness plane: {what}: bad zstd frame header ({exc})") from None
    if declared != size:  # also rejects an unknown content size
        raise FormatError(f"lightness plane: {what}: zstd frame declares {declared} bytes, expected {size}")
    try:
        raw = zstandard.ZstdDecompressor().decompress(frame, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise FormatError(f"lightness plane: {what}: corrupt zstd data ({exc})") from None
    if len(raw) != size:
        raise FormatError(f"lightness plane: {what}: decompressed {len(raw)} bytes, expected {size}")
    out[:] = np.frombuffer(raw, dtype=np.uint8)


# --- mode 1: MED ------------------------------------------------------------------------
def _med_padded(q: np.ndarray, m: int) -> np.ndarray:
    """Plane with one row above (value M//2) and one column left (the pixel above row's first)."""
    h, w = q.shape
    b = np.empty((h + 1, w + 1), np.int16)
    b[1:, 1:] = q
    b[0, :] = m // 2
    b[1:, 0] = b[:-1, 1]
    return b


def _encode_med(q: np.ndarray, m: int) -> bytes:
    b = _med_padded(q, m)
    a, n, c = b[1:, :-1], b[:-1, 1:], b[:-1, :-1]
    mx, mn = np.maximum(a, n), np.minimum(a, n)
    pred = np.where(c >= mx, mn, np.where(c <= mn, mx, a + n - c))
    res = ((b[1:, 1:] - pred) % m).astype(np.uint8)
    return _compress(res.reshape(-1))


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


def _decode_med(payload: bytes, width: int, height: int, m: int) -> np.ndarray:
    res = np.empty(width * height, np.uint8)
    _decompress_into(payload, res, "mode 1 residuals")
    out, rc = _med_kernel(res, height, width, m)
    if rc:
        raise FormatError("lightness plane: mode 1 residual out of range")
    return out[1:, 1:].astype(np.uint8)


# --- mode 2: GAP + context bias correction + activity streams -----------------------------


def _put_varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _get_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    value = 0
    for i in range(5):  # at most 35 bits
        if pos + i >= len(data):
            raise FormatError(f"lightness plane: {what} truncated")
        byte = data[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise FormatError(f"lightness plane: {what} has an over-long varint")


@njit(cache=True)
def _gap_kernel(buf, h, w, step, lut, vals, cls, data, starts, ends, decode):  # pragma: no cover - compiled
    """Mode 2 coder, shared by the encoder (decode=False) and decoder so both see the same contexts.

    buf: (h + 2) x (w + 3) uint8, flattened; pixel (y, x) at row y + 2, column x + 2. Rows 0-1
    are set to 128; columns 0-1 of a row to the first pixel of the row above; column w + 2 to
    the row's last pixel. lut: the constant tables of :func:`_kernel_tables`. Near-lossless
    (step = 2D + 1 > 1): the prediction error is quantized in the loop; the reconstruction
    replaces the pixel and feeds later predictions (D = 0 is the lossless special case).
    Encoder: writes each pixel's folded value and stream to vals / cls in raster order.
    Decoder: reads stream k from data[starts[k]:ends[k]]. Returns 0, or when decoding -1 (a
    stream ended early), -2 (a value outside the alphabet), -3 (a stream not used up).
    Written for speed: one small flat table, unsigned indices (no wraparound code), neighbours
    carried in registers, GAP's weights from comparisons instead of branches, the bias
    correction of each context kept ready next to its sum and count (int32: stays in L1).
    """
    wp = w + 3
    bias = np.zeros(2048 * 4, np.int32)  # per context: error sum, count, correction (1/8 units)
    for i in range(2048):
        bias[4 * i + 1] = 1
    err = np.zeros(2 * wp, np.int32)
    ptr = np.zeros(16, np.int64)
    end = np.zeros(16, np.int64)
    for k in range(16):
        ptr[k] = starts[k]
        end[k] = ends[k]
    cnt = 0
    for i in range(2 * wp):
        buf[U(i)] = 128
    for j in range(h):
        r = (j + 2) * wp
        eo = (j & 1) * wp
        eu = wp - eo
        buf[U(r)] = buf[U(r - wp + 2)]
        buf[U(r + 1)] = buf[U(r - wp + 2)]
        # neighbours of the row's first pixel; later ones are carried from pixel to pixel
        vn = np.int64(buf[U(r - wp + 2)])
        vw = vww = vn
        vnw = np.int64(buf[U(r - wp + 1)])
        vnn = np.int64(buf[U(r - 2 * wp + 2)])
        ew = np.int64(0)
        en = err[U(eu + 2)]
        for o in range(r + 2, r + w + 2):
            c = o - r
            vne = np.int64(buf[U(o - wp + 1)])
            vnne = np.int64(buf[U(o - 2 * wp + 1)])
            ene = err[U(eu + c + 1)]
            dh = abs(vw - vww) + abs(vn - vnw) + abs(vn - vne)
            dv = abs(vw - vnw) + abs(vn - vnn) + abs(vne - vnne)
            d = dv - dh
            t = 4 * (vw + vn) + 2 * (vne - vnw)
            # CALIC's GAP: weight of W (beta) or N (gamma) against t, in quarters (FORMAT.md §4)
            beta = np.int64(d > 8) + np.int64(d > 32) + 2 * np.int64(d > 80)
            gamma = np.int64(d < -8) + np.int64(d < -32) + 2 * np.int64(d < -80)
            p8 = (4 * t + beta * (8 * vw - t) + gamma * (8 * vn - t)) >> 2
            pi = (p8 + 4) >> 3
            # texture: bit i set when the i-th neighbour is below the prediction (sign-bit tricks)
            tex = ((((vn - pi) >> 63) & 1) | (((vw - pi) >> 62) & 2) | (((vnw - pi) >> 61) & 4)
                   | (((vne - pi) >> 60) & 8) | (((vnn - pi) >> 59) & 16) | (((vww - pi) >> 58) & 32)
                   | (((2 * vn - vnn - pi) >> 57) & 64) | (((2 * vw - vww - pi) >> 56) & 128))
            act = min(dh + dv + 2 * ew + en + ene, ACT_MAX)
            k = lut[U(_T_ACT + act)]
            ctx = 4 * (tex * 8 + (k >> 1))
            q8 = p8 + bias[U(ctx + 2)]
            p = min(max((q8 + 4) >> 3, 0), 255)
            f = -np.int64(8 * p > q8)
            if step == 1:
                lo = -p
                hi = 255 - p
            else:
                lo = lut[U(_T_QLO + p)]
                hi = lut[U(_T_QHI + p)]
            lim = min(-lo, hi)
            if decode:
                i = ptr[U(k)]
                if i >= end[U(k)]:
                    return -1
                v = np.int64(data[U(i)])
                ptr[U(k)] = i + 1
                if v > hi - lo:
                    return -2
                if v <= 2 * lim:
                    hh = (v + 1) >> 1
                    g = (v & 1) - 1
                    e = (((hh ^ g) - g) ^ f) - f
                elif lim == -lo:
                    e = v - lim
                else:
                    e = lim - v
            else:
                e = lut[U(_T_QERR + 255 + np.int64(buf[U(o)]) - p)]
                ae = abs(e)
                if ae <= lim:
                    a = (e ^ f) - f
                    v = 2 * a - 1 if a > 0 else -2 * a
                else:
                    v = ae + lim
                vals[U(cnt)] = v
                cls[U(cnt)] = k
                cnt += 1
            if step == 1:
                x = p + e
            else:
                x = min(max(p + e * step, 0), 255)
            buf[U(o)] = x
            ax = abs(x - p)
            err[U(eo + c)] = ax
            bs = bias[U(ctx)] + 8 * x - p8
            bn = bias[U(ctx + 1)] + 1
            if bn >= _HALVE_AT:
                bs >>= 1
                bn >>= 1
            bias[U(ctx)] = bs
            bias[U(ctx + 1)] = bn
            bias[U(ctx + 2)] = (np.int64(bs) * lut[U(_T_RECIP + bn)]) >> 16
            vww, vw, vnw, vn, vnn, ew, en = vw, x, vn, vne, vnne, ax, ene
        buf[U(r + w + 2)] = buf[U(r + w + 1)]
    if decode:
        for k in range(16):
            if ptr[k] != end[k]:
                return -3
    return 0


@njit(cache=True)
def _split_streams(vals, cls, nstreams):  # pragma: no cover - compiled
    """Stable counting sort of ``vals`` by class: stream k is out[off[k]:off[k + 1]]."""
    off = np.zeros(nstreams + 1, np.int64)
    for i in range(cls.shape[0]):
        off[cls[i] + 1] += 1
    for k in range(nstreams):
        off[k + 1] += off[k]
    pos = off[:-1].copy()
    out = np.empty_like(vals)
    for i in range(cls.shape[0]):
        k = cls[i]
        out[pos[k]] = vals[i]
        pos[k] += 1
    return out, off


@functools.lru_cache(maxsize=None)
def _kernel_tables(max_error: int) -> tuple[int, np.ndarray]:
    """step = 2D + 1 and the mode 2 kernel's flat int32 table for the bound D."""
    step = 2 * max_error + 1
    e = np.arange(-255, 256)
    qerr = np.sign(e) * ((np.abs(e) + max_error) // step)  # round |e| to the nearest multiple of step
    p = np.arange(256)
    lo, hi = qerr[255 - p], qerr[255 + 255 - p]  # quantized errors of x = 0 and x = 255
    lut = np.concatenate([_ACT_LUT, _RECIP16, lo, hi, qerr]).astype(np.int32)
    lut.setflags(write=False)
    return step, lut


def _encode_gap(plane: np.ndarray, max_error: int) -> bytes:
    height, width = plane.shape
    buf = np.empty((height + 2, width + 3), np.uint8)
    buf[2:, 2:width + 2] = plane
    vals = np.empty(plane.size, np.uint8)
    cls = np.empty(plane.size, np.uint8)
    none = np.zeros(N_STREAMS, np.int64)
    _gap_kernel(buf.reshape(-1), height, width, *_kernel_tables(max_error), vals, cls, vals, none, none, False)
    del buf
    out, off = _split_streams(vals, cls, N_STREAMS)
    del vals, cls
    frames = [_compress_stream(out[off[k]:off[k + 1]]) for k in range(N_STREAMS)]
    table = b"".join(_put_varint(int(off[k + 1] - off[k])) + _put_varint(len(f)) for k, f in enumerate(frames))
    return table + b"".join(frames)


def _decode_gap(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    pos, sizes = 0, []
    for k in range(N_STREAMS):
        raw, pos = _get_varint(payload, pos, "mode 2 stream table")
        comp, pos = _get_varint(payload, pos, "mode 2 stream table")
        sizes.append((raw, comp))
    if sum(r for r, _ in sizes) != width * height:
        raise FormatError("lightness plane: mode 2 stream lengths do not add up to the pixel count")
    if pos + sum(c for _, c in sizes) != len(payload):
        raise FormatError("lightness plane: mode 2 compressed lengths do not match the payload size")
    data = np.empty(width * height, np.uint8)
    off = np.zeros(N_STREAMS + 1, np.int64)
    for k, (raw, comp) in enumerate(sizes):
        off[k + 1] = off[k] + raw
        _decompress_into(payload[pos:pos + comp], data[off[k]:off[k + 1]], f"mode 2 stream {k}")
        pos += comp
    buf = np.empty((height + 2, width + 3), np.uint8)
    rc = _gap_kernel(buf.reshape(-1), height, width, *_kernel_tables(max_error), data, data, data, off[:-1],
                     off[1:], True)
    if rc:
        why = {-1: "a stream ended early", -2: "a value outside the alphabet", -3: "a stream has unused values"}
        raise FormatError(f"lightness plane: mode 2 data inconsistent ({why[rc]})")
    return buf[2:, 2:width + 2].copy()
