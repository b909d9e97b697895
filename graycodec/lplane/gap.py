"""Mode 2 (``gap-ctx16``): CALIC's GAP predictor, texture/activity context bias correction,
near-lossless quantization in the loop, residuals split into 16 zstd streams by local activity.

The bitstream is specified in docs/FORMAT.md §4; ``_gap_kernel`` is the reference coder (the
encoder uses it), ``_gap_decode`` a faster decoder that computes the same values.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit
from numba import uint64 as U

from ..errors import FormatError
from ._zstd import compress_stream, decompress_into, get_varints, put_varint

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


@njit(inline="always")
def _unfold(v, lo, lim, f):  # pragma: no cover - compiled
    """The quantized error coded as value v (FORMAT.md §4 step 8, decoder side): small errors
    alternate in sign (sign flipped when f = -1), larger ones lie on the one side with room."""
    if v <= 2 * lim:
        half = (v + 1) >> 1
        odd = (v & 1) - 1
        return (((half ^ odd) - odd) ^ f) - f
    if lim == -lo:
        return v - lim
    return lim - v


@njit(inline="always")
def _pad_top(buf, wp):  # pragma: no cover - compiled
    """Rows 0-1 of the kernels' buffer: the constant 128 above the plane (FORMAT.md §4)."""
    for i in range(2 * wp):
        buf[U(i)] = 128


@njit(inline="always")
def _pad_left(buf, r, wp):  # pragma: no cover - compiled
    """Columns 0-1 of the row starting at r: the first pixel of the row above."""
    buf[U(r)] = buf[U(r - wp + 2)]
    buf[U(r + 1)] = buf[U(r - wp + 2)]


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
    ptr = starts.copy()  # next value of each stream
    end = ends.copy()
    cnt = 0
    _pad_top(buf, wp)
    for j in range(h):
        r = (j + 2) * wp
        eo = (j & 1) * wp
        eu = wp - eo
        _pad_left(buf, r, wp)
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
                e = _unfold(v, lo, lim, f)
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


# --- the decoder ---------------------------------------------------------------------------
# Decoding is sequential, and _gap_kernel's decode path is slow at it: ~240 instructions a
# pixel. The decoders below compute exactly the same values (tests compare them with it on
# valid and damaged payloads) with fewer: the terms that only depend on the rows above are
# computed for a whole row first (a loop LLVM vectorizes), GAP's weight is chosen by masks
# instead of six comparisons and two products, near-lossless reconstructs a pixel from its
# coded value (unfolding, de-quantizing, clamping, the alphabet check) with one lookup in a
# table made for the bound D, lossless and near-lossless are compiled apart, the bias tables
# are compact (they stay in L1 next to the rest), and the streams are checked once a row
# instead of once a pixel, which is safe because a stream that runs out can only be read past
# its end by less than one row: the caller pads the stream data by decode_padding(w) bytes.
#
# The loop is still bound by its dependency chains (each pixel waits on the one before, through
# W and through the bias tables), so _gap_decode_pair decodes two independent strips in one
# loop, a pixel of each in turn: the processor overlaps the two chains (~10 % less time per
# pixel than two strips one after the other, docs/BENCHMARKS.md).
_ACT_CLASS = _ACT_LUT.astype(np.uint8)  # activity -> stream class


def decode_padding(width: int) -> int:
    """Bytes the stream data handed to the decoders must have after its last stream."""
    return width + 8


@functools.lru_cache(maxsize=None)
def decoder_tables(max_error: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(step, rec, lut) for the decoders: step and lut as for _gap_kernel, and rec the
    reconstructed pixel of every coded value v (0-255), sign flip f (0 or -1) and final
    prediction p (0-255): x = p + step · unfold(v), clamped to 0-255 (FORMAT.md §4 steps 8-9, as _gap_kernel computes it), at
    rec[v·512 + (f < 0)·256 + p], plus 256 when v lies outside p's alphabet (a damaged stream).
    Rows of v are 1 KB: the small values that make most of a near-lossless stream share a few
    cache lines (the lossless decoders compute x instead; the table is defined for D = 0 too)."""
    step, lut = _kernel_tables(max_error)
    v, f, p = np.meshgrid(np.arange(256), np.array([0, -1]), np.arange(256), indexing="ij")
    if step == 1:
        lo, hi = -p, 255 - p
    else:
        lo, hi = lut[_T_QLO + p].astype(np.int64), lut[_T_QHI + p].astype(np.int64)
    lim = np.minimum(-lo, hi)
    half, odd = (v + 1) >> 1, (v & 1) - 1
    e = np.where(v <= 2 * lim, (((half ^ odd) - odd) ^ f) - f, np.where(lim == -lo, v - lim, lim - v))
    x = np.clip(p + e * step, 0, 255)
    rec = (x + 256 * (v > hi - lo)).astype(np.uint16).reshape(-1)
    rec.setflags(write=False)
    return step, rec, lut


@njit(inline="always")
def _new_lane(wp):  # pragma: no cover - compiled
    """The state of one strip's decoder: bias tables and the per-row work arrays."""
    # S, N, C of FORMAT.md §4 and |x − p| in the smallest types that hold them (|S| < 2^20,
    # N ≤ 255, |C| ≤ 8·255, |x − p| ≤ 255): two strips' state then fits the caches better
    # (bytes for N and |x − p|: ~4 % faster near-lossless pairs, ~1 % lossless)
    bias_sum = np.zeros(2048, np.int32)
    bias_count = np.ones(2048, np.uint8)
    bias_corr = np.zeros(2048, np.int16)
    err = np.zeros(2 * wp, np.uint8)  # |x − p| of the previous and the current row
    above_act = np.empty(wp, np.int16)  # per column: the activity, d and t terms of the rows above
    above_d = np.empty(wp, np.int16)
    above_t = np.empty(wp, np.int16)
    return bias_sum, bias_count, bias_corr, err, above_act, above_d, above_t


@njit(inline="always")
def _row_terms(buf, r, w, wp, eu, lane):  # pragma: no cover - compiled
    """For each column of the row starting at r, the parts of GAP and of the activity that only
    depend on the rows above: activity terms of N, NW, NE, NN, NNE, ε_N, ε_NE (ε of the row
    above at eu in the lane's error rows), their part of dv − dh, their part of t."""
    _, _, _, err, above_act, above_d, above_t = lane
    for c in range(2, w + 2):
        vn = np.int32(buf[U(r - wp + c)])
        vnw = np.int32(buf[U(r - wp + c - 1)])
        vne = np.int32(buf[U(r - wp + c + 1)])
        vnn = np.int32(buf[U(r - 2 * wp + c)])
        vnne = np.int32(buf[U(r - 2 * wp + c + 1)])
        dh_above = abs(vn - vnw) + abs(vn - vne)
        dv_above = abs(vn - vnn) + abs(vne - vnne)
        above_act[U(c)] = dh_above + dv_above + err[U(eu + c)] + err[U(eu + c + 1)]
        above_d[U(c)] = dv_above - dh_above
        above_t[U(c)] = 4 * vn + 2 * (vne - vnw)


@njit(inline="always")
def _decode_pixel(buf, o, c, wp, eo, vw, vww, ew, lane, lossless, rec, lut, data, ptr):  # pragma: no cover - compiled
    """Decode pixel o (column c) into buf and its |x − p| into the lane's error row at eo, given W,
    WW and ε_W; returns (x, |x − p|, bad), bad = 1 when the value read is outside the alphabet.
    Reads its value at ptr[k] and advances it."""
    bias_sum, bias_count, bias_corr, err, above_act, above_d, above_t = lane
    vn = np.int64(buf[U(o - wp)])
    vnw = np.int64(buf[U(o - wp - 1)])
    dww = abs(vw - vww)
    dwn = abs(vw - vnw)
    d = dwn - dww + above_d[U(c)]
    t = 4 * vw + np.int64(above_t[U(c)])
    # GAP (FORMAT.md §4 step 2) without branches, by masks (all ones or zero): the side (W or N)
    # from the sign of d, then the weight from |d|. Branches mispredict on textured rows; whole
    # planes decode ~5 % faster this way (one strip alone, not paired: the same to 2.5 % slower)
    side = -np.int64(d > 0)
    s8 = 8 * (vn ^ ((vn ^ vw) & side))
    ad = abs(d)
    p8 = t ^ ((t ^ ((3 * t + s8) >> 2)) & -np.int64(ad > 8))
    p8 = p8 ^ ((p8 ^ ((t + s8) >> 1)) & -np.int64(ad > 32))
    p8 = p8 ^ ((p8 ^ s8) & -np.int64(ad > 80))
    pi = (p8 + 4) >> 3
    vne = np.int64(buf[U(o - wp + 1)])
    vnn = np.int64(buf[U(o - 2 * wp)])
    tex = (np.int64(vn < pi) | (np.int64(vw < pi) << 1) | (np.int64(vnw < pi) << 2)
           | (np.int64(vne < pi) << 3) | (np.int64(vnn < pi) << 4) | (np.int64(vww < pi) << 5)
           | (np.int64(2 * vn - vnn < pi) << 6) | (np.int64(2 * vw - vww < pi) << 7))
    act = min(np.int64(above_act[U(c)]) + dww + dwn + 2 * ew, ACT_MAX)
    k = np.int64(_ACT_CLASS[U(act)])
    ctx = tex * 8 + (k >> 1)
    q8 = p8 + bias_corr[U(ctx)]
    p = (q8 + 4) >> 3
    if p < 0:
        p = np.int64(0)
    elif p > 255:
        p = np.int64(255)
    i = ptr[U(k)]
    v = np.int64(data[U(i)])  # may be past the stream's end (padding): checked once a row
    ptr[U(k)] = i + 1
    if lossless:  # computed: lossless values spread wider, and the table's rows they use would
        # crowd L1 (the table measured 2-3 % slower here); every byte is in the alphabet
        x = p + _unfold(v, -p, min(p, 255 - p), -np.int64(8 * p > q8))
        bad = np.int64(0)
    else:
        xb = np.int64(rec[U(v * 512 + np.int64(8 * p > q8) * 256 + p)])  # see decoder_tables
        x = xb & 255
        bad = xb >> 8
    buf[U(o)] = x
    ax = abs(x - p)
    err[U(eo + c)] = ax
    bs = np.int64(bias_sum[U(ctx)]) + 8 * x - p8
    bn = np.int64(bias_count[U(ctx)]) + 1
    if bn >= _HALVE_AT:
        bs >>= 1
        bn >>= 1
    bias_sum[U(ctx)] = bs
    bias_count[U(ctx)] = bn
    bias_corr[U(ctx)] = (bs * lut[U(_T_RECIP + bn)]) >> 16
    return x, ax, bad


@njit(inline="always")
def _overrun(ptr, end):  # pragma: no cover - compiled
    """A stream was read past its end (by less than a row: the padding)."""
    for k in range(ptr.shape[0]):
        if ptr[k] > end[k]:
            return True
    return False


@njit(inline="always")
def _leftover(ptr, end):  # pragma: no cover - compiled
    """A stream has values left after the last row."""
    for k in range(ptr.shape[0]):
        if ptr[k] != end[k]:
            return True
    return False


@njit(inline="always")
def _gap_decode_core(buf, h, w, lossless, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    wp = w + 3
    lane = _new_lane(wp)
    ptr = starts.copy()  # next value of each stream
    end = ends.copy()
    _pad_top(buf, wp)
    for j in range(h):
        r = (j + 2) * wp
        eo = (j & 1) * wp
        _pad_left(buf, r, wp)
        _row_terms(buf, r, w, wp, wp - eo, lane)
        vw = vww = np.int64(buf[U(r - wp + 2)])
        ew = np.int64(0)
        for c in range(2, w + 2):
            x, ax, bad = _decode_pixel(buf, r + c, c, wp, eo, vw, vww, ew, lane, lossless, rec, lut, data, ptr)
            if bad:
                return -2
            vww, vw, ew = vw, x, ax
        buf[U(r + w + 2)] = buf[U(r + w + 1)]
        if _overrun(ptr, end):
            return -1
    return -3 if _leftover(ptr, end) else 0


@njit(inline="always")
def _gap_decode_pair_core(buf_a, buf_b, h, w, lossless, rec, lut, data, starts, ends):  # pragma: no cover
    """Two strips of the same size at once: buf_a, buf_b as in _gap_decode_core, starts / ends
    (2, 16): each strip's streams. Each strip is decoded exactly as on its own."""
    wp = w + 3
    lane_a = _new_lane(wp)
    lane_b = _new_lane(wp)
    ptr_a = starts[0].copy()
    ptr_b = starts[1].copy()
    _pad_top(buf_a, wp)
    _pad_top(buf_b, wp)
    for j in range(h):
        r = (j + 2) * wp
        eo = (j & 1) * wp
        _pad_left(buf_a, r, wp)
        _pad_left(buf_b, r, wp)
        _row_terms(buf_a, r, w, wp, wp - eo, lane_a)
        _row_terms(buf_b, r, w, wp, wp - eo, lane_b)
        vw_a = vww_a = np.int64(buf_a[U(r - wp + 2)])
        vw_b = vww_b = np.int64(buf_b[U(r - wp + 2)])
        ew_a = ew_b = np.int64(0)
        bad = np.int64(0)
        for c in range(2, w + 2):
            x_a, ax_a, bad_a = _decode_pixel(buf_a, r + c, c, wp, eo, vw_a, vww_a, ew_a, lane_a, lossless, rec, lut,
                                             data, ptr_a)
            x_b, ax_b, bad_b = _decode_pixel(buf_b, r + c, c, wp, eo, vw_b, vww_b, ew_b, lane_b, lossless, rec, lut,
                                             data, ptr_b)
            bad |= bad_a | bad_b  # checked once a row: a branch here would tie the two chains
            vww_a, vw_a, ew_a = vw_a, x_a, ax_a
            vww_b, vw_b, ew_b = vw_b, x_b, ax_b
        buf_a[U(r + w + 2)] = buf_a[U(r + w + 1)]
        buf_b[U(r + w + 2)] = buf_b[U(r + w + 1)]
        if bad:
            return -2
        if _overrun(ptr_a, ends[0]) or _overrun(ptr_b, ends[1]):
            return -1
    return -3 if _leftover(ptr_a, ends[0]) or _leftover(ptr_b, ends[1]) else 0


# lossless and near-lossless compiled apart (the reconstruction differs, see _decode_pixel)
@njit(nogil=True, cache=True)
def _gap_decode_lossless(buf, h, w, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    return _gap_decode_core(buf, h, w, True, rec, lut, data, starts, ends)


@njit(nogil=True, cache=True)
def _gap_decode_near(buf, h, w, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    return _gap_decode_core(buf, h, w, False, rec, lut, data, starts, ends)


@njit(nogil=True, cache=True)
def _gap_decode(buf, h, w, step, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    """Decode like ``_gap_kernel(..., decode=True)`` (same buf layout, same 0 / -1 / -2 / -3),
    faster; (step, rec, lut) from :func:`decoder_tables`, ``data`` with :func:`decode_padding`
    bytes after the last stream."""
    if step == 1:
        return _gap_decode_lossless(buf, h, w, rec, lut, data, starts, ends)
    return _gap_decode_near(buf, h, w, rec, lut, data, starts, ends)


@njit(nogil=True, cache=True)
def _gap_decode_pair_lossless(buf_a, buf_b, h, w, rec, lut, data, starts, ends):  # pragma: no cover
    return _gap_decode_pair_core(buf_a, buf_b, h, w, True, rec, lut, data, starts, ends)


@njit(nogil=True, cache=True)
def _gap_decode_pair_near(buf_a, buf_b, h, w, rec, lut, data, starts, ends):  # pragma: no cover
    return _gap_decode_pair_core(buf_a, buf_b, h, w, False, rec, lut, data, starts, ends)


@njit(nogil=True, cache=True)
def _gap_decode_pair(buf_a, buf_b, h, w, step, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    """Two strips of h rows at once, each as ``_gap_decode`` would: buf_a, buf_b as there,
    starts / ends (2, 16): each strip's streams. Returns 0 when both decode; otherwise < 0 (the
    code of either strip's fault)."""
    if step == 1:
        return _gap_decode_pair_lossless(buf_a, buf_b, h, w, rec, lut, data, starts, ends)
    return _gap_decode_pair_near(buf_a, buf_b, h, w, rec, lut, data, starts, ends)


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


def encode(plane: np.ndarray, max_error: int) -> bytes:
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
    frames = [compress_stream(out[off[k]:off[k + 1]]) for k in range(N_STREAMS)]
    table = b"".join(put_varint(int(off[k + 1] - off[k])) + put_varint(len(f)) for k, f in enumerate(frames))
    return table + b"".join(frames)


def decode(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    head, pos = get_varints(payload, 0, 2 * N_STREAMS, "mode 2 stream table")
    sizes = list(zip(head[0::2], head[1::2]))  # (values, compressed bytes) per stream
    if sum(r for r, _ in sizes) != width * height:
        raise FormatError("lightness plane: mode 2 stream lengths do not add up to the pixel count")
    if pos + sum(c for _, c in sizes) != len(payload):
        raise FormatError("lightness plane: mode 2 compressed lengths do not match the payload size")
    data = np.zeros(width * height + decode_padding(width), np.uint8)
    off = np.zeros(N_STREAMS + 1, np.int64)
    for k, (raw, comp) in enumerate(sizes):
        off[k + 1] = off[k] + raw
        decompress_into(payload[pos:pos + comp], data[off[k]:off[k + 1]], "mode 2 stream", k)
        pos += comp
    buf = np.empty((height + 2, width + 3), np.uint8)
    step, rec, lut = decoder_tables(max_error)
    # the variant picked here, not inside numba: a first run compiles only the one it needs
    kernel = _gap_decode_lossless if step == 1 else _gap_decode_near
    rc = kernel(buf.reshape(-1), height, width, rec, lut, data, off[:-1], off[1:])
    if rc:
        why = {-1: "a stream ended early", -2: "a value outside the alphabet", -3: "a stream has unused values"}
        raise FormatError(f"lightness plane: mode 2 data inconsistent ({why[rc]})")
    return buf[2:, 2:width + 2].copy()
