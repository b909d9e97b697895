"""lplane mode 5 (``wavelet``): the integer 5/3 transform, round trips, contexts, damaged payloads."""
import numpy as np
import pytest

from graycodec import imageio, lplane
from graycodec.errors import FormatError
from graycodec.lplane import wavelet

from conftest import random_rgb


def smooth_plane(h=96, w=128):
    y, x = np.mgrid[0:h, 0:w]
    return np.clip(128 + 60 * np.sin(x / 11) + 50 * np.cos(y / 7) + ((x // 16 + y // 16) % 2) * 20, 0, 255
                   ).astype(np.uint8)


@pytest.mark.parametrize("h,w", [(1, 1), (1, 7), (6, 1), (2, 3), (9, 9), (33, 18), (64, 64), (101, 77)])
def test_transform_is_exactly_reversible(h, w):
    plane = np.random.default_rng(h * 131 + w).integers(0, 256, (h, w)).astype(np.uint8)
    for levels in {0, 1, wavelet.choose_levels(h, w), 4}:
        bands = wavelet.forward(plane, levels)
        assert [b.shape for b in bands] == wavelet.band_shapes(h, w, levels)
        assert np.array_equal(wavelet.inverse(bands, levels), plane)


@pytest.mark.parametrize("h,w", [(1, 1), (1, 40), (40, 1), (17, 23), (96, 128)])
@pytest.mark.parametrize("max_error", [1, 8, 40, 64])
def test_round_trip(h, w, max_error):
    plane = imageio.from_array(random_rgb(h, w)).plane
    mode, payload = lplane.encode_plane(plane, max_error=max_error, mode=lplane.MODE_WAVELET)
    out = lplane.decode_plane(mode, payload, w, h, max_error)
    assert mode == lplane.MODE_WAVELET and out.shape == plane.shape and out.dtype == np.uint8
    again = lplane.decode_plane(mode, payload, w, h, 0)  # the header's D does not steer the decoder
    assert np.array_equal(out, again)


def test_error_falls_and_rate_rises_with_a_finer_step():
    plane = smooth_plane()
    last_bytes, last_err = 0, 1e9
    for d in (64, 32, 16, 8, 2):
        payload = lplane.encode_plane(plane, max_error=d, mode=lplane.MODE_WAVELET)[1]
        err = np.abs(lplane.decode_plane(5, payload, 128, 96, d).astype(int) - plane).mean()
        assert len(payload) > last_bytes and err < last_err
        last_bytes, last_err = len(payload), err
    assert last_err < 1.0


def test_mid_rate_beats_near_lossless_on_a_smooth_plane():
    """The point of the mode: less error than near-lossless D at no more bits."""
    plane = smooth_plane()
    near = lplane.encode_plane(plane, max_error=8)[1]
    near_err = np.abs(lplane.decode_plane(3, near, 128, 96, 8).astype(int) - plane).mean()
    wav = lplane.encode_plane(plane, max_error=16, mode=lplane.MODE_WAVELET)[1]
    wav_err = np.abs(lplane.decode_plane(5, wav, 128, 96, 16).astype(int) - plane).mean()
    assert len(wav) <= len(near) and wav_err < near_err


def test_zero_step_is_refused():
    with pytest.raises(ValueError):
        lplane.encode_plane(smooth_plane(), max_error=0, mode=lplane.MODE_WAVELET)


def test_dequantize_stays_in_the_bin():
    q = np.arange(-5, 6)
    for step16, off16 in ((16, 0), (37, 8), (160, 15)):
        rec = wavelet.dequantize(q, step16, off16)
        mag = np.abs(rec[q != 0])
        lo = (np.abs(q[q != 0]) - 0.5) * step16 / 16 - 1
        hi = (np.abs(q[q != 0]) + 0.5) * step16 / 16 + 1
        assert (rec[q == 0] == 0).all() and ((mag >= lo) & (mag <= hi)).all()
        assert np.array_equal(np.sign(rec), np.sign(q))


def test_damaged_payloads_are_format_errors():
    plane = smooth_plane(40, 52)
    payload = lplane.encode_plane(plane, max_error=6, mode=lplane.MODE_WAVELET)[1]
    bad = [payload[:n] for n in range(len(payload))]  # every truncation
    rng = np.random.default_rng(1)
    for _ in range(300):  # flipped bytes
        b = bytearray(payload)
        i = int(rng.integers(len(b)))
        b[i] ^= int(rng.integers(1, 256))
        bad.append(bytes(b))
    bad += [b"\x09" + payload[1:], payload + b"\0"]
    for b in bad:
        try:
            out = lplane.decode_plane(lplane.MODE_WAVELET, b, 52, 40, 6)
        except FormatError:
            continue
        assert out.shape == (40, 52) and out.dtype == np.uint8  # some damage still decodes: a plane
