"""The public API: encode → decode round trips (gray, and colour through a fake predictor)."""
import io
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

import graycodec
from graycodec import codec, color, container, imageio
from graycodec.errors import FormatError, GraycodecError, ImageTooLargeError, ModelError

from conftest import FakePredictor, random_rgb

MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "F"]


def _image(mode: str, h: int, w: int, seed: int) -> Image.Image:
    rgb = random_rgb(h, w, seed)
    if mode == "I;16":
        return Image.fromarray(rgb[..., 0].astype(np.uint16) * 251)
    if mode in ("LA", "PA", "RGBA"):
        return Image.fromarray(np.dstack([rgb, rgb[..., 1]]), "RGBA").convert(mode)
    return Image.fromarray(rgb).convert(mode)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(MODES),
    h=st.integers(1, 48),
    w=st.integers(1, 48),
    seed=st.integers(0, 2**16),
    max_error=st.sampled_from([0, 0, 1, 2, 5]),
)
def test_gray_round_trip_any_mode_and_size(mode, h, w, seed, max_error):
    im = _image(mode, h, w, seed)
    src = imageio.read_image(im, max_pixels=None)
    out = codec.decode(codec.encode(im, max_error=max_error), gray=True)
    assert out.size == (w, h)
    assert out.mode == ("LA" if src.alpha is not None else "L")
    plane = np.asarray(out.getchannel("L"))
    assert np.abs(plane.astype(int) - src.plane).max() <= max_error
    if src.alpha is not None:
        np.testing.assert_array_equal(np.asarray(out.getchannel("A")), src.alpha)


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    level=st.sampled_from(["none", "low", "medium", "high"]),
    seed=st.integers(0, 2**16),
)
def test_colour_round_trip_through_fake_predictor(h, w, level, seed):
    fake = FakePredictor(ab=(0.0, 0.0))
    rgba = np.dstack([random_rgb(h, w, seed), random_rgb(h, w, seed + 1)[..., 0]])
    data = codec.encode(rgba, hints=level)
    out = codec.decode(data, predictor=fake)
    assert out.mode == "RGBA" and out.size == (w, h)
    (shape, thumb), = fake.calls
    assert shape == (h, w)
    assert (thumb is None) == (level == "none")
    if thumb is not None:
        assert thumb.level == level
    arr = np.asarray(out)
    np.testing.assert_array_equal(arr[..., 3], rgba[..., 3])
    if level == "none":  # a/b = 0: the output is the stored gray itself
        plane = color.rgb_to_plane(rgba[..., :3])
        for c in range(3):
            np.testing.assert_array_equal(arr[..., c], plane)


def test_gray_photo_bit_exact(tmp_path):
    from skimage import data

    cam = data.camera()
    path = tmp_path / "camera.png"
    Image.fromarray(cam).save(path)
    np.testing.assert_array_equal(np.asarray(codec.decode(codec.encode(path), gray=True)), cam)


def test_hints_carry_the_source_colour():
    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[..., 0] = 200  # strongly red: a > 0
    fake = FakePredictor()
    out = np.asarray(codec.decode(codec.encode(rgb, hints="high"), predictor=fake)).astype(int)
    assert (out[..., 0] - out[..., 1]).min() > 100


def test_colour_output_strips_equal_one_pass(monkeypatch):
    data = codec.encode(random_rgb(37, 23, 3))
    fake = FakePredictor()
    whole = np.asarray(codec.decode(data, predictor=fake))
    monkeypatch.setattr(codec, "STRIP_PIXELS", 50)
    np.testing.assert_array_equal(np.asarray(codec.decode(data, predictor=fake)), whole)


def test_metadata_carried_and_optional():
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "maker"
    buf = io.BytesIO()
    Image.fromarray(random_rgb(8, 8)).save(buf, "PNG", icc_profile=icc, exif=exif.tobytes())
    out = codec.decode(codec.encode(buf.getvalue()), predictor=FakePredictor())
    assert out.info["icc_profile"] == icc
    back = Image.Exif()
    back.load(out.info["exif"])
    assert back[0x010F] == "maker"
    bare = codec.decode(codec.encode(buf.getvalue(), keep_metadata=False), predictor=FakePredictor())
    assert "icc_profile" not in bare.info and "exif" not in bare.info


def test_model_mismatch_warns():
    gcz = container.read_gcz(codec.encode(random_rgb(8, 8)))
    gcz.model_id = "0123456789abcdef"
    data = container.write_gcz(gcz)
    with pytest.warns(codec.ModelMismatchWarning, match="0123456789abcdef"):
        codec.decode(data, predictor=FakePredictor(model_id="fedcba9876543210"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        codec.decode(data, predictor=FakePredictor(model_id="0123456789abcdef"))
        codec.decode(data, gray=True)


def test_no_model_stops_colour_decode(monkeypatch):
    def no_model(model=None, device="auto"):
        raise ModelError("no trained model found")

    monkeypatch.setattr(codec, "load_predictor", no_model)
    data = codec.encode(random_rgb(8, 8))
    with pytest.raises(ModelError, match="no trained model"):
        codec.decode(data)
    with pytest.raises(ModelError):
        codec.colorize(random_rgb(8, 8))
    codec.decode(data, gray=True)  # gray needs no model


def test_real_predictor_load_errors_are_model_errors(tmp_path):
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not weights")
    with pytest.raises(ModelError):
        codec.load_predictor(bogus, "cpu")


def test_damaged_data_raises_format_error():
    data = codec.encode(random_rgb(16, 16))
    for bad in [b"", data[:5], data[: len(data) // 2], b"XXXX" + data[4:], data + b"junk"]:
        with pytest.raises(FormatError):
            codec.decode(bad, gray=True)


def test_max_pixels():
    data = codec.encode(random_rgb(16, 16))
    with pytest.raises(ImageTooLargeError):
        codec.decode(data, gray=True, max_pixels=100)
    with pytest.raises(ImageTooLargeError):
        codec.encode(random_rgb(16, 16), max_pixels=100)


def test_colorize_gray_and_colour_inputs(tmp_path):
    fake = FakePredictor()
    g = random_rgb(10, 12)[..., 0]
    out = codec.colorize(g, predictor=fake)
    assert out.mode == "RGB" and out.size == (12, 10)
    out = codec.colorize(Image.fromarray(np.dstack([random_rgb(10, 12), g]), "RGBA"), predictor=fake)
    assert out.mode == "RGBA"


def test_public_api_reexported():
    assert graycodec.encode is codec.encode and graycodec.decode is codec.decode
    assert graycodec.colorize is codec.colorize
    assert issubclass(graycodec.FormatError, graycodec.GraycodecError)
    assert issubclass(FormatError, ValueError) and issubclass(FormatError, GraycodecError)
    with pytest.raises(ValueError, match="hint level"):
        codec.encode(random_rgb(4, 4), hints="ultra")


def test_fuzz_container_short():
    """A short run of benchmarks/fuzz_container.py: only graycodec's own errors come out."""
    import collections
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("fuzz_container", ROOT / "benchmarks" / "fuzz_container.py")
    fuzz = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fuzz  # dataclasses look their module up there
    spec.loader.exec_module(fuzz)
    reached = collections.Counter()
    failures, outcomes = fuzz.fuzz(400, seed=1, reached=reached)
    assert not failures, failures[0].error
    assert sum(outcomes.values()) == 400
    # every decoder behind the checksums is reached: strip tables, alpha, hints, metadata
    assert {"strip table", "LPLN", "ALPH", "hINT", "iCCP", "eXIf"} <= set(reached), reached


_FUZZ_SEED = codec.encode(np.dstack([random_rgb(9, 11, 4), random_rgb(9, 11, 5)[..., 0]]), hints="high")


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, len(_FUZZ_SEED) - 1), st.integers(0, 255)), max_size=4),
    cut=st.integers(0, len(_FUZZ_SEED)),
    tail=st.binary(max_size=8),
)
def test_mutated_files_raise_only_graycodec_errors(edits, cut, tail):
    data = bytearray(_FUZZ_SEED)
    for pos, value in edits:
        data[pos] = value
    data = bytes(data[:cut]) + tail
    try:
        codec.decode(data, predictor=FakePredictor())
    except GraycodecError:
        pass
