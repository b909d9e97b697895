"""Fidelity of a reconstruction against its original, computed once per pair.

Colour differences follow scikit-image (the original work reports ``deltaE_ciede94`` with
default arguments) on float32 CIELAB from :mod:`graycodec.color`, whose 8-bit lookup tables
agree with ``skimage.color.rgb2lab`` to 1e-5: CIEDE2000 is ``skimage.color.deltaE_ciede2000``;
ΔE94 and ΔE76 are computed here from shared differences in float32, three times faster than
skimage's (which goes through float64 and hue angles ΔE94 does not need) and tested against it.

``Reference`` holds what is derived from an original once (Lab, colourfulness); ``fidelity``
compares one reconstruction with it and returns the scalar figures plus the ΔE94 map, which
the report reuses for heat maps. SSIM is the one slow figure (~0.2 s at 768×512), so quality
sweeps ask for ``full=False`` and skip it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import structural_similarity

from graycodec import color

# Scalar figures of one reconstruction, in report order; SSIM only when full=True.
FIDELITY_KEYS = (
    "de94",
    "de2000",
    "de76",
    "de94_over_10",
    "mse_ab",
    "mse_rgb",
    "psnr",
    "ssim",
    "colourfulness",
    "colourfulness_original",
    "colourfulness_ratio",
    "ab_auc",
)
DE94_BAD = 10.0  # a pixel with ΔE94 above this counts as a visibly wrong colour


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness M of 8-bit (or 0..255 float) RGB pixels."""
    rgb = np.asarray(rgb, dtype=np.float32).reshape(-1, 3)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(rg.var(dtype=np.float64) + yb.var(dtype=np.float64))
    centre = np.sqrt(rg.mean(dtype=np.float64) ** 2 + yb.mean(dtype=np.float64) ** 2)
    return float(spread + 0.3 * centre)


AUC_MAX_THRESHOLD = 150  # a/b distance (CIELAB units) up to which accuracy is integrated
_AB_CELL = 10.0  # a/b classes for the rebalancing: cells of a 10-unit grid (as colorbins)


def ab_accuracy_auc(ref_ab: np.ndarray, out_ab: np.ndarray, rebalanced: bool = True) -> float:
    """Zhang et al. (2016)'s colorization accuracy: the share of pixels whose a/b lies within
    t of the original's, averaged over t = 0 … 150 (the area under that curve, 0..1).

    ``rebalanced``: each class of the original's colour (a 10-unit a/b cell) counts equally,
    so that the rare saturated colours weigh as much as the many near-gray pixels (gray
    output scores high on the raw figure, low on this one). Classes are rebalanced within
    the image; a set's figure is the mean over its images.
    """
    ref_ab = np.asarray(ref_ab, dtype=np.float32).reshape(-1, 2)
    dist = np.linalg.norm(np.asarray(out_ab, dtype=np.float32).reshape(-1, 2) - ref_ab, axis=1)
    thresholds = np.arange(AUC_MAX_THRESHOLD + 1)
    # First threshold each pixel meets (0..151; 151 = never within 150).
    first = np.minimum(np.ceil(dist), AUC_MAX_THRESHOLD + 1).astype(np.int64)
    if not rebalanced:
        counts = np.bincount(first, minlength=AUC_MAX_THRESHOLD + 2)[: len(thresholds)]
        return float((np.cumsum(counts) / len(dist)).mean())
    cells = np.round(ref_ab / _AB_CELL).astype(np.int64) + 64
    cls = np.unique(cells[:, 0] * 256 + cells[:, 1], return_inverse=True)[1].reshape(-1)
    per_class = np.zeros((cls.max() + 1, AUC_MAX_THRESHOLD + 2))
    np.add.at(per_class, (cls, first), 1.0)
    acc = np.cumsum(per_class, axis=1)[:, : len(thresholds)] / per_class.sum(axis=1, keepdims=True)
    return float(acc.mean())


def mse(a: np.ndarray, b: np.ndarray) -> float:
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB of two 8-bit images; ``inf`` when they are identical."""
    return psnr_of_mse(mse(a, b), peak)


def psnr_of_mse(m: float, peak: float = 255.0) -> float:
    return float("inf") if m == 0 else float(10.0 * np.log10(peak * peak / m))


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    """skimage SSIM (7×7 window, shrunk to fit images smaller than that) over RGB channels."""
    side = min(a.shape[:2])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return 1.0 if np.array_equal(a, b) else float("nan")
    return float(structural_similarity(a, b, channel_axis=2, data_range=255, win_size=win))


@dataclass
class Reference:
    """An original image and what every comparison against it needs."""

    rgb: np.ndarray  # uint8 (H, W, 3)
    lab: np.ndarray  # float32 (H, W, 3)
    chroma: np.ndarray  # float32 (H, W): C*ab, which weighs ΔE94's terms
    colourfulness: float

    @classmethod
    def of(cls, rgb: np.ndarray) -> "Reference":
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        lab = color.rgb_to_lab(rgb)
        return cls(rgb, lab, np.hypot(lab[..., 1], lab[..., 2]), colourfulness(rgb))


def delta_e94_76(ref: Reference, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ΔE94 (graphic-arts weights, ``ref`` as the reference colour) and ΔE76 maps, and |Δab|².

    As ``skimage.color.deltaE_ciede94(ref.lab, lab)`` with its defaults: the hue term is
    |Δab|² − ΔC², which equals skimage's 2(C1·C2 − ab1·ab2) and stays accurate in float32.
    """
    d2 = np.square(ref.lab - lab)
    dab2 = d2[..., 1] + d2[..., 2]
    dc = ref.chroma - np.hypot(lab[..., 1], lab[..., 2])
    dc2 = dc * dc
    sc = 1 + 0.045 * ref.chroma
    sh = 1 + 0.015 * ref.chroma
    de94 = np.sqrt(d2[..., 0] + dc2 / (sc * sc) + np.maximum(dab2 - dc2, 0) / (sh * sh))
    return de94, np.sqrt(d2[..., 0] + dab2), dab2


def fidelity(ref: Reference, rgb: np.ndarray, *, full: bool = True) -> tuple[dict, np.ndarray]:
    """Figures of a reconstruction ``rgb`` (uint8 (H, W, 3)) against ``ref``.

    Returns ``(figures, de94_map)``; ``figures`` has every key of FIDELITY_KEYS, with
    ``ssim`` None unless ``full``, and ``colourfulness_ratio`` None for a colourless original.
    ``colourfulness`` and ``colourfulness_original`` are Hasler & Süsstrunk's M of the two, so
    that a summary over images can divide their means (as issue 12's bars and the training
    validation do) instead of averaging per-image ratios, which dull near-gray originals inflate.
    """
    rgb = np.asarray(rgb, dtype=np.uint8)
    if rgb.shape != ref.rgb.shape:
        raise ValueError(f"reconstruction is {rgb.shape}, original {ref.rgb.shape}")
    lab = color.rgb_to_lab(rgb)
    de94, de76, dab2 = delta_e94_76(ref, lab)
    mse_rgb = mse(ref.rgb, rgb)
    output_colourfulness = colourfulness(rgb)
    figures = {
        "de94": float(de94.mean(dtype=np.float64)),
        "de2000": float(deltaE_ciede2000(ref.lab, lab).mean(dtype=np.float64)),
        "de76": float(de76.mean(dtype=np.float64)),
        "de94_over_10": float(np.mean(de94 > DE94_BAD)),
        "mse_ab": float(dab2.mean(dtype=np.float64) / 2),
        "mse_rgb": mse_rgb,
        "psnr": psnr_of_mse(mse_rgb),
        "ssim": _ssim(ref.rgb, rgb) if full else None,
        "colourfulness": output_colourfulness,
        "colourfulness_original": ref.colourfulness,
        "colourfulness_ratio": output_colourfulness / ref.colourfulness if ref.colourfulness > 1e-6 else None,
        "ab_auc": ab_accuracy_auc(ref.lab[..., 1:], lab[..., 1:]),
    }
    return figures, de94
