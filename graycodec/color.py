"""Colour science in one place: sRGB <-> CIELAB (D65) and the stored lightness representation.

Conventions match scikit-image's ``rgb2lab`` / ``lab2rgb`` (sRGB primaries, D65 white, CIE
1976 L*a*b*), so figures from the evaluation agree with anyone recomputing them with skimage.

The lightness plane
-------------------
A ``.gcz`` stores lightness as an 8-bit *sRGB-encoded luminance* plane: each pixel holds the
gray level ``g`` (0..255) whose neutral colour ``(g, g, g)`` has the L* closest to the pixel's
L*. This keeps both promises of lossless mode:

* an 8-bit grayscale photo is stored as its own pixel values (a gray pixel's nearest gray is
  itself), so it decodes bit-exactly;
* for colour pixels the stored L* is within half of one gray step of the source; the largest
  step of L* between consecutive 8-bit grays is 0.509, so the error is at most 0.255.

Storing ``round(L* * 2.55)`` instead would fail the first promise: dark grays collide.
"""
from __future__ import annotations

import numpy as np

# --- constants (skimage-compatible) ------------------------------------------------------
RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_EPS = 0.008856  # CIE threshold on Y/Yn below which L* is linear in Y
_KAPPA = 7.787

# Normalisation used by the network: inputs see L in [-0.5, 0.5] and a/b divided by AB_SCALE.
L_SCALE = 100.0
AB_SCALE = 110.0


# --- transfer functions ------------------------------------------------------------------
def srgb_to_linear(v):
    """sRGB-encoded values in [0, 1] to linear light."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v):
    """Linear light in [0, 1] to sRGB-encoded values (not clipped)."""
    v = np.asarray(v)
    safe = np.maximum(v, 0.0031308)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * safe ** (1 / 2.4) - 0.055)


def _f(t):
    return np.where(t > _EPS, np.cbrt(t), _KAPPA * t + 16.0 / 116.0)


def _f_inv(f):
    t = f**3
    return np.where(t > _EPS, t, (f - 16.0 / 116.0) / _KAPPA)


def luminance_to_lstar(y):
    """Relative luminance Y (white = 1) to CIE L*."""
    return 116.0 * _f(np.asarray(y, dtype=np.float64)) - 16.0


# 8-bit lookup tables: linear light of each sRGB code, and the L* of each neutral gray.
SRGB8_TO_LINEAR = srgb_to_linear(np.arange(256) / 255.0)
PLANE_TO_LSTAR = luminance_to_lstar(SRGB8_TO_LINEAR)
# Luminance at the L* midpoint between neighbouring grays: a pixel with luminance Y is stored
# as the gray g with PLANE_Y_MIDPOINTS[g-1] <= Y < PLANE_Y_MIDPOINTS[g].
_MID_L = (PLANE_TO_LSTAR[1:] + PLANE_TO_LSTAR[:-1]) / 2
PLANE_Y_MIDPOINTS = _f_inv((_MID_L + 16.0) / 116.0)


# --- the lightness plane -----------------------------------------------------------------
def luminance_to_plane(y: np.ndarray) -> np.ndarray:
    """Relative luminance (any float shape) to the stored 8-bit plane (nearest L*)."""
    return np.searchsorted(PLANE_Y_MIDPOINTS, y, side="right").astype(np.uint8)


def lstar_to_plane(lstar: np.ndarray) -> np.ndarray:
    """CIE L* to the stored 8-bit plane (nearest L* among the 256 grays)."""
    return np.searchsorted(_MID_L, lstar, side="right").astype(np.uint8)


def plane_to_lstar(plane: np.ndarray) -> np.ndarray:
    """Stored 8-bit plane to CIE L* (float32)."""
    return PLANE_TO_LSTAR.astype(np.float32)[plane]


def rgb8_luminance(rgb: np.ndarray) -> np.ndarray:
    """Relative luminance Y of 8-bit sRGB pixels (..., 3), float64, via lookup tables."""
    lin = SRGB8_TO_LINEAR[rgb]
    return lin @ RGB_TO_XYZ[1]


def rgb_to_plane(rgb: np.ndarray) -> np.ndarray:
    """sRGB pixels (..., 3), uint8 or float in [0, 1], to the stored 8-bit lightness plane."""
    if rgb.dtype == np.uint8:
        return luminance_to_plane(rgb8_luminance(rgb))
    return luminance_to_plane(srgb_to_linear(np.clip(rgb, 0, 1)) @ RGB_TO_XYZ[1])


# --- full conversions --------------------------------------------------------------------
def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (..., 3), uint8 or float in [0, 1], to CIELAB (float32), as skimage.color.rgb2lab."""
    lin = SRGB8_TO_LINEAR[rgb] if rgb.dtype == np.uint8 else srgb_to_linear(np.clip(rgb, 0, 1))
    xyz = (lin @ RGB_TO_XYZ.T) / WHITE_D65
    fx, fy, fz = (_f(xyz[..., i]) for i in range(3))
    lab = np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)
    return lab.astype(np.float32)


def _lab_to_linear(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """CIELAB to linear sRGB (not clipped), float64 (..., 3)."""
    fy = (L + 16.0) / 116.0
    fx = fy + ab[..., 0] / 500.0
    fz = fy - ab[..., 1] / 200.0
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1) * WHITE_D65
    return xyz @ XYZ_TO_RGB.T


GAMUT_STEPS = 12  # bisection steps of the chroma scale: 2**-12 of the chroma (< 0.04 a/b units)


def _in_gamut(lin: np.ndarray) -> np.ndarray:
    return np.all((lin >= 0.0) & (lin <= 1.0), axis=-1)


def fit_chroma_to_gamut(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """a/b scaled down (hue and L* kept) until (L*, a, b) is an sRGB colour.

    Clipping an out-of-gamut colour channel by channel moves its lightness (by up to 43 L*
    on random images), and the stored lightness is the one thing a .gcz promises exactly; so
    each such pixel keeps its L* and hue and loses chroma, found by bisection on the scale
    factor (gray, scale 0, is inside sRGB for every L* in 0..100).
    """
    L = np.clip(np.asarray(L, dtype=np.float64), 0.0, 100.0)
    ab = np.asarray(ab, dtype=np.float64)
    out = _lab_to_linear(L, ab)
    bad = ~_in_gamut(out)
    if not bad.any():
        return ab
    Lb, abb = L[bad], ab[bad]
    lo, hi = np.zeros(len(Lb)), np.ones(len(Lb))  # lo: in gamut, hi: out
    for _ in range(GAMUT_STEPS):
        mid = (lo + hi) / 2
        inside = _in_gamut(_lab_to_linear(Lb, abb * mid[:, None]))
        lo = np.where(inside, mid, lo)
        hi = np.where(inside, hi, mid)
    fitted = ab.copy()
    fitted[bad] = abb * lo[:, None]
    return fitted


def lab_to_rgb(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """CIELAB (L: (...), ab: (..., 2)) to sRGB float in [0, 1].

    In-gamut colours convert as skimage.color.lab2rgb does; out-of-gamut ones are first
    brought into sRGB at constant L* and hue (``fit_chroma_to_gamut``), not clipped per
    channel, so the result keeps the given lightness.
    """
    L = np.clip(np.asarray(L, dtype=np.float64), 0.0, 100.0)
    lin = _lab_to_linear(L, fit_chroma_to_gamut(L, ab))
    return np.clip(linear_to_srgb(np.clip(lin, 0.0, 1.0)), 0.0, 1.0)


def lab_to_rgb8(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """CIELAB to 8-bit sRGB, rounded to nearest."""
    return np.round(lab_to_rgb(L, ab) * 255.0).astype(np.uint8)
