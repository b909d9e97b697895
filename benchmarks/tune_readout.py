"""Choose a model's vividness ends on the validation split (never on Kodak).

    python benchmarks/tune_readout.py --model models/x.safetensors [--set val-large] [--max-images N] [--write-card]

For every (debias exponent, temperature, chroma gain) of a grid, the bins of each validation photo (the
fixed hash split of ../shared/data/photos, as training sees them; or, with ``--set val-large``,
the split's photos with a short side >= 320 at their native size) are read out and scored
through the decoder's path: mean CIEDE2000 against the original and the colourfulness ratio
(mean M of the outputs / mean M of the originals). Then

* the **fidelity** end (vividness 0, `decode`'s default) is the read-out of least CIEDE2000
  among those whose colourfulness ratio is at least ``--fidelity-ratio-min`` (default 0.60,
  issue 12's floor for decoding: the read-out of least error overall is the sepia mean, about
  30 % as colourful as the originals, and a user sees that first; with the chroma gain a
  ratio of 0.60 costs about 4 % more CIEDE2000 on val-large and stays below gray's.
  ``--fidelity-ratio-min 0`` gives the least error whatever its colour);
* the **vivid** end (vividness 1, `colorize`'s default) is the read-out of least CIEDE2000
  among those whose ratio is at least 0.85, or the most colourful one if none reaches it.

``--write-card`` stores them as ``readout`` in the model card beside the weights (the weight
file and its hash are unchanged); ``Predictor`` reads them from there.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.color import deltaE_ciede2000

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_colour import load_set  # noqa: E402

from graycodec import color  # noqa: E402
from graycodec.colorbins import readout_with  # noqa: E402
from graycodec.evaluation.metrics import colourfulness  # noqa: E402
from graycodec.predictor import Predictor, hint_inputs, resize_plane, upsample_ab, working_size  # noqa: E402

DEBIAS = (0.0, 0.25, 0.5, 0.75, 1.0)
TEMPERATURE = (1.0, 0.5, 0.38, 0.3)
GAIN = tuple(np.round(np.arange(1.0, 3.41, 0.2), 1))
FIDELITY_RATIO_MIN = 0.60
VIVID_RATIO_MIN = 0.85


@torch.inference_mode()
def grid_scores(pred: Predictor, rgb: np.ndarray) -> dict:
    ref_lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    l_work = resize_plane(lstar, working_size(*lstar.shape, pred.working_short_side))
    logits = pred.model(l_work, *hint_inputs(l_work, None)).logits
    out = {}
    for d, t in itertools.product(DEBIAS, TEMPERATURE):
        ab = readout_with(logits, pred.model.class_weights, d, t)
        ab = torch.nn.functional.interpolate(ab, size=l_work.shape[-2:], mode="bilinear", align_corners=False)
        ab = upsample_ab(ab, *lstar.shape)
        for g in GAIN:  # the gain commutes with the (linear) upsampling
            rgb8 = color.lab_to_rgb8(lstar, g * ab)
            out[(d, t, g)] = (float(deltaE_ciede2000(ref_lab, color.rgb_to_lab(rgb8)).mean()), colourfulness(rgb8))
    return out


def choose(table: dict, ratio_min: float, fallback_most_colourful: bool):
    ok = {k: v for k, v in table.items() if v["ratio"] >= ratio_min}
    if ok:
        return min(ok, key=lambda k: ok[k]["de2000"])
    if fallback_most_colourful:
        return max(table, key=lambda k: table[k]["ratio"])
    return min(table, key=lambda k: table[k]["de2000"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--set", choices=("val", "val-large"), default="val")
    p.add_argument("--working-short-side", type=int,
                   help="run the network at this short side (default: the model card's)")
    p.add_argument("--max-images", type=int)
    p.add_argument("--write-card", action="store_true")
    p.add_argument("--fidelity-ratio-min", type=float, default=FIDELITY_RATIO_MIN)
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    pred = Predictor.load(args.model, "cpu")
    if args.working_short_side:
        pred.working_short_side = args.working_short_side
    images = load_set(args.set, args.max_images)
    t0 = time.perf_counter()
    gray = float(np.mean([deltaE_ciede2000(color.rgb_to_lab(rgb), color.rgb_to_lab(
        color.lab_to_rgb8(color.plane_to_lstar(color.rgb_to_plane(rgb)), np.zeros(rgb.shape[:2] + (2,))))).mean()
        for _, rgb in images]))
    per_image = [grid_scores(pred, rgb) for _, rgb in images]
    original = float(np.mean([colourfulness(rgb) for _, rgb in images]))
    table = {k: {"de2000": float(np.mean([r[k][0] for r in per_image])),
                 "ratio": float(np.mean([r[k][1] for r in per_image])) / original} for k in per_image[0]}
    fidelity = choose(table, args.fidelity_ratio_min, False)
    vivid = choose(table, VIVID_RATIO_MIN, True)
    print(f"{len(images)} validation images, {time.perf_counter() - t0:.0f} s; model {pred.model_id}; "
          f"gray (a = b = 0): CIEDE2000 {gray:.3f}\n")
    print("| debias | T | gain | CIEDE2000 | colourfulness ratio |\n|---|---|---|---|---|")
    for key, r in table.items():
        mark = " (fidelity end)" if key == fidelity else " (vivid end)" if key == vivid else ""
        print("| " + " | ".join(f"{x:g}" for x in key) + f" | {r['de2000']:.3f} | {r['ratio']:.3f}{mark} |")
    chosen = {"fidelity": [float(x) for x in fidelity], "vivid": [float(x) for x in vivid],
              "chosen_on": f"validation split ({args.set}), {len(images)} images, working short side "
                           f"{pred.working_short_side} (benchmarks/tune_readout.py)",
              "gray_de2000": gray,
              "validation": {"fidelity": table[fidelity], "vivid": table[vivid]}}
    print("\n" + json.dumps(chosen))
    if args.write_card:
        card_path = Path(args.model).with_suffix(".json")
        card = json.loads(card_path.read_text()) if card_path.is_file() else {}
        card["readout"] = chosen
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"wrote readout into {card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
