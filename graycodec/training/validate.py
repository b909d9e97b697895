"""Validation through the decoder's own path, next to the baselines it must beat.

Each validation image goes through exactly what ``graycodec encode``/``decode`` do: the
8-bit lightness plane, the quantized hint thumbnail, the predictor at working size,
bilinear a/b upsampling and the 8-bit sRGB result; scores are computed at full resolution
against the original. Three settings are measured:

=========  ==============================  ==========================================
setting    what                            judged against
=========  ==============================  ==========================================
``none``   no hints, vividness 0 (decode)  gray (a = b = 0)
``vivid``  no hints, vividness 1           gray; its colourfulness against the original
``medium`` 1/16 hints (decode)             the L-guided upsampling of the thumbnail (the
                                           network's own input) and plain bilinear
=========  ==============================  ==========================================
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.color import deltaE_ciede94, deltaE_ciede2000

from .. import color, hints
from ..evaluation.metrics import ab_accuracy_auc, colourfulness
from ..predictor import Predictor

# setting -> (hint level, vividness)
SETTINGS = {"none": ("none", 0.0), "vivid": ("none", 1.0), "medium": ("medium", 0.0)}
COLOURFULNESS_FLOOR = 0.60  # issue 12: the fidelity rendering keeps at least this much colour


@dataclass
class ValImage:
    lab: np.ndarray  # float32 (H, W, 3) of the original
    lstar: np.ndarray  # stored L*
    thumbs: dict
    colourfulness: float  # Hasler & Süsstrunk M of the original


def prepare_val(rgb_images) -> list[ValImage]:
    out = []
    for rgb in rgb_images:
        lab = color.rgb_to_lab(rgb)
        lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
        thumbs = {lv: hints.make_hints(lab[..., 1:], lv) for lv, _ in SETTINGS.values()}
        out.append(ValImage(lab, lstar, thumbs, colourfulness(rgb)))
    return out


def _scores(ref_lab, lstar, ab) -> dict:
    rgb8 = color.lab_to_rgb8(lstar, ab)
    out_lab = color.rgb_to_lab(rgb8)
    return {
        "de94": float(deltaE_ciede94(ref_lab, out_lab).mean()),
        "de2000": float(deltaE_ciede2000(ref_lab, out_lab).mean()),
        "mse_ab": float(((out_lab[..., 1:] - ref_lab[..., 1:]) ** 2).mean()),
        "ab_auc": ab_accuracy_auc(ref_lab[..., 1:], out_lab[..., 1:]),
        "colourfulness": colourfulness(rgb8),
    }


def _mean(rows, val) -> dict:
    """Means over images; the colourfulness ratio as a ratio of means (output / originals)."""
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "colourfulness"}
    original = float(np.mean([v.colourfulness for v in val]))
    out["colourfulness_ratio"] = float(np.mean([r["colourfulness"] for r in rows])) / max(original, 1e-9)
    return out


def baselines(val: list[ValImage]) -> dict:
    """Gray without hints; with medium hints, bilinear upsampling of the thumbnail and the
    L-guided hint plane that the network starts from (an untrained network's output)."""
    from ..model import ColorUNet

    res = {"gray": _mean([_scores(v.lab, v.lstar, np.zeros(v.lstar.shape + (2,), np.float32)) for v in val], val)}
    res["bilinear_medium"] = _mean([
        _scores(v.lab, v.lstar, hints.upsample_bilinear(v.thumbs["medium"].ab.astype(np.float32), *v.lstar.shape))
        for v in val], val)
    untrained = Predictor(ColorUNet(), {}, torch.device("cpu"))
    res["guided_medium"] = _mean([_scores(v.lab, v.lstar, untrained.predict_ab(v.lstar, v.thumbs["medium"]))
                                  for v in val], val)
    return res


def settings_for(hint_fraction: float) -> tuple[str, ...]:
    """The settings a run is validated (and selected) on. A run that trains no hinted samples
    (``--hint-fraction 0``: a U-Net for a model whose hints go through the refiner, which
    skips the U-Net) is not judged on a hint path it does not learn."""
    return tuple(s for s in SETTINGS if hint_fraction > 0 or SETTINGS[s][0] == "none")


def evaluate(predictor: Predictor, val: list[ValImage], settings=tuple(SETTINGS)) -> dict:
    """Mean scores of the predictor per setting (see the module docstring)."""
    res = {}
    for name in settings:
        level, vividness = SETTINGS[name]
        res[name] = _mean([_scores(v.lab, v.lstar, predictor.predict_ab(v.lstar, v.thumbs[level], vividness))
                           for v in val], val)
    return res


def selection_score(res: dict, base: dict) -> float:
    """One number to pick the best checkpoint by, lower is better: CIEDE2000 without hints
    relative to gray's, plus ΔE94 with medium hints relative to the network's own input (the
    L-guided hint plane), plus how far the fidelity rendering's colourfulness ratio falls
    short of ``COLOURFULNESS_FLOOR`` (a washed-out model must not win)."""
    score = res["none"]["de2000"] / base["gray"]["de2000"]
    score += max(0.0, COLOURFULNESS_FLOOR - res["none"]["colourfulness_ratio"])
    if "medium" in res:
        score += res["medium"]["de94"] / base["guided_medium"]["de94"]
    return score


BASELINE_NAMES = {"gray": "gray (a = b = 0)", "bilinear": "bilinear thumbnail", "guided": "L-guided thumbnail"}


def baseline_keys(setting: str) -> list[str]:
    """The baselines a setting is shown against."""
    return ["gray"] if setting in ("none", "vivid") else ["guided_medium", "bilinear_medium"]


def baseline_key(setting: str) -> str:
    """The baseline a setting is judged against."""
    return baseline_keys(setting)[0]


def format_table(res: dict | None, base: dict) -> str:
    """A text table: per setting, the predictor's means next to its baselines'; colourf. is
    the colourfulness ratio (output / original), AUC the class-rebalanced a/b accuracy."""
    head = (f"{'setting':<8}{'colour from':<22}{'ΔE94':>8}{'CIEDE2000':>11}{'MSE a/b':>10}{'colourf.':>10}"
            f"{'AUC':>7}")
    lines = [head, "-" * len(head)]
    settings = list(res) if res else ["none", "medium"]
    for name in settings:
        rows = [("predictor", res[name])] if res else []
        rows += [(BASELINE_NAMES[key.split("_")[0]], base[key]) for key in baseline_keys(name) if key in base]
        for i, (label, r) in enumerate(rows):
            lines.append(f"{name if i == 0 else '':<8}{label:<22}{r['de94']:>8.2f}{r['de2000']:>11.2f}"
                         f"{r['mse_ab']:>10.1f}{r.get('colourfulness_ratio', float('nan')):>10.2f}"
                         f"{r.get('ab_auc', float('nan')):>7.3f}")
    return "\n".join(lines)
