"""Fit graycodec.quality.TABLE to the training frontier measured by quality_frontier.py.

    python benchmarks/fit_quality_table.py [--json benchmarks/results/quality_frontier.json]

Means over images of every (max_error, hints) setting; the Pareto frontier of (mean bpp, mean
ΔE94); then one row per quality threshold in ``QUALITIES``, at the frontier point whose ΔE94 is
nearest a target spaced evenly in ΔE94 between the frontier's ends (so each step of Q buys about
the same visible improvement; ``--max-de`` bounds the cheap end). Prints the table as Python.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

QUALITIES = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
MODE_WORD = {"": "BOUNDED", "h": "HALF", "w": "WAVELET"}  # setting prefix -> graycodec.quality's name


def mean_points(per_image: dict) -> dict[str, tuple[float, float]]:
    """{"D,F:S": (mean bpp, mean ΔE94)} over the images."""
    keys = set.intersection(*(set(v) for v in per_image.values()))  # settings every image has
    return {k: (float(np.mean([v[k][0] for v in per_image.values()])),
                float(np.mean([v[k][1] for v in per_image.values()]))) for k in keys}


def pareto(points: dict) -> list[tuple[str, float, float]]:
    """Settings no other beats on both rate and ΔE94, by rate."""
    out = []
    for key, (bpp, de) in sorted(points.items(), key=lambda kv: (kv[1][0], kv[1][1])):
        if not out or de < out[-1][2]:
            out.append((key, bpp, de))
    return out


def fit(front: list, qualities=QUALITIES, max_de: float = 4.0) -> list[tuple[int, str, float, float]]:
    """One frontier point per quality, ΔE94 evenly spaced between the ends, strictly rising in rate."""
    front = [p for p in front if p[2] <= max_de]
    lo, hi = front[0][2], front[-1][2]
    rows, used = [], -1
    for i, q in enumerate(qualities):
        target = lo + (hi - lo) * i / (len(qualities) - 1)
        j = int(np.argmin([abs(p[2] - target) for p in front]))
        j = max(j, used + 1)  # never the same point twice: each step buys something
        if j >= len(front):
            break  # the frontier is spent: the last row serves the qualities above it
        used = j
        rows.append((q, *front[j]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/quality_frontier.json"))
    ap.add_argument("--max-de", type=float, default=4.0)
    args = ap.parse_args()
    data = json.loads(args.json.read_text())
    front = pareto(mean_points(data["per_image"]))
    print(f"# {len(data['per_image'])} images; frontier (bpp, ΔE94):")
    for key, bpp, de in front:
        print(f"#   {key:>10}  {bpp:6.3f}  {de:5.3f}")
    for q, key, bpp, de in fit(front, max_de=args.max_de):
        d, spec = key.split(",")
        prefix = d.rstrip("0123456789")
        print(f"    Row({q}, {MODE_WORD[prefix]}, {d[len(prefix):]}, \"{spec}\", {bpp:.3f}, {de:.3f}),")


if __name__ == "__main__":
    main()
