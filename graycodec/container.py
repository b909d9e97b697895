"""The ``.gcz`` container (docs/FORMAT.md): magic, a fixed CRC'd header, then CRC'd chunks.

    write:  GczImage ──lplane──▶ LPLN (+ ALPH, hINT, iCCP, eXIf) ──▶ magic | header | chunks | IEND
    read:   bytes ──magic, version, header CRC, size limit──▶ chunk walk (lengths, CRCs, critical
            / ancillary rule, duplicates, IEND, trailing bytes) ──lplane──▶ GczImage

Built in the spirit of PNG: every section carries a CRC-32 (zlib.crc32), chunk types say
whether a reader may skip them (uppercase first letter = critical, lowercase = ancillary),
declared sizes are checked against the data and the pixel limit before anything is allocated,
and every failure is a :class:`FormatError` (or :class:`ImageTooLargeError`) naming the field
or chunk at fault.
"""
from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import zstandard

from . import lplane
from .errors import FormatError, ImageTooLargeError

# --- constants and limits ----------------------------------------------------------------
MAGIC = b"\x89GCZ\r\n\x1a\n"
VERSION = (1, 0)  # (major, minor): readers refuse another major; minors only add ancillary chunks
GRAY_VERSION = (1, 1)  # files with a gRAY chunk (added in 1.1)
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's decompression-bomb error limit
MAX_METADATA_BYTES = 16 * 1024 * 1024  # cap on a decompressed ICC profile or EXIF block

LIGHTNESS_SRGB8 = 1
LIGHTNESS_NAMES = {LIGHTNESS_SRGB8: "srgb8-luminance"}  # 8-bit sRGB-encoded luminance, nearest L*

FLAG_ALPHA = 0x01  # an ALPH chunk is present
KNOWN_FLAGS = FLAG_ALPHA

# header after the magic: major, minor, width, height, lightness id, coding mode, max_error,
# flags, model id (8 bytes); then a CRC-32 of those 22 bytes. Little-endian.
_HEADER = struct.Struct("<BBIIBBBB8s")
_CRC = struct.Struct("<I")
_CHUNK_HEAD = struct.Struct("<4sI")
HEADER_SIZE = len(MAGIC) + _HEADER.size + _CRC.size  # 34

# chunk types
LPLN = b"LPLN"  # lightness plane (critical, exactly one)
ALPH = b"ALPH"  # alpha plane, lossless (critical when present)
HINT = b"hINT"  # colour hint thumbnail from graycodec.hints (ancillary)
ICCP = b"iCCP"  # ICC profile, zstd (ancillary)
EXIF = b"eXIf"  # EXIF block, zstd (ancillary)
GRAY = b"gRAY"  # the source had no colour: decode as gray unless colour is asked (ancillary, empty; 1.1)
QLTY = b"qLTY"  # the --quality the file was encoded at, one byte 0..100 (ancillary, for `info`)
IEND = b"IEND"  # end of file (critical, empty, last)
_KNOWN = (LPLN, ALPH, HINT, ICCP, EXIF, GRAY, QLTY, IEND)
_TYPE_RE = re.compile(rb"[A-Za-z]{4}\Z")
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")


@dataclass
class GczImage:
    """Everything a .gcz holds. ``coding`` None = the current default lplane mode."""

    width: int
    height: int
    plane: np.ndarray  # uint8 (H, W), color.py representation
    max_error: int = 0  # 0 = lossless plane
    coding: int | None = None
    model_id: str = ""  # 16 hex digits of the model the encoder expects, "" = any
    hints: bytes | None = None
    alpha: np.ndarray | None = None  # uint8 (H, W), stored losslessly
    icc: bytes | None = None
    exif: bytes | None = None
    gray_source: bool = False  # the source image had no colour (gRAY chunk)
    quality: int | None = None  # the --quality asked for, when one was (informative only)


# --- small helpers (also used by the tests to forge files) -------------------------------
def is_critical(ctype: bytes) -> bool:
    """PNG's rule: a chunk type whose first letter is uppercase must be understood."""
    return 65 <= ctype[0] <= 90


def pack_header(width: int, height: int, coding: int, max_error: int = 0, *, flags: int = 0,
                model_id: bytes = bytes(8), lightness: int = LIGHTNESS_SRGB8,
                version: tuple[int, int] = VERSION) -> bytes:
    """Magic + header + header CRC, with no validation (so tests can forge headers)."""
    fields = _HEADER.pack(version[0], version[1], width, height, lightness, coding, max_error, flags, model_id)
    return MAGIC + fields + _CRC.pack(zlib.crc32(fields))


def pack_chunk(ctype: bytes, data: bytes) -> bytes:
    """One chunk: type, length, data, CRC-32 of type + data."""
    return _CHUNK_HEAD.pack(ctype, len(data)) + data + _CRC.pack(zlib.crc32(data, zlib.crc32(ctype)))


def _pack_metadata(data: bytes, what: str) -> bytes:
    if len(data) > MAX_METADATA_BYTES:
        raise ValueError(f"{what} of {len(data)} bytes exceeds the {MAX_METADATA_BYTES}-byte limit")
    return zstandard.ZstdCompressor(level=19, write_content_size=True).compress(bytes(data))


def _unpack_metadata(payload: bytes, what: str) -> bytes:
    try:
        size = zstandard.get_frame_parameters(payload).content_size
    except zstandard.ZstdError as exc:
        raise FormatError(f"chunk {what}: bad zstd frame header ({exc})") from None
    if size == zstandard.CONTENTSIZE_UNKNOWN or size > MAX_METADATA_BYTES:
        raise FormatError(f"chunk {what}: declared size {size} unknown or over {MAX_METADATA_BYTES} bytes")
    try:
        raw = zstandard.ZstdDecompressor().decompress(payload, max_output_size=max(size, 1), allow_extra_data=False)
    except zstandard.ZstdError as exc:
        raise FormatError(f"chunk {what}: corrupt zstd data ({exc})") from None
    if len(raw) != size:
        raise FormatError(f"chunk {what}: decompressed {len(raw)} bytes, header says {size}")
    return raw


def _check_plane(arr, width, height, what):
    arr = np.asarray(arr)
    if arr.dtype != np.uint8 or arr.shape != (height, width):
        raise ValueError(f"{what} must be uint8 of shape {(height, width)}, got {arr.dtype} {arr.shape}")
    return arr


# --- writer ------------------------------------------------------------------------------
def write_gcz(img: GczImage) -> bytes:
    """Serialize ``img``; ValueError when a field is out of range."""
    width, height = int(img.width), int(img.height)
    if not (1 <= width < 2**32 and 1 <= height < 2**32):
        raise ValueError(f"image size {width}x{height} out of range")
    plane = _check_plane(img.plane, width, height, "plane")
    if not 0 <= img.max_error <= lplane.MAX_ERROR_LIMIT:
        raise ValueError(f"max_error must be in 0..{lplane.MAX_ERROR_LIMIT}, got {img.max_error}")
    model = (img.model_id or "").lower()
    if model and not _HEX16.match(model):
        raise ValueError(f"model_id must be 16 hex digits or empty, got {img.model_id!r}")
    mode, payload = lplane.encode_plane(plane, max_error=int(img.max_error), mode=img.coding)
    flags = FLAG_ALPHA if img.alpha is not None else 0
    parts = [pack_header(width, height, mode, int(img.max_error), flags=flags,
                         model_id=bytes.fromhex(model) if model else bytes(8),
                         version=GRAY_VERSION if img.gray_source else VERSION),
             pack_chunk(LPLN, payload)]
    if img.gray_source:  # an ancillary chunk, not a flag: 1.0 readers skip it and still decode
        parts.append(pack_chunk(GRAY, b""))
    if img.alpha is not None:
        alpha = _check_plane(img.alpha, width, height, "alpha")
        amode, apayload = lplane.encode_plane(alpha)
        parts.append(pack_chunk(ALPH, bytes([amode]) + apayload))
    if img.hints is not None:
        parts.append(pack_chunk(HINT, bytes(img.hints)))
    if img.icc is not None:
        parts.append(pack_chunk(ICCP, _pack_metadata(img.icc, "ICC profile")))
    if img.exif is not None:
        parts.append(pack_chunk(EXIF, _pack_metadata(img.exif, "EXIF block")))
    if img.quality is not None:
        if not 0 <= img.quality <= 100:
            raise ValueError(f"quality must be in 0..100, got {img.quality}")
        parts.append(pack_chunk(QLTY, bytes([int(img.quality)])))
    parts.append(pack_chunk(IEND, b""))
    return b"".join(parts)


# --- reader ------------------------------------------------------------------------------
@dataclass
class Header:
    """The fixed header's fields: all a reader knows before the chunks (a lazy open's view)."""

    version: tuple[int, int]
    width: int
    height: int
    lightness: int
    coding: int
    max_error: int
    flags: int
    model_id: str  # 16 hex digits, "" = any


@dataclass
class _Parsed(Header):
    """The header and where each chunk lies, validated, nothing decoded."""

    chunks: list  # (type, offset of data, length), every chunk including skipped ones and IEND


def read_header(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Header:
    """Validate the magic and the fixed header (first ``HEADER_SIZE`` bytes); read no chunk."""
    data = memoryview(data)
    if len(data) < len(MAGIC) or bytes(data[: len(MAGIC)]) != MAGIC:
        if len(data) < len(MAGIC) and MAGIC.startswith(bytes(data)):
            raise FormatError("truncated: file ends inside the magic number")
        raise FormatError("not a .gcz file: bad magic number")
    if len(data) < HEADER_SIZE:
        raise FormatError(f"truncated: header needs {HEADER_SIZE} bytes, file has {len(data)}")
    fields = bytes(data[len(MAGIC): len(MAGIC) + _HEADER.size])
    major, minor, width, height, lightness, coding, max_error, flags, model = _HEADER.unpack(fields)
    if major != VERSION[0]:
        raise FormatError(f"header: unsupported format version {major}.{minor} (this reader knows {VERSION[0]}.x)")
    (crc,) = _CRC.unpack_from(data, len(MAGIC) + _HEADER.size)
    if crc != zlib.crc32(fields):
        raise FormatError("header: checksum mismatch")
    if width < 1 or height < 1:
        raise FormatError(f"header: invalid image size {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(f"header: image of {width}x{height} = {width * height} pixels exceeds the "
                                 f"limit of {max_pixels}")
    if lightness not in LIGHTNESS_NAMES:
        raise FormatError(f"header: unknown lightness representation {lightness}")
    if coding not in lplane.MODE_NAMES:
        raise FormatError(f"header: unknown coding mode {coding}")
    if max_error > lplane.MAX_ERROR_LIMIT:
        raise FormatError(f"header: max_error {max_error} over the limit {lplane.MAX_ERROR_LIMIT}")
    if flags & ~KNOWN_FLAGS:
        raise FormatError(f"header: unknown flags 0x{flags:02x}")
    return Header((major, minor), width, height, lightness, coding, max_error, flags, model.hex() if any(model) else "")


def _parse(data: bytes, max_pixels: int | None) -> _Parsed:
    """Validate magic, header and the chunk structure (lengths, CRCs, rules); decode nothing."""
    h = read_header(data, max_pixels)
    data = memoryview(data)
    chunks, seen, pos, end = [], set(), HEADER_SIZE, len(data)
    while True:
        if pos == end:
            raise FormatError("truncated: no IEND chunk")
        if end - pos < _CHUNK_HEAD.size + _CRC.size:
            raise FormatError(f"truncated: incomplete chunk header at offset {pos}")
        ctype, length = _CHUNK_HEAD.unpack_from(data, pos)
        name = ctype.decode("latin-1")
        if not _TYPE_RE.match(ctype):
            raise FormatError(f"chunk at offset {pos}: invalid type {ctype!r}")
        start = pos + _CHUNK_HEAD.size
        if length > end - start - _CRC.size:
            raise FormatError(f"chunk {name}: length {length} exceeds the remaining {end - start - _CRC.size} "
                              "bytes (truncated)")
        (crc,) = _CRC.unpack_from(data, start + length)
        if crc != zlib.crc32(data[start: start + length], zlib.crc32(ctype)):
            raise FormatError(f"chunk {name}: checksum mismatch")
        pos = start + length + _CRC.size
        if ctype in seen and (ctype in _KNOWN or is_critical(ctype)):
            raise FormatError(f"chunk {name}: duplicate")
        seen.add(ctype)
        if ctype not in _KNOWN and is_critical(ctype):
            raise FormatError(f"chunk {name}: unknown critical chunk")
        chunks.append((ctype, start, length))
        if ctype == IEND:
            if length:
                raise FormatError("chunk IEND: must be empty")
            break
        if ctype == GRAY and length:
            raise FormatError("chunk gRAY: must be empty")
    if pos != end:
        raise FormatError(f"trailing bytes: {end - pos} bytes after IEND")
    if LPLN not in seen:
        raise FormatError("chunk LPLN: missing")
    if bool(h.flags & FLAG_ALPHA) != (ALPH in seen):
        raise FormatError("header: alpha flag disagrees with the ALPH chunk")
    return _Parsed(h.version, h.width, h.height, h.lightness, h.coding, h.max_error, h.flags, h.model_id, chunks)


def read_gcz(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> GczImage:
    """Parse and decode .gcz bytes; FormatError when damaged, ImageTooLargeError over ``max_pixels``."""
    data = bytes(data)
    p = _parse(data, max_pixels)
    img = GczImage(width=p.width, height=p.height, plane=None, max_error=p.max_error, coding=p.coding,
                   model_id=p.model_id)
    for ctype, start, length in p.chunks:
        payload = data[start: start + length]
        if ctype == LPLN:
            img.plane = _decode_plane(p.coding, payload, p, "LPLN", p.max_error)
        elif ctype == ALPH:
            if not payload:
                raise FormatError("chunk ALPH: empty")
            img.alpha = _decode_plane(payload[0], payload[1:], p, "ALPH", 0)
        elif ctype == HINT:
            img.hints = payload
        elif ctype == GRAY:
            img.gray_source = True
        elif ctype == ICCP:
            img.icc = _unpack_metadata(payload, "iCCP")
        elif ctype == EXIF:
            img.exif = _unpack_metadata(payload, "eXIf")
        elif ctype == QLTY:
            img.quality = _unpack_quality(payload)
    return img


def _unpack_quality(payload: bytes) -> int:
    if len(payload) != 1 or payload[0] > 100:
        raise FormatError("chunk qLTY: must be one byte 0..100")
    return payload[0]


def _decode_plane(mode, payload, p, name, max_error):
    if mode not in lplane.MODE_NAMES:
        raise FormatError(f"chunk {name}: unknown coding mode {mode}")
    try:
        return lplane.decode_plane(mode, payload, p.width, p.height, max_error)
    except FormatError as exc:
        raise FormatError(f"chunk {name}: {exc}") from None


def max_file_bytes(width: int, height: int) -> int:
    """The longest .gcz a reader of a stream accepts for a W x H image (FORMAT.md §7): more than
    any file the encoder makes (plane and alpha at worst ~1 byte a pixel each, metadata 2 x 16
    MiB), so that an endless input (/dev/zero, a pipe) is cut off, never read into memory."""
    return 4 * width * height + 64 * 1024 * 1024


def read_stream(f, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> bytes:
    """Read a .gcz from a binary file object, checking the magic and header first and never
    reading more than :func:`max_file_bytes` of its size allows; FormatError otherwise."""
    head = _read_up_to(f, HEADER_SIZE)
    header = read_header(head, max_pixels)  # magic first: /dev/zero stops here
    width, height = header.width, header.height
    limit = max_file_bytes(width, height)
    rest = _read_up_to(f, limit - HEADER_SIZE + 1)
    if HEADER_SIZE + len(rest) > limit:
        raise FormatError(f"longer than any .gcz of {width}x{height} can be ({limit} bytes): damaged, or not a .gcz")
    return head + rest


def _read_up_to(f, n: int) -> bytes:
    """At most n bytes from f (fewer only at its end), in blocks: no n-sized buffer up front."""
    parts, got = [], 0
    while got < n:
        block = f.read(min(n - got, 1 << 24))
        if not block:
            break
        parts.append(block)
        got += len(block)
    return b"".join(parts)


def _describe_hints(payload: bytes | None) -> str | None:
    """The hint level from a hINT payload's header (``high``, ``6:2`` …), or None; not decoded."""
    from .hints import describe_payload

    return None if payload is None else describe_payload(payload)


def describe_gcz(data: bytes, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> dict:
    """Header fields and chunk list of a .gcz (validated, not decoded), JSON-able, for ``info``."""
    data = bytes(data)
    p = _parse(data, max_pixels)
    pixels = p.width * p.height
    found = {t: data[start: start + n] for t, start, n in p.chunks}
    return {
        "format": "gcz",
        "version": f"{p.version[0]}.{p.version[1]}",
        "width": p.width,
        "height": p.height,
        "lightness": {"id": p.lightness, "name": LIGHTNESS_NAMES[p.lightness]},
        "coding": {"id": p.coding, "name": lplane.MODE_NAMES[p.coding]},
        "max_error": p.max_error,
        "lossless": p.max_error == 0 and p.coding in lplane.BOUNDED_MODES,
        "model_id": p.model_id,
        "source": "gray" if any(t == GRAY for t, _, _ in p.chunks) else "colour",
        "quality": _unpack_quality(found[QLTY]) if QLTY in found else None,
        "hints": _describe_hints(found.get(HINT)),
        "flags": p.flags,
        "chunks": [{"type": t.decode("latin-1"), "length": n, "critical": is_critical(t)} for t, _, n in p.chunks],
        "total_bytes": len(data),
        "bpp": round(len(data) * 8 / pixels, 4),
        "compression_ratio": round(3 * pixels / len(data), 3),
    }
