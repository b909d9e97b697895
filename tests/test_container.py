"""The .gcz container: field round trips, and every kind of damage refused with FormatError."""
import json
import tracemalloc

import numpy as np
import pytest
import zstandard

from graycodec import container as gcz
from graycodec import lplane
from graycodec.container import GczImage, describe_gcz, pack_chunk, pack_header, read_gcz, write_gcz
from graycodec.errors import FormatError, ImageTooLargeError

RNG = np.random.default_rng(7)
H, W = 9, 13
PLANE = (np.add.outer(np.arange(H) * 9, np.arange(W) * 5) % 256).astype(np.uint8)
ALPHA = RNG.integers(0, 256, (H, W), dtype=np.uint8)


def full_image(**kw):
    fields = dict(width=W, height=H, plane=PLANE, max_error=0, model_id="0123456789abcdef", hints=b"\x01hint",
                  alpha=ALPHA, icc=b"ICC profile bytes" * 3, exif=b"Exif\0\0MM" + bytes(20))
    fields.update(kw)
    return GczImage(**fields)


SMALL = write_gcz(full_image())
ERRORS = (FormatError, ImageTooLargeError)


def forge(*chunks, w=W, h=H, coding=lplane.MODE_MED, **header):
    return pack_header(w, h, coding, **header) + b"".join(pack_chunk(t, d) for t, d in chunks)


def med_payload(plane=PLANE):
    return lplane.encode_plane(plane, mode=lplane.MODE_MED)[1]


# --- round trips -------------------------------------------------------------------------
def test_roundtrip_every_field():
    img = read_gcz(SMALL)
    assert (img.width, img.height, img.max_error, img.coding) == (W, H, 0, lplane.DEFAULT_MODE)
    np.testing.assert_array_equal(img.plane, PLANE)
    np.testing.assert_array_equal(img.alpha, ALPHA)
    assert img.model_id == "0123456789abcdef"
    assert img.hints == b"\x01hint"
    assert img.icc == b"ICC profile bytes" * 3
    assert img.exif == b"Exif\0\0MM" + bytes(20)


def test_roundtrip_minimal_and_options():
    img = read_gcz(write_gcz(GczImage(width=W, height=H, plane=PLANE)))
    np.testing.assert_array_equal(img.plane, PLANE)
    assert img.model_id == "" and img.hints is img.alpha is img.icc is img.exif is None
    for coding in sorted(lplane.BOUNDED_MODES):  # mode 4 has no full-size bound: test_quality.py
        for max_error in (0, 1, 4):
            img = read_gcz(write_gcz(GczImage(W, H, PLANE, max_error=max_error, coding=coding, icc=b"")))
            assert (img.coding, img.max_error, img.icc) == (coding, max_error, b"")
            assert np.abs(img.plane.astype(int) - PLANE).max() <= max_error


def test_roundtrip_one_pixel():
    img = read_gcz(write_gcz(GczImage(1, 1, np.array([[200]], np.uint8), alpha=np.array([[3]], np.uint8))))
    assert img.plane.tolist() == [[200]] and img.alpha.tolist() == [[3]]


def test_writer_validates():
    with pytest.raises(ValueError):
        write_gcz(full_image(plane=PLANE[:, :-1]))
    with pytest.raises(ValueError):
        write_gcz(full_image(alpha=ALPHA.astype(np.uint16)))
    with pytest.raises(ValueError):
        write_gcz(full_image(model_id="xyz"))
    with pytest.raises(ValueError):
        write_gcz(full_image(max_error=-1))


def test_describe():
    desc = describe_gcz(SMALL)
    json.dumps(desc)
    assert desc["version"] == "1.0" and (desc["width"], desc["height"]) == (W, H)
    assert desc["coding"] == {"id": lplane.DEFAULT_MODE, "name": lplane.MODE_NAMES[lplane.DEFAULT_MODE]}
    assert desc["lightness"]["id"] == gcz.LIGHTNESS_SRGB8 and desc["model_id"] == "0123456789abcdef"
    assert [c["type"] for c in desc["chunks"]] == ["LPLN", "ALPH", "hINT", "iCCP", "eXIf", "IEND"]
    assert [c["critical"] for c in desc["chunks"]] == [True, True, False, False, False, True]
    assert desc["total_bytes"] == len(SMALL)
    assert desc["bpp"] == pytest.approx(len(SMALL) * 8 / (W * H), abs=1e-3)
    assert desc["compression_ratio"] == pytest.approx(3 * W * H / len(SMALL), abs=1e-2)
    assert describe_gcz(forge((gcz.LPLN, b""), (gcz.IEND, b""), w=10**5, h=10**5), max_pixels=None)["width"] == 10**5


# --- damage ------------------------------------------------------------------------------
def test_every_truncation():
    for n in range(len(SMALL)):
        with pytest.raises(FormatError):
            read_gcz(SMALL[:n])


def test_every_header_bit_flip():
    for bit in range(gcz.HEADER_SIZE * 8):
        bad = bytearray(SMALL)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ERRORS):
            read_gcz(bytes(bad))


def test_every_chunk_bit_flip():
    for bit in range(gcz.HEADER_SIZE * 8, len(SMALL) * 8):
        bad = bytearray(SMALL)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(FormatError):
            read_gcz(bytes(bad))


def test_data_flip_is_a_checksum_error():
    bad = bytearray(SMALL)
    bad[gcz.HEADER_SIZE + 8 + 3] ^= 0x10  # inside the LPLN data
    with pytest.raises(FormatError, match="LPLN: checksum"):
        read_gcz(bytes(bad))
    bad = bytearray(SMALL)
    bad[20] ^= 1  # max_error byte of the header
    with pytest.raises(FormatError, match="header: checksum"):
        read_gcz(bytes(bad))


def test_wrong_magic():
    with pytest.raises(FormatError, match="magic"):
        read_gcz(b"\x89PNG\r\n\x1a\n" + SMALL[8:])
    with pytest.raises(FormatError, match="magic"):
        read_gcz(b"hello world, this is not a gcz file at all")


def test_unknown_major_version():
    data = forge((gcz.LPLN, med_payload()), (gcz.IEND, b""), version=(2, 0))
    with pytest.raises(FormatError, match="version 2.0"):
        read_gcz(data)
    newer_minor = forge((gcz.LPLN, med_payload()), (gcz.IEND, b""), version=(1, 7))
    np.testing.assert_array_equal(read_gcz(newer_minor).plane, PLANE)


def test_huge_header_refused_before_allocating():
    data = forge((gcz.LPLN, b"\0" * 16), (gcz.IEND, b""), w=100_000, h=100_000)
    tracemalloc.start()
    try:
        with pytest.raises(ImageTooLargeError, match="100000x100000"):
            read_gcz(data)
        with pytest.raises(ImageTooLargeError):
            describe_gcz(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    with pytest.raises(ImageTooLargeError):
        read_gcz(write_gcz(GczImage(W, H, PLANE)), max_pixels=W * H - 1)
    assert read_gcz(write_gcz(GczImage(W, H, PLANE)), max_pixels=W * H).width == W


def test_zero_size_refused():
    with pytest.raises(FormatError, match="size"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.IEND, b""), w=0))


def test_zstd_content_size_disagreeing_with_header():
    """Frames with valid CRCs around them: the size check itself must refuse them."""
    for n in (W * H - 1, W * H + 1, W * H * 1000):
        frame = zstandard.ZstdCompressor().compress(bytes(n))
        with pytest.raises(FormatError, match="LPLN.*declares"):
            read_gcz(forge((gcz.LPLN, frame), (gcz.IEND, b"")))
    no_size = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(W * H))
    with pytest.raises(FormatError, match="LPLN"):
        read_gcz(forge((gcz.LPLN, no_size), (gcz.IEND, b"")))
    for meta in (gcz.ICCP, gcz.EXIF):
        over = zstandard.ZstdCompressor().compress(bytes(gcz.MAX_METADATA_BYTES + 1))
        with pytest.raises(FormatError, match=meta.decode()):
            read_gcz(forge((gcz.LPLN, med_payload()), (meta, over), (gcz.IEND, b"")))
        unknown = zstandard.ZstdCompressor(write_content_size=False).compress(b"abc")
        with pytest.raises(FormatError, match=meta.decode()):
            read_gcz(forge((gcz.LPLN, med_payload()), (meta, unknown), (gcz.IEND, b"")))


def test_trailing_bytes():
    with pytest.raises(FormatError, match="trailing"):
        read_gcz(SMALL + b"\0")
    with pytest.raises(FormatError, match="trailing"):
        read_gcz(SMALL + pack_chunk(b"tEXt", b"after the end"))


def test_missing_end_chunk():
    with pytest.raises(FormatError, match="truncated"):
        read_gcz(forge((gcz.LPLN, med_payload())))
    with pytest.raises(FormatError, match="IEND"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.IEND, b"x")))


def test_missing_or_duplicate_plane():
    with pytest.raises(FormatError, match="LPLN: missing"):
        read_gcz(forge((gcz.IEND, b"")))
    with pytest.raises(FormatError, match="LPLN: duplicate"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.LPLN, med_payload()), (gcz.IEND, b"")))
    alpha = bytes([1]) + med_payload()
    with pytest.raises(FormatError, match="ALPH: duplicate"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.ALPH, alpha), (gcz.ALPH, alpha), (gcz.IEND, b""),
                       flags=gcz.FLAG_ALPHA))
    with pytest.raises(FormatError, match="alpha flag"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.ALPH, alpha), (gcz.IEND, b"")))


def test_unknown_chunks():
    plane = (gcz.LPLN, med_payload())
    with pytest.raises(FormatError, match="unknown critical chunk"):
        read_gcz(forge(plane, (b"ZZZZ", b"must understand"), (gcz.IEND, b"")))
    img = read_gcz(forge((b"zzZZ", b"skip me"), plane, (b"tEXt", b"a"), (b"tEXt", b"b"), (gcz.IEND, b"")))
    np.testing.assert_array_equal(img.plane, PLANE)
    with pytest.raises(FormatError, match="invalid type"):
        read_gcz(forge(plane, (b"ab1\0", b""), (gcz.IEND, b"")))


def test_chunk_length_beyond_data():
    data = forge((gcz.LPLN, med_payload()), (gcz.IEND, b""))
    bad = bytearray(data)
    bad[gcz.HEADER_SIZE + 4: gcz.HEADER_SIZE + 8] = (2**32 - 1).to_bytes(4, "little")
    with pytest.raises(FormatError, match="exceeds"):
        read_gcz(bytes(bad))


def test_bad_header_values():
    plane = (gcz.LPLN, med_payload())
    end = (gcz.IEND, b"")
    with pytest.raises(FormatError, match="lightness"):
        read_gcz(forge(plane, end, lightness=9))
    with pytest.raises(FormatError, match="coding mode"):
        read_gcz(forge(plane, end, coding=200))
    with pytest.raises(FormatError, match="max_error"):
        read_gcz(forge(plane, end, max_error=255))
    with pytest.raises(FormatError, match="flags"):
        read_gcz(forge(plane, end, flags=0x80))


def test_bad_alpha_mode():
    with pytest.raises(FormatError, match="ALPH"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.ALPH, b"\x63" + med_payload()), (gcz.IEND, b""),
                       flags=gcz.FLAG_ALPHA))
    with pytest.raises(FormatError, match="ALPH: empty"):
        read_gcz(forge((gcz.LPLN, med_payload()), (gcz.ALPH, b""), (gcz.IEND, b""), flags=gcz.FLAG_ALPHA))


def test_forged_plane_payload_names_chunk():
    with pytest.raises(FormatError, match="chunk LPLN: lightness plane"):
        read_gcz(forge((gcz.LPLN, b"garbage"), (gcz.IEND, b""), coding=lplane.MODE_GAP))


def test_header_layout_matches_format_md():
    """Byte offsets of docs/FORMAT.md §1, read with plain struct calls."""
    import struct
    import zlib

    data = write_gcz(full_image(max_error=3, coding=lplane.MODE_MED))
    assert data[:8] == b"\x89GCZ\r\n\x1a\n"
    assert (data[8], data[9]) == (1, 0)
    assert struct.unpack_from("<II", data, 10) == (W, H)
    assert (data[18], data[19], data[20], data[21]) == (1, lplane.MODE_MED, 3, gcz.FLAG_ALPHA)
    assert data[22:30].hex() == "0123456789abcdef"
    assert struct.unpack_from("<I", data, 30)[0] == zlib.crc32(data[8:30])
    ctype, length = struct.unpack_from("<4sI", data, 34)
    assert ctype == b"LPLN"
    assert struct.unpack_from("<I", data, 42 + length)[0] == zlib.crc32(data[34:38] + data[42:42 + length])
    assert data[-12:] == b"IEND" + bytes(4) + struct.pack("<I", zlib.crc32(b"IEND"))
