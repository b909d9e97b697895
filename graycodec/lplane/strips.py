"""Mode 3 (``gap-strips``): mode 2's coder applied to independent horizontal strips, so that
strips are encoded and decoded in parallel; the 16 activity streams stay shared by all strips.

The bitstream is specified in docs/FORMAT.md §4. Each strip is coded exactly as mode 2 codes a
whole plane (mode 2's kernels are reused unchanged: fresh bias tables, the first row of
the strip predicted from the constant rows of 128 above it), and appends its values to the same
16 streams in strip order; the payload records how many values of each stream every strip but
the last one used, so that each strip knows where its values start.

Parallelism: the strip kernels are compiled with ``nogil=True`` and run on the calling thread
plus a small thread pool (:func:`num_threads` in all: ``numba.config.NUMBA_NUM_THREADS``, the
CPU count unless the environment variable NUMBA_NUM_THREADS says otherwise), as is the zstd
(de)compression of the 16 streams, which also releases the GIL. Python threads rather than
numba's ``parallel=True``: safe when callers use threads of their own or fork (numba's OpenMP
layer is not fork-safe and its workqueue layer not thread-safe), and the work items (a strip,
a group of streams) are large enough for a thread pool. The payload does not depend on the
thread count. When there are at least two strips per thread, the decoder gives each thread
pairs of strips, which one loop decodes at once (gap._gap_decode_pair): a single strip's loop
waits on its own dependency chains, and two independent ones overlap.
"""
from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from ..errors import FormatError
from ._zstd import compress_stream, decompress_into, get_varint, get_varint_array, get_varints, put_varint
from .gap import (N_STREAMS, _gap_decode_lossless, _gap_decode_near, _gap_decode_pair_lossless,
                  _gap_decode_pair_near, _gap_kernel, _kernel_tables, _split_streams, decode_padding, decoder_tables)

# Each strip restarts the context model (bias tables) and codes its first row without rows
# above: on the 24 Kodak planes, lossless, strips of 64 / 128 / 256 rows cost +0.066 / +0.031 /
# +0.012 bpp over mode 2 (one strip). At least 128 rows gives 4 strips to a 768 × 512 plane,
# so that each of 2 threads decodes two strips at once (gap._gap_decode_pair: ~10 % faster a
# pixel), for +0.017 bpp lossless over 256-row strips (4.276 → 4.293); a 4000-row plane gets 16.
MIN_STRIP_ROWS = 128  # the encoder's strips have at least this many rows (or the plane's height)
MAX_STRIPS = 64
# Decoders accept at most max(MAX_STRIPS, W·H / MIN_STRIP_PIXELS) strips (FORMAT.md §4): every
# strip costs a strip-table row and a call, so this keeps decoding linear in the pixels (a
# forged plane of one-row strips cost 44 s and 2.2 GB for 48 MB). Every file the encoder makes
# (at most MAX_STRIPS strips) is within it.
MIN_STRIP_PIXELS = 4096
# zstd's deeper optimal-parser search on streams below 1 bit/value (mode 2: 0.5): on Kodak,
# measured with 256-row strips and the earlier, shallower deep search, it won back the strips'
# cost at D = 2 and 3 (2.260 → 2.254, 1.909 → 1.896 bpp) for ~20 % more near-lossless encoding
# time, which the parallel encoder affords (lossless hardly changes).
DEEP_BELOW_BITS = 1.0


def strip_rows(height: int, min_rows: int = MIN_STRIP_ROWS) -> int:
    """The encoder's strip height: the plane split into the largest power of two (≤ 64) of strips
    of at least min_rows rows (powers of two share out evenly on 2, 4, 8... threads)."""
    n = 1
    while 2 * n <= MAX_STRIPS and height // (2 * n) >= min_rows:
        n *= 2
    return -(-height // n)


def max_strips(width: int, height: int) -> int:
    """The most strips a decoder accepts for a W x H plane (see MIN_STRIP_PIXELS)."""
    return max(MAX_STRIPS, width * height // MIN_STRIP_PIXELS)


# --- thread pool ---------------------------------------------------------------------------
_pool: ThreadPoolExecutor | None = None  # num_threads() - 1 workers; the caller is the other one
_pool_size = 0
_pool_lock = threading.Lock()
_threads: int | None = None  # set_num_threads() override


def num_threads() -> int:
    """Threads used for one plane: :func:`set_num_threads`, else ``numba.config.NUMBA_NUM_THREADS``
    (the CPU count unless the environment variable NUMBA_NUM_THREADS says otherwise)."""
    return _threads or max(1, int(numba.config.NUMBA_NUM_THREADS))


def set_num_threads(n: int | None) -> None:
    """Use n threads (1: everything on the calling thread); None: back to the default."""
    global _threads
    if n is not None and n < 1:
        raise ValueError(f"thread count must be at least 1, got {n}")
    _threads = n


def _map(fn, items):
    """[fn(i) for i in items]: the first item on the calling thread, the others on the pool."""
    items = list(items)
    if len(items) < 2 or num_threads() < 2:
        return [fn(i) for i in items]
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < num_threads() - 1:
            if _pool is not None:  # too small: it finishes its tasks, then its threads end
                _pool.shutdown(wait=False)
            _pool_size = num_threads() - 1
            _pool = ThreadPoolExecutor(_pool_size, thread_name_prefix="lplane")
        pool = _pool
    futures = [pool.submit(fn, i) for i in items[1:]]
    try:
        first = fn(items[0])
    finally:
        for f in futures:  # wait for all, so no task outlives the call (an error is raised below)
            f.exception()
    return [first] + [f.result() for f in futures]


def _groups(sizes, n):
    """Indices of ``sizes`` in at most n groups of similar total size (largest first, greedy)."""
    groups = [[] for _ in range(max(1, min(n, len(sizes))))]
    load = [0] * len(groups)
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        g = load.index(min(load))
        groups[g].append(i)
        load[g] += sizes[i]
    return [g for g in groups if g]


def _forget_pool():  # a forked child has none of the parent's threads
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


# --- kernels -------------------------------------------------------------------------------
@njit(nogil=True, cache=True)
def _encode_strip(plane, y0, y1, step, lut, vals, cls, counts):  # pragma: no cover - compiled
    """Code rows y0..y1-1 of plane: values and classes to vals/cls[y0·W : y1·W], counts[k] += 1."""
    w = plane.shape[1]
    h = y1 - y0
    wp = w + 3
    buf = np.empty((h + 2) * wp, np.uint8)
    for y in range(h):
        for x in range(w):
            buf[(y + 2) * wp + x + 2] = plane[y0 + y, x]
    v = vals[y0 * w:y1 * w]
    c = cls[y0 * w:y1 * w]
    none = np.zeros(N_STREAMS, np.int64)
    _gap_kernel(buf, h, w, step, lut, v, c, v, none, none, False)
    for i in range(c.shape[0]):
        counts[c[i]] += 1


# One compiled function per decoder variant (single strip or pair, lossless or near-lossless),
# chosen in Python by _decode_strips: a first decode compiles only the variant it uses (~1/4 of
# the compile time of one function holding all four; docs/ARCHITECTURE.md, first run).
@njit(nogil=True, cache=True)
def _strip_lossless(out, first, rows, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    w = out.shape[1]
    wp = w + 3
    buf = np.empty((rows + 2) * wp, np.uint8)
    rc = _gap_decode_lossless(buf, rows, w, rec, lut, data, starts[0], ends[0])
    if rc == 0:
        out[first[0]:first[0] + rows, :] = buf.reshape((rows + 2, wp))[2:, 2:w + 2]
    return rc


@njit(nogil=True, cache=True)
def _strip_near(out, first, rows, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    w = out.shape[1]
    wp = w + 3
    buf = np.empty((rows + 2) * wp, np.uint8)
    rc = _gap_decode_near(buf, rows, w, rec, lut, data, starts[0], ends[0])
    if rc == 0:
        out[first[0]:first[0] + rows, :] = buf.reshape((rows + 2, wp))[2:, 2:w + 2]
    return rc


@njit(nogil=True, cache=True)
def _pair_lossless(out, first, rows, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    w = out.shape[1]
    wp = w + 3
    buf = np.empty((2, (rows + 2) * wp), np.uint8)
    rc = _gap_decode_pair_lossless(buf[0], buf[1], rows, w, rec, lut, data, starts, ends)
    if rc == 0:
        for i in range(2):
            out[first[i]:first[i] + rows, :] = buf[i].reshape((rows + 2, wp))[2:, 2:w + 2]
    return rc


@njit(nogil=True, cache=True)
def _pair_near(out, first, rows, rec, lut, data, starts, ends):  # pragma: no cover - compiled
    w = out.shape[1]
    wp = w + 3
    buf = np.empty((2, (rows + 2) * wp), np.uint8)
    rc = _gap_decode_pair_near(buf[0], buf[1], rows, w, rec, lut, data, starts, ends)
    if rc == 0:
        for i in range(2):
            out[first[i]:first[i] + rows, :] = buf[i].reshape((rows + 2, wp))[2:, 2:w + 2]
    return rc


def _decode_strips(out, first, rows, step, rec, lut, data, starts, ends):
    """Decode one or two strips of ``rows`` rows (two: at once, see gap._gap_decode_pair), the
    i-th from row first[i] into out; its stream k is data[starts[i, k]:ends[i, k]]. 0 or < 0.
    (step, rec, lut): gap.decoder_tables. data ends with gap.decode_padding(W) bytes of padding."""
    if first.shape[0] == 1:
        kernel = _strip_lossless if step == 1 else _strip_near
    else:
        kernel = _pair_lossless if step == 1 else _pair_near
    return kernel(out, first, rows, rec, lut, data, starts, ends)


def _decode_units(height: int, rows: int, threads: int) -> list[list[int]]:
    """The strips grouped into work units: pairs of equal strips when there are enough to give
    every thread pairs (two strips at once run ~10 % faster a pixel, but a thread left without
    work costs more), else single strips. A pair joins strips half the plane apart: the top
    and bottom of a photo often differ in detail (sky, ground), and so in decoding time."""
    nstrips = -(-height // rows)
    if nstrips < 2 * threads:
        return [[s] for s in range(nstrips)]
    npairs = (height // rows) // 2  # strips of exactly `rows` rows (the last one may be shorter)
    units = [[s, s + npairs] for s in range(npairs)]
    return units + [[s] for s in range(2 * npairs, nstrips)]


# --- payload -------------------------------------------------------------------------------
def encode(plane: np.ndarray, max_error: int, rows: int | None = None) -> bytes:
    height, width = plane.shape
    rows = strip_rows(height) if rows is None else rows
    if not 1 <= rows <= height:
        raise ValueError(f"strip height must be in 1..{height}, got {rows}")
    nstrips = -(-height // rows)
    if nstrips > max_strips(width, height):
        raise ValueError(f"strip height {rows} makes {nstrips} strips, more than decoders accept "
                         f"({max_strips(width, height)})")
    step, lut = _kernel_tables(max_error)
    plane = np.ascontiguousarray(plane)
    vals = np.empty(plane.size, np.uint8)
    cls = np.empty(plane.size, np.uint8)
    counts = np.zeros((nstrips, N_STREAMS), np.int64)

    def strip(s):
        _encode_strip(plane, s * rows, min(height, (s + 1) * rows), step, lut, vals, cls, counts[s])

    _map(strip, range(nstrips))
    out, off = _split_streams(vals, cls, N_STREAMS)  # stable: each stream holds its strips in order
    del vals, cls
    frames = [b""] * N_STREAMS

    def pack(group):
        for k in group:
            frames[k] = compress_stream(out[off[k]:off[k + 1]], DEEP_BELOW_BITS)

    _map(pack, _groups([int(off[k + 1] - off[k]) for k in range(N_STREAMS)], num_threads()))
    head = [put_varint(rows)]
    head += [put_varint(int(off[k + 1] - off[k])) + put_varint(len(f)) for k, f in enumerate(frames)]
    head += [put_varint(int(n)) for n in counts[:-1].reshape(-1)]
    return b"".join(head) + b"".join(frames)


def decode(payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    what = "mode 3 header"
    rows, pos = get_varint(payload, 0, what)
    if not 1 <= rows <= height:
        raise FormatError(f"lightness plane: mode 3 strip height {rows} outside 1..{height}")
    nstrips = -(-height // rows)
    most = max_strips(width, height)
    if nstrips > most:
        raise FormatError(f"lightness plane: mode 3 strip height {rows} makes {nstrips} strips, over the "
                          f"limit of {most} for a {width}x{height} plane")
    head, pos = get_varints(payload, pos, 2 * N_STREAMS, what)  # (values, compressed bytes) per stream
    raw, comp = head[0::2], head[1::2]
    if sum(raw) != width * height:
        raise FormatError("lightness plane: mode 3 stream lengths do not add up to the pixel count")
    if nstrips - 1 > (len(payload) - pos) // N_STREAMS:  # each strip count takes at least one byte
        raise FormatError("lightness plane: mode 3 strip table truncated")
    table, pos = get_varint_array(payload, pos, (nstrips - 1) * N_STREAMS, "mode 3 strip table")
    table = table.reshape(nstrips - 1, N_STREAMS)
    wrong = np.flatnonzero(table.sum(axis=1) != rows * width)
    if wrong.size:
        raise FormatError(f"lightness plane: mode 3 strip {wrong[0]} counts do not add up to its pixel count")
    counts = np.empty((nstrips, N_STREAMS), np.int64)
    counts[:-1] = table
    counts[-1] = np.array(raw, np.int64) - counts[:-1].sum(axis=0)
    if (counts[-1] < 0).any():
        raise FormatError("lightness plane: mode 3 strip counts exceed the stream lengths")
    if pos + sum(comp) != len(payload):
        raise FormatError("lightness plane: mode 3 compressed lengths do not match the payload size")
    data = np.zeros(width * height + decode_padding(width), np.uint8)
    off = [0, *itertools.accumulate(raw)]
    frame_at = list(itertools.accumulate(comp, initial=pos))
    starts = np.array(off[:-1], np.int64) + np.cumsum(counts, axis=0) - counts  # (strip, stream) -> 1st value
    ends = starts + counts
    step, rec, lut = decoder_tables(max_error)
    out = np.empty((height, width), np.uint8)
    view = memoryview(payload)
    groups = [[k] for k in sorted(range(N_STREAMS), key=lambda k: -raw[k])]  # largest first
    units = _decode_units(height, rows, num_threads())
    rcs = [0] * len(units)
    # One hand-off to the pool for both steps: each thread claims streams to decompress (largest
    # first, so the threads finish together), waits until all are (every strip reads all 16
    # streams), then claims strips to decode. Work is claimed, never assigned, so a thread only
    # ever waits on work that a running thread holds: no deadlock when the pool is busy with
    # other calls (the calling thread then does it all).
    lock = threading.Lock()
    state = [0, 0, len(groups)]  # next group, next unit of strips, groups not finished
    unpacked = threading.Event()
    errors = []

    def claim(i):
        with lock:
            n = state[i]
            state[i] = n + 1
        return n

    def work(_):
        while (g := claim(0)) < len(groups):
            try:
                for k in groups[g]:
                    decompress_into(view[frame_at[k]:frame_at[k + 1]], data[off[k]:off[k + 1]], "mode 3 stream", k)
            except BaseException as exc:
                errors.append(exc)
                unpacked.set()
                return
            with lock:
                state[2] -= 1
                if state[2] == 0:
                    unpacked.set()
        unpacked.wait()
        while not errors and (u := claim(1)) < len(units):
            unit = units[u]
            first = np.array(unit, np.int64) * rows
            size = min(height, first[0] + rows) - first[0]  # all strips have `rows` rows but the last
            rcs[u] = _decode_strips(out, first, size, step, rec, lut, data, starts[unit], ends[unit])

    _map(work, range(num_threads()))
    if errors:
        raise errors[0]
    rc = min(rcs)
    if rc:
        why = {-1: "a stream ended early", -2: "a value outside the alphabet", -3: "a stream has unused values"}
        raise FormatError(f"lightness plane: mode 3 data inconsistent ({why[rc]})")
    return out
