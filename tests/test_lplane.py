"""Lightness plane coding: bit-exact lossless round trips, the near-lossless bound, damaged payloads."""
from pathlib import Path

import numpy as np
import pytest
import zstandard
from conftest import load_benchmark
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from graycodec import lplane
from graycodec.errors import FormatError
from graycodec.lplane import gap, strips
from graycodec.lplane._zstd import get_varint, put_varint

MODES = sorted(lplane.BOUNDED_MODES)  # modes whose max_error bounds the decoded plane (mode 4: tests/test_quality.py)
SHARED_DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
RNG = np.random.default_rng(1234)


def roundtrip(plane, max_error=0, mode=None):
    got_mode, payload = lplane.encode_plane(plane, max_error=max_error, mode=mode)
    assert got_mode == (lplane.DEFAULT_MODE if mode is None else mode)
    out = lplane.decode_plane(got_mode, payload, plane.shape[1], plane.shape[0], max_error)
    assert out.dtype == np.uint8 and out.shape == plane.shape
    return out, payload


def smooth(h, w, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 90 * np.sin(x / 7.0 + seed) * np.cos(y / 11.0) + rng.normal(0, 3, (h, w))
    return np.clip(base, 0, 255).astype(np.uint8)


PLANES = {
    "random": RNG.integers(0, 256, (37, 53), dtype=np.uint8),
    "zeros": np.zeros((20, 30), np.uint8),
    "full": np.full((20, 30), 255, np.uint8),
    "gradient": (np.add.outer(np.arange(40), np.arange(60)) * 3 % 256).astype(np.uint8),
    "checker": ((np.indices((32, 32)).sum(0) % 2) * 255).astype(np.uint8),
    "smooth": smooth(48, 64),
    "1x1": np.array([[77]], np.uint8),
    "1xN": RNG.integers(0, 256, (1, 101), dtype=np.uint8),
    "Nx1": RNG.integers(0, 256, (101, 1), dtype=np.uint8),
    "2x2": np.array([[0, 255], [255, 0]], np.uint8),
    "extremes": RNG.choice(np.array([0, 1, 2, 3, 252, 253, 254, 255], np.uint8), (25, 31)),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(PLANES))
def test_lossless_roundtrip(name, mode):
    plane = PLANES[name]
    out, _ = roundtrip(plane, mode=mode)
    np.testing.assert_array_equal(out, plane)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_error", [1, 2, 3, 5, 10, 20, lplane.MAX_ERROR_LIMIT])
@pytest.mark.parametrize("name", sorted(PLANES))
def test_near_lossless_bound(name, mode, max_error):
    plane = PLANES[name]
    out, _ = roundtrip(plane, max_error, mode)
    assert np.abs(out.astype(int) - plane).max() <= max_error


@pytest.mark.parametrize("max_error", range(0, 21))
def test_near_lossless_every_value(max_error):
    """Every gray value next to every other (clipping at 0 and 255 included), both modes."""
    v = np.arange(256, dtype=np.uint8)
    plane = np.stack([v, v[::-1], np.roll(v, 7), (v * 37).astype(np.uint8)] * 2)
    for mode in MODES:
        out, _ = roundtrip(plane, max_error, mode)
        assert np.abs(out.astype(int) - plane).max() <= max_error


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["random", "smooth", "levels"]), mode=st.sampled_from(MODES),
       max_error=st.sampled_from([0, 0, 1, 2, 3, 7, 20]))
def test_hypothesis_roundtrip(h, w, seed, kind, mode, max_error):
    rng = np.random.default_rng(seed)
    if kind == "random":
        plane = rng.integers(0, 256, (h, w), dtype=np.uint8)
    elif kind == "smooth":
        plane = smooth(h, w, seed % 1000)
    else:
        plane = rng.choice(rng.integers(0, 256, 3, dtype=np.uint8), (h, w))
    out, _ = roundtrip(plane, max_error, mode)
    if max_error == 0:
        np.testing.assert_array_equal(out, plane)
    else:
        assert np.abs(out.astype(int) - plane).max() <= max_error


def photos():
    skdata = pytest.importorskip("skimage.data")
    from graycodec.color import rgb_to_plane

    return {"camera": skdata.camera(), "astronaut": rgb_to_plane(skdata.astronaut())}


@pytest.mark.parametrize("mode", MODES)
def test_real_photos(mode):
    for name, plane in photos().items():
        out, payload = roundtrip(plane, 0, mode)
        np.testing.assert_array_equal(out, plane)
        last = len(payload)
        for max_error in (1, 2, 3, 8):
            out, payload = roundtrip(plane, max_error, mode)
            assert np.abs(out.astype(int) - plane).max() <= max_error, (name, max_error)
            assert len(payload) < last, "a larger max_error must not cost more"
            last = len(payload)


def test_default_mode_is_strips():
    assert lplane.DEFAULT_MODE == lplane.MODE_STRIPS == 3
    assert lplane.encode_plane(PLANES["smooth"])[0] == 3


def test_default_mode_beats_med_on_photos():
    for plane in photos().values():
        med = len(lplane.encode_plane(plane, mode=lplane.MODE_MED)[1])
        gap = len(lplane.encode_plane(plane)[1])
        assert gap < 0.95 * med


@pytest.mark.shared
def test_kodak_below_jpegls():
    imagecodecs = pytest.importorskip("imagecodecs")
    from PIL import Image

    from graycodec.color import rgb_to_plane

    kodak = SHARED_DATA / "kodak"
    if not kodak.is_dir():
        pytest.skip("../shared/data/kodak not available")
    ours = ref = 0
    for name in ("kodim01.png", "kodim13.png"):
        plane = rgb_to_plane(np.asarray(Image.open(kodak / name).convert("RGB")))
        out, payload = roundtrip(plane)
        np.testing.assert_array_equal(out, plane)
        ours += len(payload)
        ref += len(imagecodecs.jpegls_encode(plane))
    assert ours < ref


# --- bad input ---------------------------------------------------------------------------
def test_encode_rejects_bad_arguments():
    with pytest.raises(ValueError):
        lplane.encode_plane(np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError):
        lplane.encode_plane(np.zeros((4,), np.uint8))
    with pytest.raises(ValueError):
        lplane.encode_plane(np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError):
        lplane.encode_plane(np.zeros((4, 4), np.uint8), max_error=-1)
    with pytest.raises(ValueError):
        lplane.encode_plane(np.zeros((4, 4), np.uint8), mode=99)


def test_decode_rejects_bad_header_values():
    _, payload = lplane.encode_plane(PLANES["smooth"], mode=lplane.MODE_GAP)
    with pytest.raises(FormatError, match="mode"):
        lplane.decode_plane(99, payload, 64, 48, 0)
    with pytest.raises(FormatError, match="size"):
        lplane.decode_plane(2, payload, 0, 48, 0)
    with pytest.raises(FormatError, match="max_error"):
        lplane.decode_plane(2, payload, 64, 48, 1000)
    with pytest.raises(FormatError):
        lplane.decode_plane(2, payload, 64, 47, 0)  # wrong pixel count


@pytest.mark.parametrize("mode", MODES)
def test_every_truncation_raises(mode):
    plane = PLANES["smooth"][:12, :20]
    _, payload = lplane.encode_plane(plane, mode=mode)
    for n in range(len(payload)):
        with pytest.raises(FormatError):
            lplane.decode_plane(mode, payload[:n], 20, 12, 0)
    with pytest.raises(FormatError):
        lplane.decode_plane(mode, payload + b"\0", 20, 12, 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("max_error", [0, 2])
def test_damaged_payload_raises_format_error_only(mode, max_error):
    """Random damage either decodes to some plane of the right shape or raises FormatError."""
    plane = PLANES["smooth"][:16, :24]
    _, payload = lplane.encode_plane(plane, max_error=max_error, mode=mode)
    rng = np.random.default_rng(mode * 10 + max_error)
    for _ in range(300):
        bad = bytearray(payload)
        for i in rng.integers(0, len(bad), rng.integers(1, 4)):
            bad[i] ^= int(rng.integers(1, 256))
        try:
            out = lplane.decode_plane(mode, bytes(bad), 24, 16, max_error)
        except FormatError:
            continue
        assert out.shape == (16, 24) and out.dtype == np.uint8


def test_zstd_frame_with_wrong_content_size():
    plane = PLANES["gradient"]
    h, w = plane.shape
    for size in (h * w - 1, h * w + 1, 4 * h * w):
        frame = zstandard.ZstdCompressor().compress(bytes(size))
        with pytest.raises(FormatError, match="declares"):
            lplane.decode_plane(lplane.MODE_MED, frame, w, h, 0)


def test_zstd_frame_without_content_size_refused():
    frame = zstandard.ZstdCompressor(write_content_size=False).compress(bytes(600))
    with pytest.raises(FormatError, match="declares"):
        lplane.decode_plane(lplane.MODE_MED, frame, 30, 20, 0)


def test_mode2_stream_table_checked():
    plane = PLANES["smooth"]
    _, payload = lplane.encode_plane(plane)
    with pytest.raises(FormatError, match="varint"):
        lplane.decode_plane(2, b"\xff" * 40, 64, 48, 0)
    with pytest.raises(FormatError, match="add up"):
        lplane.decode_plane(2, bytes(32), 64, 48, 0)
    # a well-formed table whose streams do not match the contexts the decoder computes
    table = b"".join(put_varint(n) + put_varint(len(f)) for n, f in [(64 * 48, b"")] + [(0, b"")] * 15)
    with pytest.raises(FormatError):
        lplane.decode_plane(2, table, 64, 48, 0)
    frames = [zstandard.ZstdCompressor().compress(bytes(64 * 48))] + [b""] * 15
    sizes = [64 * 48] + [0] * 15
    table = b"".join(put_varint(n) + put_varint(len(f)) for n, f in zip(sizes, frames))
    try:  # all-zero values in stream 0: decodes only if every pixel falls in class 0
        lplane.decode_plane(2, table + b"".join(frames), 64, 48, 0)
    except FormatError as exc:
        assert "stream" in str(exc)


# --- mode 3: independent strips ----------------------------------------------------------
def strips_roundtrip(plane, max_error, rows):
    payload = strips.encode(plane, max_error, rows)
    out = lplane.decode_plane(3, payload, plane.shape[1], plane.shape[0], max_error)
    assert out.dtype == np.uint8 and out.shape == plane.shape
    if max_error == 0:
        np.testing.assert_array_equal(out, plane)
    else:
        assert np.abs(out.astype(int) - plane).max() <= max_error
    return payload


def test_strip_rows_rule():
    assert [strips.strip_rows(h) for h in (1, 2, 255)] == [1, 2, 255]  # one strip
    assert [strips.strip_rows(h) for h in (256, 511)] == [128, 256]  # two
    assert [strips.strip_rows(h) for h in (512, 513, 768, 1023, 1024)] == [128, 129, 192, 256, 128]
    assert strips.strip_rows(4000) == 250 and strips.strip_rows(100_000) == 1563  # at most 64 strips
    assert [strips.strip_rows(h, min_rows=256) for h in (511, 512, 768, 4000)] == [511, 256, 384, 500]
    for h in (1, 7, 384, 512, 768, 1000, 4000, 12345, 100_000):
        rows = strips.strip_rows(h)
        assert 1 <= rows <= h and -(-h // rows) <= strips.MAX_STRIPS


@pytest.mark.parametrize("max_error", [0, 1, 3])
@pytest.mark.parametrize("height", [1, 2, 7, 8, 9, 15, 16, 17, 25])
def test_strip_boundaries(height, max_error):
    """Heights just below, at and above multiples of the strip height, every plane kind."""
    for w in (1, 2, 13):
        for name in ("random", "smooth", "gradient", "zeros", "checker"):
            if name == "random":
                plane = np.random.default_rng(height * w).integers(0, 256, (height, w), dtype=np.uint8)
            elif name == "smooth":
                plane = smooth(height, w, height)
            elif name == "gradient":
                plane = (np.add.outer(np.arange(height), np.arange(w)) * 5 % 256).astype(np.uint8)
            elif name == "zeros":
                plane = np.zeros((height, w), np.uint8)
            else:
                plane = ((np.indices((height, w)).sum(0) % 2) * 255).astype(np.uint8)
            for rows in {1, min(height, 4), min(height, 8), height}:
                strips_roundtrip(plane, max_error, rows)


def test_decode_units_pair_strips_only_when_every_thread_gets_pairs():
    units = strips._decode_units
    assert units(512, 128, 2) == [[0, 2], [1, 3]]  # pairs join strips half the plane apart
    assert units(512, 256, 2) == [[0], [1]]  # 2 strips, 2 threads: one each
    assert units(512, 256, 1) == [[0, 1]]
    assert units(500, 128, 2) == [[0, 1], [2], [3]]  # the short last strip is decoded alone
    assert units(640, 128, 2) == [[0, 2], [1, 3], [4]]
    assert units(7, 1, 3) == [[0, 3], [1, 4], [2, 5], [6]]
    assert units(5, 1, 3) == [[s] for s in range(5)]
    for height, rows, threads in ((1, 1, 1), (25, 4, 2), (25, 8, 1), (1000, 128, 4), (100_000, 1563, 2)):
        got = units(height, rows, threads)
        assert sorted(s for unit in got for s in unit) == list(range(-(-height // rows)))  # each strip once
        assert all(len(unit) == 1 or max(unit) < height // rows for unit in got)  # pairs: two full strips


def test_strips_default_split_roundtrip():
    """Planes tall enough for 2, 4 and 8 strips with the encoder's own rule, and 1 × N / N × 1."""
    for shape in ((512, 9), (600, 1), (1030, 3), (1, 1000), (1100, 1), (300, 5)):
        plane = smooth(*shape)
        assert strips.decode(strips.encode(plane, 0), shape[1], shape[0], 0).tobytes() == plane.tobytes()
        for d in (1, 2):
            out = lplane.decode_plane(*lplane.encode_plane(plane, max_error=d), shape[1], shape[0], d)
            assert np.abs(out.astype(int) - plane).max() <= d


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 60), w=st.integers(1, 30), rows=st.integers(1, 60), seed=st.integers(0, 2**32 - 1),
       max_error=st.sampled_from([0, 0, 1, 2, 3, 7]))
def test_hypothesis_strips(h, w, rows, seed, max_error):
    plane = smooth(h, w, seed % 1000) if seed % 2 else np.random.default_rng(seed).integers(0, 256, (h, w), np.uint8)
    strips_roundtrip(plane, max_error, min(rows, h))


def test_strips_independent_of_threads():
    """The payload does not depend on the thread count, and concurrent callers are safe."""
    from concurrent.futures import ThreadPoolExecutor

    plane = smooth(70, 40, 3)
    many = strips.encode(plane, 1, 9)
    try:
        strips.set_num_threads(1)
        assert strips.num_threads() == 1
        assert strips.encode(plane, 1, 9) == many
        one = strips.decode(many, 40, 70, 1)
        strips.set_num_threads(3)
        assert strips.encode(plane, 1, 9) == many
        np.testing.assert_array_equal(strips.decode(many, 40, 70, 1), one)
    finally:
        strips.set_num_threads(None)
    with pytest.raises(ValueError):
        strips.set_num_threads(0)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: strips.decode(many, 40, 70, 1), range(8)))
    for out in outs:
        np.testing.assert_array_equal(out, one)


def _decode_in_child(payload):
    return strips.decode(payload, 40, 70, 0).tobytes()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_strips_after_fork():
    """A child forked after the parent used the thread pool decodes on a pool of its own."""
    import multiprocessing

    plane = smooth(70, 40, 5)
    payload = strips.encode(plane, 0, 16)
    try:
        strips.set_num_threads(2)
        strips.decode(payload, 40, 70, 0)  # the parent's pool exists now
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.apply_async(_decode_in_child, (payload,)).get(timeout=120) == plane.tobytes()
    finally:
        strips.set_num_threads(None)


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    """Decode on the calling thread alone, or on it and the pool."""
    strips.set_num_threads(request.param)
    yield request.param
    strips.set_num_threads(None)


@pytest.mark.parametrize("max_error", [0, 2])
def test_strips_every_truncation_raises(max_error, threads):
    plane = PLANES["smooth"][:12, :20]
    payload = strips.encode(plane, max_error, 4)  # three strips: a strip table of two rows
    for n in range(len(payload)):
        with pytest.raises(FormatError):
            lplane.decode_plane(3, payload[:n], 20, 12, max_error)
    with pytest.raises(FormatError):
        lplane.decode_plane(3, payload + b"\0", 20, 12, max_error)


@pytest.mark.parametrize("max_error", [0, 2])
def test_strips_damaged_payload(max_error, threads):
    """Strips of 5, 5, 5 and 1 rows: decoded as a pair and two single strips."""
    plane = PLANES["smooth"][:16, :24]
    payload = strips.encode(plane, max_error, 5)
    assert strips._decode_units(16, 5, threads) == [[0, 1], [2], [3]]
    rng = np.random.default_rng(3 + max_error)
    refused = 0
    for _ in range(300):
        bad = bytearray(payload)
        for i in rng.integers(0, len(bad), rng.integers(1, 4)):
            bad[i] ^= int(rng.integers(1, 256))
        try:
            out = lplane.decode_plane(3, bytes(bad), 24, 16, max_error)
        except FormatError:
            refused += 1
            continue
        assert out.shape == (16, 24) and out.dtype == np.uint8
    assert refused > 0


def test_strips_header_checked():
    plane = PLANES["smooth"][:12, :20]
    payload = strips.encode(plane, 0, 4)
    rows, pos = get_varint(payload, 0, "x")
    assert rows == 4
    for bad_rows in (0, 13, 1000):
        with pytest.raises(FormatError, match="strip height"):
            lplane.decode_plane(3, put_varint(bad_rows) + payload[pos:], 20, 12, 0)
    # strip table: the first strip's counts must add up to its 4 × 20 pixels
    head = [get_varint(payload, pos, "x")]
    p = pos
    for _ in range(32):
        _, p = get_varint(payload, p, "x")
    counts = []
    q = p
    for _ in range(32):
        c, q = get_varint(payload, q, "x")
        counts.append(c)
    assert sum(counts[:16]) == 80 and sum(counts[16:]) == 80 and head
    k = next(i for i, c in enumerate(counts[:16]) if c > 0)
    wrong = counts.copy()
    wrong[k] -= 1
    table = b"".join(put_varint(c) for c in wrong)
    with pytest.raises(FormatError, match="add up"):
        lplane.decode_plane(3, payload[:p] + table + payload[q:], 20, 12, 0)
    wrong = counts.copy()  # both listed strips sum right, but use more of a stream than exists
    wrong[k] -= 1
    wrong[16 + k] += 1
    j = next(i for i in range(16) if i != k and counts[16 + i] > 0 and i not in (k,))
    wrong[16 + j] -= 1
    wrong[j] += 1
    table = b"".join(put_varint(c) for c in wrong)
    with pytest.raises(FormatError):
        lplane.decode_plane(3, payload[:p] + table + payload[q:], 20, 12, 0)
    with pytest.raises(FormatError, match="mode 3"):
        lplane.decode_plane(3, put_varint(4) + b"\x00" * 40, 20, 12, 0)


def test_one_strip_is_mode2_with_a_header():
    """Same streams as mode 2 (the frames may differ: mode 3's encoder searches deeper)."""
    for plane in (PLANES["smooth"], PLANES["1xN"], PLANES["Nx1"], photos()["camera"]):
        for d in (0, 2):
            one = strips.encode(plane, d, plane.shape[0])
            rows, pos = get_varint(one, 0, "x")
            assert rows == plane.shape[0]
            two = gap.encode(plane, d)
            assert lplane.decode_plane(2, one[pos:], plane.shape[1], plane.shape[0], d).tobytes() == \
                lplane.decode_plane(2, two, plane.shape[1], plane.shape[0], d).tobytes()


def test_varint_roundtrip():
    for n in (0, 1, 127, 128, 300, 2**21, 2**32 - 1, 2**35 - 1):
        enc = put_varint(n)
        assert get_varint(enc, 0, "x") == (n, len(enc))


# --- bitstream stability: payloads written by this version must decode the same forever ---
def golden_plane():
    y, x = np.mgrid[0:12, 0:16]
    return (((x * x + 3 * y * y + x * y) // 7 + ((x * 13) ^ (y * 7))) % 256).astype(np.uint8)


GOLDEN = [  # (mode, max_error, sha256 of the decoded plane, payload hex)
    (1, 0, "fcb5b52e5e53bb1e870aa2347b4edb686ffd3c5dc3d2490be1510be076000cdd",
        "28b52ffd20c07d050002cc2a2aa0276d49b6464ddaf6866f7f846339ffffdb0511000000444e35d0c693dd297ba7942d"
        "76dbe637b209098ba7a0b9be30cf37b70f76b0044f41c5180030683887f33477e792692527190069d4cb2fde5e79f6ec"
        "9f5b6c44771c2044031f3aa219797d851d6524cefdaf489ee0309a5678cd5b20bcb790024d228b9f42b8ba470ac00618"
        "d959808fe760e8d98a1b7d44b58ae2528ecac4d2b492ad899dec3e89a6d61a63ccddbdbb990b0200"),
    (1, 2, "46ef59da388e6b709191d50dd0107ae253f3454e305eb125976c8fa5d5953ac6",
        "28b52ffd20c0550300020b180f604dd201c474c8b902488458d9a41db6f655baea15264c4ca1c706527139e370b62967"
        "a72aa995de5baf478a06082186102d585512fdbde4c5b510f0a8a1c32e0c73dc87bd86f7874248d1c041c68003a76ca5"
        "a1b582f487dcb7f36b5d561002002bd9178008"),
    (2, 0, "fcb5b52e5e53bb1e870aa2347b4edb686ffd3c5dc3d2490be1510be076000cdd",
        "010a00000000000000000000010a020b030c030c09120d16101918211821606928b52ffd2001090000ff28b52ffd2001"
        "0900001f28b52ffd20021100000e0a28b52ffd200319000007170e28b52ffd200319000003120c28b52ffd2009490000"
        "002f1316020105041128b52ffd200d6900001605141b1c0f3922000c07032a28b52ffd20108100000137100e06141d05"
        "0a0a1b0e1508010028b52ffd2018c10000104508131103061d142c3f1a1eff186e0f1028131f072d0f28b52ffd2018c1"
        "00000e424a1914342e2e1d2f1201113b62020d0518050228140028b52ffd2060010300661907051e041308192d092d1f"
        "290a18150c0a000b0b5cf13d771320103b3d3d1e0d1d1604190c0b2d1c10060e1b101b183c1d290242203f031a124302"
        "041a10011d0d081a070045c31f1e1af411121641e505311622b40d172fc910272b15f9"),
    (2, 2, "7ac1c54a808dc082102a34da6703bac4716e6d3b003f69b98df344784bed2d0e",
        "010a0000000000000000010a0000020b040d040d09120c15111a19221c25594b28b52ffd20010900003328b52ffd2001"
        "0900000628b52ffd2002110000020228b52ffd20042100000203040128b52ffd2004210000000a040228b52ffd200949"
        "000004030300000101010528b52ffd200c6100000001030204000106030a000128b52ffd2011890000020a0701010304"
        "0405090104020900020a28b52ffd2019c900000502040f03010401050603040933010303070401000500080428b52ffd"
        "201ce1000003010a0808070408030104020000040b0b090100020004000111040128b52ffd205915020092850f11406b"
        "e201c87cc48539017e8c27a5dca61de5ce88703482f37881985c6e35186c3b354326f9774223c2e59bae3135ebfec906"
        "074829584e19ad7abe352000"),
    (3, 0, "fcb5b52e5e53bb1e870aa2347b4edb686ffd3c5dc3d2490be1510be076000cdd",  # strips of 5 rows
        "05030c000000000000010a020b010a030c030c071009120d16131c1a23192250590100000000000102010203060d0f0c"
        "1801000000000100010103050403070a2c28b52ffd2003190000ffa62028b52ffd20010900001c28b52ffd2002110000"
        "1bee28b52ffd20010900001f28b52ffd20031900000e0a8f28b52ffd2003190000070e2528b52ffd2007390000031246"
        "160c1a0128b52ffd2009490000002f130205040c040228b52ffd200d6900001605141b1c0f832200010be52328b52ffd"
        "20139900000137100e06141d050a0a1b0e1510070eb5120428b52ffd201ad10000104508131103061d142c3f1a1eff18"
        "6c071028011f002a1a0f0c28b52ffd2019c900000e424a1914342e2e1d2f12010bea151a0227280005020f081928b52f"
        "fd2050810200661907051e041308192d092d1f290a18150c0a000b0b5cf13b0e086d55495317041342051d0f12620729"
        "3e4c8b3c34430242263f0324210b1f04151e011310081a0407015e1642530856ca0b271b0bc8"),
    (3, 2, "f001b068d41a156952d0d31ba14b867da5ed8033445779583306c6dfee90d713",
        "05030c000000000000010a020b010a040d020b08110a13111a0f181a231c254b460100000000010002020203090c0f0e"
        "1301000000000001010003050602060b2c28b52ffd200319000033220628b52ffd20010900000628b52ffd2002110000"
        "062f28b52ffd20010900000628b52ffd200421000002021c0928b52ffd2002110000020328b52ffd2008410000000a0e"
        "030100030028b52ffd200a5100000403030400020100010628b52ffd2011890000000103020400010603190800000002"
        "032e28b52ffd200f790000020a0701010304040509010404022328b52ffd201ad100000502040f030104010506030409"
        "3301160102010501070504030028b52ffd201ce1000003010a0808070408030104020000022f06070304000200010102"
        "000628b52ffd204bed0100b2440e1110e5e818008001a26c545b04e45ba184a449a11e606d5129fe82dbbd619e011a09"
        "6764307aca3b2ce70c89b4879909ecb5a1ae5879569d1100"),
]


@pytest.mark.parametrize("mode, max_error, digest, payload", GOLDEN)
def test_golden_payloads_decode(mode, max_error, digest, payload):
    import hashlib

    plane = golden_plane()
    out = lplane.decode_plane(mode, bytes.fromhex(payload), 16, 12, max_error)
    assert hashlib.sha256(out.tobytes()).hexdigest() == digest
    assert np.abs(out.astype(int) - plane).max() <= max_error
    if max_error == 0:  # the encoder still makes a payload that decodes to the same plane
        np.testing.assert_array_equal(out, plane)
    if mode == 3:  # the golden payloads of mode 3 use strips of 5 rows (the encoder's default: 1 strip)
        again = strips.encode(plane, max_error, 5)
        np.testing.assert_array_equal(lplane.decode_plane(3, again, 16, 12, max_error), out)
        return
    again, payload2 = lplane.encode_plane(plane, max_error=max_error, mode=mode)
    np.testing.assert_array_equal(lplane.decode_plane(again, payload2, 16, 12, max_error), out)


# --- the fast decoder computes what the reference kernel computes -------------------------
def reference_decode(h, w, max_error, data, starts, ends):
    step, lut = gap._kernel_tables(max_error)
    buf = np.empty((h + 2) * (w + 3), np.uint8)
    rc = gap._gap_kernel(buf, h, w, step, lut, data, data, data, starts, ends, True)
    return rc, buf


def fast_decode(h, w, max_error, data, starts, ends):
    padded = np.concatenate([data, np.zeros(gap.decode_padding(w), np.uint8)])
    buf = np.empty((h + 2) * (w + 3), np.uint8)
    rc = gap._gap_decode(buf, h, w, *gap.decoder_tables(max_error), padded, starts, ends)
    return rc, buf


def pair_decode(h, w, max_error, data, starts, ends):
    """gap._gap_decode_pair on two strips of the same size: starts / ends (2, 16)."""
    padded = np.concatenate([data, np.zeros(gap.decode_padding(w), np.uint8)])
    bufs = np.empty((2, (h + 2) * (w + 3)), np.uint8)
    rc = gap._gap_decode_pair(bufs[0], bufs[1], h, w, *gap.decoder_tables(max_error), padded, starts, ends)
    return rc, bufs


def two_strips(first, second):
    """The streams of two strips laid out as mode 3 lays them out (stream by stream, each
    holding the first strip's values, then the second's): data, starts, ends (2, 16)."""
    (d0, s0, e0), (d1, s1, e1) = first, second
    counts = np.stack([e0 - s0, e1 - s1])
    data = np.concatenate([np.concatenate([d0[s0[k]:e0[k]], d1[s1[k]:e1[k]]]) for k in range(gap.N_STREAMS)])
    off = np.concatenate([[0], np.cumsum(counts.sum(0))])
    starts = np.stack([off[:-1], off[:-1] + counts[0]]).astype(np.int64)
    return data, starts, starts + counts


def mode2_streams(plane, max_error):
    """The 16 raw streams of a mode 2 payload, back to back, and where each starts and ends."""
    step, lut = gap._kernel_tables(max_error)
    h, w = plane.shape
    buf = np.empty((h + 2, w + 3), np.uint8)
    buf[2:, 2:w + 2] = plane
    vals, cls = np.empty(plane.size, np.uint8), np.empty(plane.size, np.uint8)
    none = np.zeros(gap.N_STREAMS, np.int64)
    gap._gap_kernel(buf.reshape(-1), h, w, step, lut, vals, cls, vals, none, none, False)
    data, off = gap._split_streams(vals, cls, gap.N_STREAMS)
    return data, off[:-1].copy(), off[1:].copy()


@njit(cache=False)
def reference_reconstruction(step, lut):  # pragma: no cover - compiled
    """What _gap_kernel's decode path computes from a coded value v, sign flip f and prediction
    p, laid out as gap.decoder_tables lays out its table."""
    out = np.empty(256 * 512, np.int64)
    for v in range(256):
        for fb in range(2):
            for p in range(256):
                if step == 1:
                    lo, hi = -p, 255 - p
                else:
                    lo, hi = lut[gap._T_QLO + p], lut[gap._T_QHI + p]
                e = gap._unfold(v, lo, min(-lo, hi), -fb)
                x = min(max(p + e * step, 0), 255)
                out[v * 512 + fb * 256 + p] = x + 256 * (v > hi - lo)
    return out


@pytest.mark.parametrize("max_error", [0, 1, 2, 3, 7, 20, lplane.MAX_ERROR_LIMIT])
def test_reconstruction_table_matches_the_reference_kernel(max_error):
    """Every entry of the decoders' table: the pixel and alphabet check of the reference."""
    step, rec, lut = gap.decoder_tables(max_error)
    np.testing.assert_array_equal(rec, reference_reconstruction(step, lut))
    assert (rec >= 256).any() == (max_error > 0)  # near-lossless alphabets are smaller than a byte


@pytest.mark.parametrize("max_error", [0, 1, 3, 20])
@pytest.mark.parametrize("name", sorted(PLANES))
def test_fast_decoder_matches_reference_on_valid_streams(name, max_error):
    plane = PLANES[name]
    h, w = plane.shape
    data, starts, ends = mode2_streams(plane, max_error)
    rc_ref, buf_ref = reference_decode(h, w, max_error, data, starts, ends)
    rc, buf = fast_decode(h, w, max_error, data, starts, ends)
    assert rc_ref == rc == 0
    np.testing.assert_array_equal(buf, buf_ref)


@pytest.mark.parametrize("max_error", [0, 2, 20])
def test_fast_decoder_matches_reference_on_damaged_streams(max_error):
    """Valid streams with a byte changed, or random bytes cut into 16 random streams: the two
    decoders accept (and then agree on the plane) or refuse alike."""
    rng = np.random.default_rng(99 + max_error)
    outcomes = set()
    for trial in range(600):
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        if trial % 2:
            data, starts, ends = mode2_streams(rng.integers(0, 256, (h, w), dtype=np.uint8), max_error)
            i = int(rng.integers(0, data.size))
            data[i] = rng.integers(0, 256) if rng.random() < 0.5 else data[i] ^ 1
        else:
            n = max(0, h * w + int(rng.choice([0, -1, 1, -w])))
            data = rng.integers(0, 256, n, dtype=np.uint8)
            cuts = np.sort(rng.integers(0, n + 1, gap.N_STREAMS - 1))
            starts = np.concatenate([[0], cuts]).astype(np.int64)
            ends = np.concatenate([cuts, [n]]).astype(np.int64)
        rc_ref, buf_ref = reference_decode(h, w, max_error, data, starts, ends)
        rc, buf = fast_decode(h, w, max_error, data, starts, ends)
        assert (rc_ref == 0) == (rc == 0), (trial, rc_ref, rc)
        if rc == 0:
            np.testing.assert_array_equal(buf, buf_ref)
        outcomes.add(rc)
    assert 0 in outcomes and len(outcomes) > 1  # both accepted and refused layouts were seen


@pytest.mark.parametrize("max_error", [0, 1, 3, 20])
def test_pair_decoder_matches_reference_on_valid_streams(max_error):
    names = sorted(PLANES)
    for a, b in zip(names, names[1:] + names[:1]):
        pa, pb = PLANES[a], PLANES[b]
        if pa.shape != pb.shape:
            pb = np.ascontiguousarray(np.resize(pb, pa.shape))
        h, w = pa.shape
        data, starts, ends = two_strips(mode2_streams(pa, max_error), mode2_streams(pb, max_error))
        rc, bufs = pair_decode(h, w, max_error, data, starts, ends)
        assert rc == 0, (a, b)
        for i, plane in enumerate((pa, pb)):
            rc_ref, buf_ref = reference_decode(h, w, max_error, data, starts[i], ends[i])
            assert rc_ref == 0
            np.testing.assert_array_equal(bufs[i], buf_ref)


@pytest.mark.parametrize("max_error", [0, 2, 20])
def test_pair_decoder_matches_reference_on_damaged_streams(max_error):
    """Two strips, one or both damaged: the pair decodes them (and agrees with the reference on
    both) exactly when the reference decodes each of them."""
    rng = np.random.default_rng(7 + max_error)
    outcomes = set()
    for trial in range(400):
        h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
        parts = []
        for strip in range(2):
            data, starts, ends = mode2_streams(rng.integers(0, 256, (h, w), dtype=np.uint8), max_error)
            if rng.random() < 0.6:
                if rng.random() < 0.5:
                    i = int(rng.integers(0, data.size))
                    data[i] = rng.integers(0, 256) if rng.random() < 0.5 else data[i] ^ 1
                else:  # a value moved from one stream to another: counts no longer match
                    k, j = rng.choice(gap.N_STREAMS, 2, replace=False)
                    if ends[k] > starts[k]:
                        data = np.concatenate([data[:ends[k] - 1], data[ends[k]:], data[ends[k] - 1:ends[k]]])
                        counts = ends - starts
                        counts[k] -= 1
                        counts[gap.N_STREAMS - 1] += 1
                        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
                        ends = starts + counts
            parts.append((data, starts, ends))
        data, starts, ends = two_strips(*parts)
        rc, bufs = pair_decode(h, w, max_error, data, starts, ends)
        refs = [reference_decode(h, w, max_error, data, starts[i], ends[i]) for i in range(2)]
        assert (rc == 0) == all(r == 0 for r, _ in refs), (trial, rc, [r for r, _ in refs])
        if rc == 0:
            for i in range(2):
                np.testing.assert_array_equal(bufs[i], refs[i][1])
        outcomes.add(rc)
    assert 0 in outcomes and len(outcomes) > 1


def test_strip_height_benchmark_runs(tmp_path, capsys, monkeypatch):
    """benchmarks/bench_strip_height.py on two small photos: both strip rules decode and report."""
    from PIL import Image
    from skimage import data as skdata

    for name in ("camera", "astronaut"):
        Image.fromarray(getattr(skdata, name)()).save(tmp_path / f"{name}.png")
    bench = load_benchmark("bench_strip_height", monkeypatch)
    assert bench.main(["--kodak", str(tmp_path), "--repeat", "1", "--rounds", "1", "--max-error", "0", "2"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0 |") or line.startswith("| 2 |")]
    assert [r.split("|")[2:4] for r in rows] == [[" 256 ", " 2 "], [" 128 ", " 4 "]] * 2  # 512-row photos
    assert bench.main(["--kodak", str(tmp_path / "none")]) == 1


def test_lplane_benchmark_times_coders_in_turn(monkeypatch):
    """best_in_turn: every job once per round, in turn, each under its own thread count."""
    bench = load_benchmark("bench_lplane", monkeypatch)
    calls = []
    jobs = {"a": (1, lambda: calls.append(("a", strips.num_threads()))),
            "b": (None, lambda: calls.append(("b", strips.num_threads())))}
    best = bench.best_in_turn(jobs, 3, threads=2)
    assert calls == [("a", 1), ("b", 2)] * 3
    assert set(best) == {"a", "b"} and all(0 <= s < 1 for s in best.values())
    assert strips._threads is None  # the override is cleared afterwards


def test_lplane_benchmark_speed_run(tmp_path, capsys, monkeypatch):
    """benchmarks/bench_lplane.py --speed-only on two small photos prints every coder's row."""
    from PIL import Image
    from skimage import data as skdata

    bench = load_benchmark("bench_lplane", monkeypatch)
    for name in ("camera", "coffee"):
        Image.fromarray(getattr(skdata, name)()[:96, :80]).save(tmp_path / f"{name}.png")
    assert bench.main(["--kodak", str(tmp_path), "--speed-only", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    labels = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ") and "MP/s" not in line]
    assert labels == ["Pillow PNG (default level)"] + [row[0] for row in bench.SPEED_ROWS]
    assert "| Pillow PNG (default level) |" in out and "| 1.00× | 1.00× |" in out
