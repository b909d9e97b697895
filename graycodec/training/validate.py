"""Validation through the decoder's own path, next to the baselines it must beat.

Each validation image goes through exactly what ``graycodec encode``/``decode`` do: the
8-bit lightness plane, the quantized hint thumbnail, the predictor at working size,
bilinear a/b upsampling and the 8-bit sRGB result; scores are computed at full resolution
against the original. The baselines are gray (a = b = 0) without hints and plain bilinear
upsampling of the same thumbnail with hints.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.color import deltaE_ciede94, deltaE_ciede2000

from .. import color, hints
from ..predictor import Predictor

VAL_LEVELS = ("none", "medium")


@dataclass
class ValImage:
    lab: np.ndarray  # float32 (H, W, 3) of the original
    lstar: np.ndarray  # stored L*
    thumbs: dict


def prepare_val(rgb_images, levels=VAL_LEVELS) -> list[ValImage]:
    out = []
    for rgb in rgb_images:
        lab = color.rgb_to_lab(rgb)
        lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
        out.append(ValImage(lab, lstar, {lv: hints.make_hints(lab[..., 1:], lv) for lv in levels}))
    return out


def _scores(ref_lab, lstar, ab) -> dict:
    out_lab = color.rgb_to_lab(color.lab_to_rgb8(lstar, ab))
    return {
        "de94": float(deltaE_ciede94(ref_lab, out_lab).mean()),
        "de2000": float(deltaE_ciede2000(ref_lab, out_lab).mean()),
        "mse_ab": float(((out_lab[..., 1:] - ref_lab[..., 1:]) ** 2).mean()),
    }


def _mean(rows):
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def baselines(val: list[ValImage]) -> dict:
    """Gray without hints, bilinear thumbnail upsampling with hints."""
    res = {"gray": _mean([_scores(v.lab, v.lstar, np.zeros(v.lstar.shape + (2,), np.float32)) for v in val])}
    for lv, _ in val[0].thumbs.items():
        if lv != "none":
            res[f"bilinear_{lv}"] = _mean([
                _scores(v.lab, v.lstar, hints.upsample_bilinear(v.thumbs[lv].ab.astype(np.float32), *v.lstar.shape))
                for v in val
            ])
    return res


def evaluate(predictor: Predictor, val: list[ValImage]) -> dict:
    """Mean scores of the predictor per hint level."""
    return {lv: _mean([_scores(v.lab, v.lstar, predictor.predict_ab(v.lstar, v.thumbs[lv])) for v in val])
            for lv in val[0].thumbs}


def selection_score(res: dict, base: dict) -> float:
    """One number to pick the best checkpoint by: each level's error relative to its baseline
    (CIEDE2000 vs gray without hints, ΔE94 vs bilinear with them), summed. Lower is better."""
    score = 0.0
    for lv, r in res.items():
        score += r["de2000"] / base["gray"]["de2000"] if lv == "none" else r["de94"] / base[baseline_key(lv)]["de94"]
    return score


BASELINE_NAMES = {"gray": "gray (a = b = 0)", "bilinear": "bilinear thumbnail"}


def baseline_key(level: str) -> str:
    """The baseline a hint level is judged against."""
    return "gray" if level == "none" else f"bilinear_{level}"


def format_table(res: dict | None, base: dict) -> str:
    """A text table: per hint level, the predictor's means next to the baseline's."""
    head = f"{'hints':<8}{'colour from':<22}{'ΔE94':>8}{'CIEDE2000':>11}{'MSE a/b':>10}"
    lines = [head, "-" * len(head)]
    levels = list(res) if res else ["none"] + [k.split("_", 1)[1] for k in base if k != "gray"]
    for lv in levels:
        rows = [("predictor", res[lv])] if res else []
        key = baseline_key(lv)
        rows.append((BASELINE_NAMES[key.split("_")[0]], base[key]))
        for i, (name, r) in enumerate(rows):
            lines.append(f"{lv if i == 0 else '':<8}{name:<22}{r['de94']:>8.2f}{r['de2000']:>11.2f}{r['mse_ab']:>10.1f}")
    return "\n".join(lines)
