"""graycodec.color against scikit-image, and the promises of the stored lightness plane."""
import numpy as np
from skimage import color as skcolor

from graycodec import color


def _random_rgb(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    return np.concatenate([rgb, np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)])


def test_rgb_to_lab_matches_skimage_uint8_and_float():
    rgb = _random_rgb()
    ref = skcolor.rgb2lab(rgb[None])[0]
    np.testing.assert_allclose(color.rgb_to_lab(rgb), ref, atol=1e-4)
    f = rgb / 255.0
    np.testing.assert_allclose(color.rgb_to_lab(f), skcolor.rgb2lab(f[None])[0], atol=1e-4)


def test_lab_to_rgb_matches_skimage():
    rng = np.random.default_rng(1)
    lab = np.stack([rng.uniform(0, 100, 20000), rng.uniform(-110, 110, 20000), rng.uniform(-110, 110, 20000)], -1)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # skimage warns about negative Z values it clips
        ref = skcolor.lab2rgb(lab[None])[0]
    ours = color.lab_to_rgb(lab[:, 0], lab[:, 1:])
    inside = np.all((ref > 1e-6) & (ref < 1 - 1e-6), axis=-1)  # clipping untouched these
    assert inside.sum() > 1000
    np.testing.assert_allclose(ours[inside], ref[inside], atol=1e-4)


def test_out_of_gamut_colours_keep_their_lightness_and_hue():
    rng = np.random.default_rng(7)
    L = rng.uniform(0, 100, 20000)
    ab = rng.uniform(-128, 127, (20000, 2))
    rgb = color.lab_to_rgb(L, ab)
    back = color.rgb_to_lab(rgb)
    assert np.abs(back[:, 0] - L).max() < 0.05  # per-channel clipping moved it by tens of L*
    chroma = np.hypot(ab[:, 0], ab[:, 1])
    kept = chroma > 20
    hue_in, hue_out = np.arctan2(ab[kept, 1], ab[kept, 0]), np.arctan2(back[kept, 2], back[kept, 1])
    coloured = np.hypot(back[kept, 1], back[kept, 2]) > 5
    hue_error = np.angle(np.exp(1j * (hue_out - hue_in)))[coloured]
    assert np.abs(hue_error).max() < 0.1  # radians; sRGB's Lab hue is not perfectly linear
    # Mapped colours lie on the gamut's edge: scaling their chroma up by 2 % leaves sRGB.
    moved = np.abs(back[:, 1:] - ab).max(axis=1) > 1
    lin = color._lab_to_linear(back[moved, 0].astype(np.float64), back[moved, 1:] * 1.02)
    assert (~np.all((lin >= 0) & (lin <= 1), axis=-1)).mean() > 0.95


def test_decoded_8bit_colour_re_encodes_to_the_same_plane():
    rng = np.random.default_rng(8)
    plane = rng.integers(0, 256, 30000).astype(np.uint8)
    ab = rng.uniform(-128, 127, (30000, 2))
    rgb8 = color.lab_to_rgb8(color.plane_to_lstar(plane), ab)
    assert np.abs(color.rgb_to_plane(rgb8).astype(int) - plane).max() <= 1
    assert np.abs(color.rgb_to_lab(rgb8)[:, 0] - color.plane_to_lstar(plane)).max() < 1.0


def test_round_trip_rgb_lab_rgb8_is_exact():
    rgb = _random_rgb(5000, seed=2)
    lab = color.rgb_to_lab(rgb).astype(np.float64)
    np.testing.assert_array_equal(color.lab_to_rgb8(lab[:, 0], lab[:, 1:]), rgb)


def test_plane_error_within_half_gray_step():
    rgb = _random_rgb(50000, seed=3)
    lstar = skcolor.rgb2lab(rgb[None])[0][:, 0]
    stored = color.plane_to_lstar(color.rgb_to_plane(rgb))
    assert np.abs(stored - lstar).max() <= 0.255
    assert np.abs(color.plane_to_lstar(color.lstar_to_plane(lstar)) - lstar).max() <= 0.255


def test_grays_are_stored_exactly():
    g = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(color.rgb_to_plane(np.stack([g, g, g], -1)), g)
    np.testing.assert_array_equal(color.lstar_to_plane(color.plane_to_lstar(g)), g)
    np.testing.assert_array_equal(color.luminance_to_plane(color.SRGB8_TO_LINEAR), g)
    # a neutral L* with a/b = 0 decodes back to the same gray
    np.testing.assert_array_equal(color.lab_to_rgb8(color.plane_to_lstar(g), np.zeros((256, 2)))[:, 0], g)


def test_plane_to_lstar_matches_skimage_grays():
    g = np.arange(256, dtype=np.uint8)
    ref = skcolor.rgb2lab(np.stack([g, g, g], -1)[None])[0][:, 0]
    np.testing.assert_allclose(color.plane_to_lstar(g), ref, atol=1e-4)
