"""Hint thumbnails: block means, packing, and the damage a hint chunk may carry."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from graycodec import hints
from graycodec.errors import FormatError


@given(h=st.integers(1, 70), w=st.integers(1, 70), th=st.integers(1, 9), tw=st.integers(1, 9))
@settings(max_examples=40, deadline=None)
def test_block_means_match_torch_adaptive_pooling(h, w, th, tw):
    # The training code pools tensors; the encoder pools arrays: both must make the same hints.
    values = np.random.default_rng(h * w).normal(0, 40, (h, w, 2))
    th, tw = min(th, h), min(tw, w)
    ref = F.adaptive_avg_pool2d(torch.from_numpy(values).permute(2, 0, 1)[None], (th, tw))
    assert np.allclose(hints.block_means(values, th, tw), ref[0].permute(1, 2, 0).numpy())


def test_upsample_bilinear_matches_torch():
    values = np.random.default_rng(1).normal(0, 40, (7, 5, 2)).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(values).permute(2, 0, 1)[None], size=(31, 17), mode="bilinear", align_corners=False)
    assert np.allclose(hints.upsample_bilinear(values, 31, 17), ref[0].permute(1, 2, 0).numpy(), atol=1e-4)
    strip = hints.upsample_bilinear(values, 31, 17, rows=slice(10, 20))
    assert np.allclose(strip, ref[0].permute(1, 2, 0).numpy()[10:20], atol=1e-4)


@pytest.mark.parametrize("level,factor", [("low", 32), ("medium", 16), ("high", 8)])
def test_levels_give_the_documented_thumbnail(level, factor):
    ab = np.zeros((512, 768, 2))
    thumb = hints.make_hints(ab, level)
    assert thumb.factor == factor and thumb.level == level
    assert thumb.ab.shape == (512 // factor, 768 // factor, 2)


def test_none_level_means_no_thumbnail_and_unknown_level_is_refused():
    assert hints.make_hints(np.zeros((4, 4, 2)), "none") is None
    with pytest.raises(ValueError, match="unknown hint level"):
        hints.make_hints(np.zeros((4, 4, 2)), "ultra")


@given(h=st.integers(1, 300), w=st.integers(1, 300), level=st.sampled_from(["low", "medium", "high"]))
@settings(max_examples=30, deadline=None)
def test_pack_unpack_round_trip(h, w, level):
    ab = np.random.default_rng(h + w).uniform(-128, 127, (h, w, 2))
    thumb = hints.make_hints(ab, level)
    back = hints.unpack_hints(hints.pack_hints(thumb), w, h)
    assert back.factor == thumb.factor and np.array_equal(back.ab, thumb.ab)


def test_values_are_rounded_block_means():
    ab = np.zeros((32, 32, 2))
    ab[:16, :16, 0] = 10.4
    ab[:16, :16, 1] = -200  # out of int8 range: clipped
    thumb = hints.make_hints(ab, "medium")
    assert thumb.ab[0, 0, 0] == 10 and thumb.ab[0, 0, 1] == -128 and thumb.ab[1, 1, 0] == 0


def test_damaged_payloads_raise_format_error():
    payload = hints.pack_hints(hints.make_hints(np.random.default_rng(0).normal(0, 30, (64, 96, 2)), "medium"))
    for cut in range(len(payload)):
        with pytest.raises(FormatError):
            hints.unpack_hints(payload[:cut], 96, 64)
    with pytest.raises(FormatError, match="does not fit"):
        hints.unpack_hints(payload, 200, 64)
    with pytest.raises(FormatError, match="factor"):
        hints.unpack_hints(b"\x07" + payload[1:], 96, 64)
    for i in range(5, len(payload)):
        bad = bytearray(payload)
        bad[i] ^= 0x40
        try:
            hints.unpack_hints(bytes(bad), 96, 64)
        except FormatError:
            pass  # any other exception type fails the test


# --- issue 13: any factor, a/b quantiser step, v2 coding (MED-predicted indices) -----------------
@pytest.mark.parametrize("spec,factor,step", [("4", 4, 1), ("6:2", 6, 2), ("11:3", 11, 3), ("22:4", 22, 4),
                                              ("high", 8, 1), ("2:16", 2, 16), ("64", 64, 1)])
def test_new_levels_round_trip(spec, factor, step):
    h, w = 97, 131
    ab = np.random.default_rng(factor * step).normal(0, 45, (h, w, 2))
    thumb = hints.make_hints(ab, spec)
    assert (thumb.factor, thumb.step) == (factor, step)
    assert thumb.ab.shape == hints.thumbnail_shape(h, w, factor) + (2,)
    means = hints.block_means(ab, *thumb.ab.shape[:2])
    inside = np.abs(means) < 120 - step  # clipping to int8 aside, quantisation is to the nearest step
    assert np.all(np.abs(thumb.ab - means)[inside] <= step / 2 + 1e-9)
    assert np.all(thumb.ab % step == 0)
    back = hints.unpack_hints(hints.pack_hints(thumb), w, h)
    assert (back.factor, back.step) == (factor, step) and np.array_equal(back.ab, thumb.ab)


def test_extreme_values_round_trip_in_v2():
    ab = np.full((40, 40, 2), 127.0)
    ab[:20] = -128.0
    for spec in ("4", "4:3", "8:16"):
        thumb = hints.make_hints(ab, spec)
        assert np.array_equal(hints.unpack_hints(hints.pack_hints(thumb), 40, 40).ab, thumb.ab)


def test_v1_packing_still_available_for_named_levels():
    ab = np.random.default_rng(3).normal(0, 30, (64, 96, 2))
    thumb = hints.make_hints(ab, "medium")
    v1 = hints.pack_hints(thumb, version=1)
    assert v1[0] == 16 and np.array_equal(hints.unpack_hints(v1, 96, 64).ab, thumb.ab)
    with pytest.raises(ValueError, match="v1"):
        hints.pack_hints(hints.make_hints(ab, "6"), version=1)


@pytest.mark.parametrize("spec", ["1", "65", "8:0", "8:17", "x", "8:2:1"])
def test_bad_specs_are_refused(spec):
    with pytest.raises(ValueError):
        hints.parse_spec(spec)


def test_damaged_v2_payloads_raise_format_error():
    payload = hints.pack_hints(hints.make_hints(np.random.default_rng(0).normal(0, 30, (64, 96, 2)), "6:2"))
    for cut in (1, 5, 9, len(payload) - 1):
        with pytest.raises(FormatError):
            hints.unpack_hints(payload[:cut], 96, 64)
    for byte, value in ((1, 3), (2, 1), (3, 0), (3, 17)):  # version, factor, step
        bad = bytearray(payload)
        bad[byte] = value
        with pytest.raises(FormatError):
            hints.unpack_hints(bytes(bad), 96, 64)
    with pytest.raises(FormatError, match="does not fit"):
        hints.unpack_hints(payload, 200, 64)
