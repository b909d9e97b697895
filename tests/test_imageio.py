"""Reading every common Pillow mode, metadata, limits, and atomic writing."""
import io
import os

import numpy as np
import pytest
from PIL import Image, ImageCms

from graycodec import color, imageio
from graycodec.errors import ImageInputError, ImageTooLargeError, OutputError

from conftest import random_rgb

RGB = random_rgb(13, 17, seed=5)


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.mark.parametrize(
    "mode", ["1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F", "HSV"]
)
def test_every_mode_reads(mode):
    im = Image.fromarray(RGB).convert(mode)
    src = imageio.read_image(im, max_pixels=None)
    assert src.plane.shape == (13, 17) and src.plane.dtype == np.uint8
    assert (src.alpha is not None) == (mode in ("LA", "La", "PA", "RGBA", "RGBa"))
    if src.alpha is not None:
        assert src.alpha.dtype == np.uint8 and src.alpha.shape == (13, 17)


def test_rgb_plane_is_color_plane():
    src = imageio.read_image(Image.fromarray(RGB), max_pixels=None)
    np.testing.assert_array_equal(src.plane, color.rgb_to_plane(RGB))
    np.testing.assert_allclose(src.ab(), color.rgb_to_lab(RGB)[..., 1:])


def test_gray_8bit_is_the_pixel_values():
    g = RGB[..., 1]
    src = imageio.read_image(Image.fromarray(g), max_pixels=None)
    np.testing.assert_array_equal(src.plane, g)
    assert src.rgb is None and not src.ab().any()


def test_gray_16bit_png_goes_through_luminance(tmp_path):
    v = np.random.default_rng(0).integers(0, 65536, (9, 11)).astype(np.uint16)
    path = tmp_path / "g16.png"
    Image.fromarray(v).save(path)
    src = imageio.read_image(path, max_pixels=None)
    want = color.luminance_to_plane(color.srgb_to_linear(v / 65535.0))
    np.testing.assert_array_equal(src.plane, want)
    # 16-bit values that are exact 8-bit grays (v = 257 g) give g
    g = RGB[..., 0].astype(np.uint16) * 257
    np.testing.assert_array_equal(imageio.read_image(Image.fromarray(g), max_pixels=None).plane, RGB[..., 0])


def test_alpha_kept_exactly_rgba_and_la():
    a = RGB[..., 2]
    rgba = np.dstack([RGB, a])
    src = imageio.read_image(Image.fromarray(rgba, "RGBA"), max_pixels=None)
    np.testing.assert_array_equal(src.alpha, a)
    np.testing.assert_array_equal(src.plane, color.rgb_to_plane(RGB))
    la = Image.fromarray(np.dstack([RGB[..., 0], a]), "LA")
    src = imageio.read_image(la, max_pixels=None)
    np.testing.assert_array_equal(src.alpha, a)
    np.testing.assert_array_equal(src.plane, RGB[..., 0])


def test_palette_with_transparency(tmp_path):
    p = Image.fromarray(RGB).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    idx = np.asarray(p)
    p.info["transparency"] = int(idx[0, 0])
    path = tmp_path / "p.png"
    p.save(path, transparency=int(idx[0, 0]))
    src = imageio.read_image(path, max_pixels=None)
    np.testing.assert_array_equal(src.alpha == 0, idx == idx[0, 0])


def test_exif_orientation_applied_and_reset():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "graycodec-test"
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    src = imageio.read_image(buf.getvalue(), max_pixels=None)
    assert src.plane.shape == (17, 13)
    stored = Image.Exif()
    stored.load(src.exif)
    assert 0x0112 not in stored and stored[0x010F] == "graycodec-test"


def test_icc_carried_and_matched_to_output_mode():
    icc = srgb_icc()
    src = imageio.read_image(_png_bytes(Image.fromarray(RGB), icc_profile=icc), max_pixels=None)
    assert src.icc == icc
    assert imageio.make_image(RGB, icc=icc).info["icc_profile"] == icc
    assert "icc_profile" not in imageio.make_image(RGB[..., 0], icc=icc).info  # RGB profile, gray image


def test_cmyk_profile_dropped():
    im = Image.fromarray(RGB).convert("CMYK")
    im.info["icc_profile"] = b"\0" * 16 + b"CMYK" + b"\0" * 108
    assert imageio.read_image(im, max_pixels=None).icc is None


@pytest.mark.parametrize("data", [b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_not_an_image(data):
    with pytest.raises(ImageInputError):
        imageio.read_image(data, max_pixels=None)


def test_empty_missing_and_truncated_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        imageio.read_image(empty, max_pixels=None)
    with pytest.raises(ImageInputError, match="no such file"):
        imageio.read_image(tmp_path / "missing.png", max_pixels=None)
    data = _png_bytes(Image.fromarray(random_rgb(64, 64)))
    with pytest.raises(ImageInputError):
        imageio.read_image(data[: len(data) // 2], max_pixels=None)


def test_max_pixels_and_decompression_bomb(monkeypatch):
    data = _png_bytes(Image.fromarray(RGB))
    with pytest.raises(ImageTooLargeError, match="max-pixels"):
        imageio.read_image(data, max_pixels=100)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # Pillow's own guard: error at 2×
    with pytest.raises(ImageTooLargeError):
        imageio.read_image(data, max_pixels=None)


@pytest.mark.parametrize(
    "arr",
    [
        RGB[..., 0],
        RGB,
        np.dstack([RGB, RGB[..., 0]]),
        np.dstack([RGB[..., 0], RGB[..., 1]]),
        RGB[..., 0].astype(np.uint16) * 257,
        RGB / 255.0,
        RGB[..., 0] / 255.0,
    ],
    ids=["u8-gray", "u8-rgb", "u8-rgba", "u8-la", "u16-gray", "float-rgb", "float-gray"],
)
def test_numpy_inputs(arr):
    src = imageio.read_image(arr, max_pixels=None)
    assert src.plane.shape == (13, 17)
    gray = arr.ndim == 2 or arr.shape[2] == 2
    want = RGB[..., 0] if gray else color.rgb_to_plane(RGB)
    np.testing.assert_array_equal(src.plane, want)


def test_bad_arrays():
    for bad in [np.zeros((3, 4, 5), np.uint8), np.zeros((0, 4), np.uint8), np.zeros(7), np.zeros((2, 2, 3), "U1")]:
        with pytest.raises(ImageInputError):
            imageio.read_image(bad, max_pixels=None)


# --- writing ------------------------------------------------------------------------------
def test_write_atomic_refuses_existing_and_missing_folder(tmp_path):
    dest = tmp_path / "out.bin"
    imageio.write_atomic(dest, b"one")
    with pytest.raises(OutputError, match="exists"):
        imageio.write_atomic(dest, b"two")
    imageio.write_atomic(dest, b"two", force=True)
    assert dest.read_bytes() == b"two"
    with pytest.raises(OutputError, match="does not exist"):
        imageio.write_atomic(tmp_path / "nope" / "out.bin", b"x")
    with pytest.raises(OutputError, match="folder"):
        imageio.write_atomic(tmp_path, b"x", force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_write_atomic_failure_leaves_nothing(tmp_path, monkeypatch):
    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)  # the commit with --force
    monkeypatch.setattr(os, "link", boom)  # the commit without (claims the name only if free)
    for force in (False, True):
        with pytest.raises(OutputError, match="No space"):
            imageio.write_atomic(tmp_path / "out.bin", b"data", force=force)
        assert list(tmp_path.iterdir()) == []


def test_save_image_formats_and_alpha(tmp_path):
    rgba = imageio.make_image(RGB, RGB[..., 0], exif=Image.Exif().tobytes())
    for ext in [".png", ".webp", ".jpg", ".tif"]:
        imageio.save_image(rgba, tmp_path / f"o{ext}")
        back = Image.open(tmp_path / f"o{ext}")
        assert back.size == (17, 13)
        assert back.mode == ("RGB" if ext == ".jpg" else "RGBA")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "o.png")), np.dstack([RGB, RGB[..., 0]]))
    with pytest.raises(OutputError, match="extension"):
        imageio.save_image(rgba, tmp_path / "o.xyz")


def test_image_extensions_defined_once():
    assert all(ext.startswith(".") and ext == ext.lower() for ext in imageio.IMAGE_EXTENSIONS)
    assert set(imageio.OUTPUT_FORMATS) <= set(imageio.IMAGE_EXTENSIONS)


def test_gray_with_colour_key_transparency(tmp_path):
    g = RGB[..., 0]
    path = tmp_path / "key.png"
    Image.fromarray(g).save(path, transparency=int(g[0, 0]))
    src = imageio.read_image(path, max_pixels=None)
    np.testing.assert_array_equal(src.plane, g)
    assert src.rgb is None
    np.testing.assert_array_equal(src.alpha == 0, g == g[0, 0])
