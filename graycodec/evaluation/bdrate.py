"""Bjøntegaard delta rate with a distortion (lower is better, e.g. mean ΔE94) on the x axis.

The same method as the project's acceptance check (../shared/checks/quality.py): each codec's
points reduced to their monotone frontier; log(rate) as a function of distortion by scipy's
PchipInterpolator (shape-preserving, so no overshoot between points); the difference of the two
integrated over the distortion range both cover and averaged; BD = exp(average) − 1, in %.
Negative: the test codec needs fewer bits than the anchor for the same distortion.
"""
from __future__ import annotations

import numpy as np

MIN_OVERLAP = 0.2  # distortion units: a narrower common range rests on a sliver of either curve


def rd_frontier(points) -> list[tuple[float, float]]:
    """(rate, distortion) points → [(distortion, rate)] by distortion, each cheaper than every point
    of lower distortion (the others cost as much or more for more error, and are dropped)."""
    kept: list[tuple[float, float]] = []
    for d, r in sorted((float(d), float(r)) for r, d in points):
        if not (np.isfinite(d) and np.isfinite(r) and r > 0):
            continue
        if kept and (d == kept[-1][0] or r >= kept[-1][1]):
            continue
        kept.append((d, r))
    return kept


def bd_rate(anchor, test, min_overlap: float = MIN_OVERLAP) -> float:
    """BD-rate of ``test`` against ``anchor`` ((rate, distortion) points), in %; ValueError with
    the reason when a frontier has fewer than 2 points or the ranges overlap on < ``min_overlap``."""
    from scipy.interpolate import PchipInterpolator

    fa, ft = rd_frontier(anchor), rd_frontier(test)
    for name, f in (("anchor", fa), ("test", ft)):
        if len(f) < 2:
            raise ValueError(f"{name} curve has {len(f)} monotone point(s), 2 needed")
    lo, hi = max(fa[0][0], ft[0][0]), min(fa[-1][0], ft[-1][0])
    if hi - lo < min_overlap:
        raise ValueError(f"distortion ranges overlap on {max(hi - lo, 0):.3f} < {min_overlap}")
    fit = [PchipInterpolator([d for d, _ in f], np.log([r for _, r in f])) for f in (fa, ft)]
    mean_log_ratio = (fit[1].integrate(lo, hi) - fit[0].integrate(lo, hi)) / (hi - lo)
    return float((np.exp(mean_log_ratio) - 1) * 100)
