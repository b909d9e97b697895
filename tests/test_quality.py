"""Issue 13: `--quality`, its table, the half-size lightness mode and the qLTY chunk."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graycodec import codec, container, hints, imageio, lplane, quality
from graycodec.errors import FormatError
from graycodec.lplane import half

from conftest import random_rgb

FRONTIER = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "quality_frontier.json"


def smooth_rgb(h=90, w=130):
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([128 + 100 * np.sin(x / 9), 128 + 90 * np.cos(y / 7), (x + 2 * y) % 256], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --- the table ---------------------------------------------------------------------------------
def test_table_is_monotone_on_its_training_frontier():
    rows = quality.TABLE
    assert rows[0].quality == 0 and [r.quality for r in rows] == sorted({r.quality for r in rows})
    assert all(a.bpp < b.bpp for a, b in zip(rows, rows[1:])), "more Q must cost more bits"
    assert all(a.de94 > b.de94 for a, b in zip(rows, rows[1:])), "more Q must never mean more error"


def test_table_rows_are_the_measured_training_points():
    per_image = json.loads(FRONTIER.read_text())["per_image"]
    for row in quality.TABLE:
        key = f"{row.setting},{row.hints}"
        bpp = np.mean([v[key][0] for v in per_image.values()])
        de = np.mean([v[key][1] for v in per_image.values()])
        assert (round(bpp, 3), round(de, 3)) == (row.bpp, row.de94), key


def test_every_quality_maps_to_a_row_and_bad_ones_are_refused():
    assert [quality.setting(q).quality for q in (0, 5, 100)] == [0, 0, quality.TABLE[-1].quality]
    for bad in (-1, 101, 50.0, True, "50"):
        with pytest.raises(ValueError):
            quality.setting(bad)
    with pytest.raises(ValueError):
        codec.encode(smooth_rgb(), quality=101)


@pytest.mark.parametrize("row", quality.TABLE, ids=lambda r: f"q{r.quality}")
def test_every_quality_decodes_within_its_documented_bound(row):
    rgb = smooth_rgb()
    src = imageio.from_array(rgb)
    data = codec.encode(rgb, quality=row.quality)
    img = container.read_gcz(data)
    assert img.quality == row.quality and img.max_error == row.max_error
    thumb = hints.unpack_hints(img.hints, img.width, img.height)
    assert thumb.level == row.hints or f"{thumb.factor}:{thumb.step}" == row.hints
    err = np.abs(img.plane.astype(int) - src.plane).max()
    bound = quality.lightness_bound(row.quality)
    assert img.coding == row.mode
    if bound is None:  # half-size and wavelet rows: no per-pixel promise on the decoded plane
        assert img.coding in (lplane.MODE_HALF, lplane.MODE_WAVELET)
        assert err <= 40  # a smooth image still decodes close
        assert np.abs(img.plane.astype(int) - src.plane).mean() <= 5  # plane units (2 L*)
    else:
        assert img.coding == lplane.DEFAULT_MODE and err <= bound


def test_explicit_options_override_the_quality():
    rgb = smooth_rgb()
    low = quality.TABLE[0].quality
    img = container.read_gcz(codec.encode(rgb, quality=low, max_error=0))
    assert img.max_error == 0 and img.coding == lplane.DEFAULT_MODE  # a bound asked for is on the full plane
    assert np.array_equal(img.plane, imageio.from_array(rgb).plane)
    img = container.read_gcz(codec.encode(rgb, quality=low, hints="none"))
    assert img.hints is None
    img = container.read_gcz(codec.encode(rgb, quality=100, hints="high", half_lightness=True))
    assert img.coding == lplane.MODE_HALF and hints.unpack_hints(img.hints, img.width, img.height).level == "high"
    img = container.read_gcz(codec.encode(rgb, quality=100, lightness_mode=lplane.MODE_WAVELET, max_error=8))
    assert (img.coding, img.max_error) == (lplane.MODE_WAVELET, 8)
    with pytest.raises(ValueError, match="wavelet"):
        codec.encode(rgb, lightness_mode=lplane.MODE_WAVELET)  # D = 0: no step


def test_default_encode_is_unchanged():
    img = container.read_gcz(codec.encode(smooth_rgb()))
    assert (img.max_error, img.coding, img.hints, img.quality) == (0, lplane.DEFAULT_MODE, None, None)


def test_info_shows_quality_and_hints():
    desc = container.describe_gcz(codec.encode(smooth_rgb(), quality=50))
    row = quality.setting(50)
    assert desc["quality"] == 50 and desc["max_error"] == row.max_error
    assert desc["hints"] in (row.hints, {"8:1": "high", "16:1": "medium", "32:1": "low"}.get(row.hints))  # named levels
    assert desc["lossless"] is False
    plain = container.describe_gcz(codec.encode(smooth_rgb()))
    assert plain["quality"] is None and plain["hints"] is None and plain["lossless"] is True


def test_damaged_quality_chunk_is_a_format_error():
    data = container.write_gcz(container.GczImage(4, 4, np.zeros((4, 4), np.uint8)))
    bad = data[:-12] + container.pack_chunk(container.QLTY, b"\xc8") + data[-12:]  # 200 > 100
    with pytest.raises(FormatError, match="qLTY"):
        container.read_gcz(bad)


# --- lplane mode 4 -----------------------------------------------------------------------------
@pytest.mark.parametrize("h,w", [(1, 1), (2, 3), (7, 5), (33, 64)])
def test_half_upsampling_is_torch_bicubic_exactly(h, w):
    small = np.random.default_rng(h * w).integers(0, 256, (h, w), dtype=np.uint8)
    ref = F.interpolate(torch.from_numpy(small.astype(np.float64))[None, None], scale_factor=2,
                        mode="bicubic", align_corners=False)[0, 0].numpy()
    assert np.array_equal(half.upsample(small, 2 * h, 2 * w), np.clip(np.round(ref), 0, 255).astype(np.uint8))


@pytest.mark.parametrize("h,w", [(1, 1), (1, 9), (8, 1), (31, 47), (64, 64)])
@pytest.mark.parametrize("max_error", [0, 2])
def test_half_mode_round_trip(h, w, max_error):
    plane = imageio.from_array(random_rgb(h, w)).plane
    mode, payload = lplane.encode_plane(plane, max_error=max_error, mode=lplane.MODE_HALF)
    out = lplane.decode_plane(mode, payload, w, h, max_error)
    assert out.shape == plane.shape and out.dtype == np.uint8
    small = half.downsample(plane)
    inner = lplane.decode_plane(lplane.DEFAULT_MODE, payload[1:], small.shape[1], small.shape[0], max_error)
    assert np.abs(inner.astype(int) - small).max() <= max_error  # the bound, on the stored plane
    assert np.array_equal(out, half.upsample(inner, h, w))


def test_half_mode_on_smooth_lightness_is_close_and_cheaper():
    plane = imageio.from_array(smooth_rgb(128, 160)).plane
    full = lplane.encode_plane(plane)[1]
    payload = lplane.encode_plane(plane, mode=lplane.MODE_HALF)[1]
    out = lplane.decode_plane(lplane.MODE_HALF, payload, 160, 128, 0)
    assert len(payload) < len(full) / 2 and np.abs(out.astype(int) - plane).mean() < 2


def test_half_mode_damage_is_a_format_error():
    payload = lplane.encode_plane(np.zeros((8, 8), np.uint8), mode=lplane.MODE_HALF)[1]
    for bad in (b"", b"\x07" + payload[1:], payload[:3]):
        with pytest.raises(FormatError):
            lplane.decode_plane(lplane.MODE_HALF, bad, 8, 8, 0)
