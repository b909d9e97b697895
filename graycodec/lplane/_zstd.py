"""The zstd stage of the plane coders: frames checked against their expected size, and varints."""
from __future__ import annotations

import threading

import numpy as np
import zstandard

from ..errors import FormatError

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
# nearly flat streams (mostly zeros: smooth areas, coarse near-lossless) repay a deeper search;
# on Kodak (mode 3, D = 1 / 2 / 3) search_log 3 → 6 and target_length 32 → 64 took 2.846 /
# 2.268 / 1.911 bpp to 2.844 / 2.261 / 1.894, and encoding 4 / 11 / 17 % longer (target 128
# gained another 0.001-0.003 bpp for up to 40 % more time; btultra2 did no better)
_ZSTD_OPTIMAL_DEEP = zstandard.ZstdCompressionParameters(
    strategy=zstandard.STRATEGY_BTULTRA, min_match=3, window_log=17, chain_log=14, hash_log=14,
    search_log=6, target_length=64, write_content_size=True, write_checksum=False,
)
_OPTIMAL_BELOW_BITS = 3.0  # try the optimal parser on streams below this entropy (bits/value)
_DEEP_BELOW_BITS = 0.5  # ... with the deeper search below this one (costs encode time)


def compress(data: np.ndarray, params=_ZSTD_LITERAL) -> bytes:
    if data.size == 0:
        return b""
    return zstandard.ZstdCompressor(compression_params=params).compress(data.tobytes())


def _entropy_bits(data: np.ndarray) -> float:
    """Zeroth-order entropy of a uint8 array in bits per value."""
    freq = np.bincount(data, minlength=256)
    prob = freq[freq > 0] / data.size
    return float(-(prob * np.log2(prob)).sum())


def compress_stream(data: np.ndarray, deep_below: float = _DEEP_BELOW_BITS) -> bytes:
    """The smaller of the literal-only frame and, for low-entropy streams, an optimal-parser one
    (the deeper search below ``deep_below`` bits/value)."""
    frame = compress(data)
    if data.size >= 64:
        bits = _entropy_bits(data)
        if bits < _OPTIMAL_BELOW_BITS:
            other = compress(data, _ZSTD_OPTIMAL_DEEP if bits < deep_below else _ZSTD_OPTIMAL)
            if len(other) < len(frame):
                frame = other
    return frame


_local = threading.local()  # one decompression context per thread (a context is not thread-safe)


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "dctx", None)
    if d is None:
        d = _local.dctx = zstandard.ZstdDecompressor()
    return d


def decompress_into(frame: bytes, out: np.ndarray, what: str, index: int | None = None) -> None:
    """Decompress one zstd frame into ``out`` after checking it declares exactly ``out.size`` bytes.
    Errors name ``what``, followed by ``index`` when given (formatted only on error: this runs
    for every stream of every plane)."""
    size = out.size
    if size == 0:
        if frame:
            raise FormatError(f"lightness plane: {_label(what, index)}: data for an empty stream")
        return
    try:
        declared = zstandard.get_frame_parameters(frame).content_size
    except zstandard.ZstdError as exc:
        raise FormatError(f"lightness plane: {_label(what, index)}: bad zstd frame header ({exc})") from None
    if declared != size:  # also rejects an unknown content size
        raise FormatError(f"lightness plane: {_label(what, index)}: zstd frame declares {declared} bytes, "
                          f"expected {size}")
    try:
        raw = _decompressor().decompress(frame, max_output_size=size, allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise FormatError(f"lightness plane: {_label(what, index)}: corrupt zstd data ({exc})") from None
    if len(raw) != size:
        raise FormatError(f"lightness plane: {_label(what, index)}: decompressed {len(raw)} bytes, expected {size}")
    out[:] = np.frombuffer(raw, dtype=np.uint8)


def _label(what: str, index: int | None) -> str:
    return what if index is None else f"{what} {index}"


def put_varint(n: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, low bits first, high bit set on all but the last byte."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def get_varint(data: bytes, pos: int, what: str) -> tuple[int, int]:
    """One varint at pos (at most 5 bytes); returns (value, next position)."""
    (value,), pos = get_varints(data, pos, 1, what)
    return value, pos


def get_varints(data: bytes, pos: int, n: int, what: str) -> tuple[list[int], int]:
    """n varints from pos, in one tight loop (a mode 3 header holds 33 + 16 per strip of them,
    read on every decode); FormatError naming ``what`` when truncated or over-long."""
    out = []
    append = out.append
    size = len(data)
    for _ in range(n):
        value = shift = 0
        while True:
            if pos >= size:
                raise FormatError(f"lightness plane: {what} truncated")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift == 35:  # at most 5 bytes (35 bits)
                raise FormatError(f"lightness plane: {what} has an over-long varint")
        append(value)
    return out, pos


def get_varint_array(data: bytes, pos: int, n: int, what: str) -> tuple[np.ndarray, int]:
    """n varints from pos as an int64 array, without a Python loop per value (a mode 3 strip
    table holds 16 per strip); same rules and errors as :func:`get_varints`."""
    if n == 0:
        return np.zeros(0, np.int64), pos
    window = np.frombuffer(data, np.uint8, count=min(len(data) - pos, 5 * n), offset=pos)
    last = np.flatnonzero(window < 0x80)[:n]  # the final byte of each varint
    first = np.concatenate(([0], last[:-1] + 1))
    if last.size and (last - first).max() >= 5:
        raise FormatError(f"lightness plane: {what} has an over-long varint")
    if last.size < n:  # the next varint has no final byte: 5 bytes of it are too long, fewer cut off
        nxt = int(last[-1]) + 1 if last.size else 0
        raise FormatError(f"lightness plane: {what} " + ("has an over-long varint" if window.size - nxt >= 5
                                                         else "truncated"))
    values = np.zeros(n, np.int64)
    for j in range(5):  # byte j of every varint that has one
        has = first + j <= last
        values[has] |= (window[first[has] + j].astype(np.int64) & 0x7F) << (7 * j)
    return values, pos + int(last[-1]) + 1
