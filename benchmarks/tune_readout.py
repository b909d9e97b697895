"""Choose a model's vividness ends on the validation split (never on Kodak).

    python benchmarks/tune_readout.py --model models/x.safetensors [--set val-large] [--floors-also-on val]
                                      [--max-images N] [--jobs 2] [--save-scores F | --from-scores F] [--write-card]

For every (debias exponent, temperature, chroma gain, chroma exponent) of a grid, the bins of
each validation photo (the fixed hash split of ../shared/data/photos, as training sees them;
or, with ``--set val-large``, the split's photos with a short side >= 320 at their native
size) are read out and scored through the decoder's path: mean CIEDE2000 against the
original and the colourfulness ratio (mean M of the outputs / mean M of the originals).

Both ends read the same distribution: they share the debias exponent, the temperature and
the chroma exponent, and differ only in the chroma gain. So the vividness scale turns one
knob, and on every photo and every pixel the vivid rendering is at least as saturated as the
fidelity one, in the same hue (up to sRGB clipping). Ends chosen each on its own can cross:
with different chroma exponents a "vivid" end came out duller than the fidelity end on 5 of
493 validation photos and barely different on Kodak's parrots (docs/COLOUR_LOG.md, "A gain
that grows with chroma"). For each shared (debias, T, exponent):

* the **fidelity** gain (vividness 0, `decode`'s default) is the one of least CIEDE2000
  among those whose colourfulness ratio is at least ``--fidelity-ratio-min`` (default 0.60,
  issue 12's floor for decoding: the read-out of least error overall is the sepia mean, about
  30 % as colourful as the originals, and a user sees that first; ``--fidelity-ratio-min 0``
  gives the least error whatever its colour);
* the **vivid** gain (vividness 1, `colorize`'s default) is the one of least CIEDE2000
  among those whose ratio is at least 0.85;

and the shared part chosen is the one whose two ends have the least CIEDE2000 in sum. If no
shared part reaches both floors, the fidelity end is the least-error read-out and the vivid
end the most colourful one with the same shared part.

``--floors-also-on val`` (the default with ``--set val-large``) scores the whole split at
its training size too, and an end must reach the colourfulness floor on both sets: issue 12
asks the floors of the validation split, and val-large (72 full-size scenes, the photos most
like a user's) alone let the whole split's decode ratio fall to 0.58. The error that chooses
is still val-large's.

``--write-card`` stores them as ``readout`` in the model card beside the weights (the weight
file and its hash are unchanged); ``Predictor`` reads them from there.
"""
from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage.color import deltaE_ciede2000

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_colour import load_set  # noqa: E402

from graycodec import color  # noqa: E402
from graycodec.colorbins import chroma_gain, readout_with  # noqa: E402
from graycodec.evaluation.metrics import colourfulness  # noqa: E402
from graycodec.model import read_card  # noqa: E402
from graycodec.predictor import (Predictor, hint_inputs, resize_plane, upsample_ab,  # noqa: E402
                                 working_short_side, working_size)

DEBIAS = (0.5, 0.75, 1.0)
TEMPERATURE = (0.5, 0.38)
CHROMA_EXPONENT = (0.0, 0.6, 1.2, 1.5)
GAIN = tuple(np.round(np.arange(0.6, 3.01, 0.3), 1))
FIDELITY_RATIO_MIN = 0.60
VIVID_RATIO_MIN = 0.85

_pred: Predictor | None = None  # one per worker process


def _load(model: str, short_side: int | None) -> None:
    global _pred
    torch.set_num_threads(1)  # the workers share the cores
    _pred = Predictor.load(model, "cpu")
    if short_side:
        _pred.working_short_side = short_side


@torch.inference_mode()
def grid_scores(rgb: np.ndarray) -> tuple[dict, float, float]:
    """{setting: (CIEDE2000, M)} for one photo, its own M and gray's CIEDE2000."""
    pred = _pred
    ref_lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    l_work = resize_plane(lstar, working_size(*lstar.shape, pred.working_short_side))
    logits = pred.model(l_work, *hint_inputs(l_work, None)).logits
    out = {}
    for d, t, e in itertools.product(DEBIAS, TEMPERATURE, CHROMA_EXPONENT):
        ab = readout_with(logits, pred.model.class_weights, d, t)
        ab = ab * chroma_gain(ab, 1.0, e)  # the exponent acts at the read-out's size, as in decoding
        ab = torch.nn.functional.interpolate(ab, size=l_work.shape[-2:], mode="bilinear", align_corners=False)
        ab = upsample_ab(ab, *lstar.shape)
        for g in GAIN:  # the plain gain commutes with the (linear) upsampling
            rgb8 = color.lab_to_rgb8(lstar, g * ab)
            out[(d, t, float(g), e)] = (float(deltaE_ciede2000(ref_lab, color.rgb_to_lab(rgb8)).mean()),
                                        colourfulness(rgb8))
    gray = color.lab_to_rgb8(lstar, np.zeros(lstar.shape + (2,), np.float32))
    return out, colourfulness(rgb), float(deltaE_ciede2000(ref_lab, color.rgb_to_lab(gray)).mean())


def score_set(pool, images) -> dict:
    """Per-photo scores over a set: {"de2000": {setting: [...]}, "m": {setting: [...]},
    "original_m": [...], "gray": [...]} (lists in the set's order)."""
    per_image = pool.map(grid_scores, [rgb for _, rgb in images], chunksize=1)
    keys = list(per_image[0][0])
    return {"de2000": {k: [r[0][k][0] for r in per_image] for k in keys},
            "m": {k: [r[0][k][1] for r in per_image] for k in keys},
            "original_m": [r[1] for r in per_image], "gray": [r[2] for r in per_image]}


def summary(raw: dict) -> dict:
    """{setting: {"de2000": mean, "ratio": mean M / mean M of the originals}} of one set."""
    original = float(np.mean(raw["original_m"]))
    return {k: {"de2000": float(np.mean(raw["de2000"][k])), "ratio": float(np.mean(raw["m"][k])) / original}
            for k in raw["de2000"]}


def choose(table: dict, ratio_min: float, floors: dict | None = None, keys=None):
    """Least CIEDE2000 among ``keys`` (default: all of ``table``) with a ratio ≥ ``ratio_min``
    in ``table`` and in ``floors``; None if none has."""
    ok = [k for k in (keys or table)
          if table[k]["ratio"] >= ratio_min and (floors is None or floors[k]["ratio"] >= ratio_min)]
    return min(ok, key=lambda k: table[k]["de2000"]) if ok else None


def choose_ends(table: dict, fidelity_ratio_min: float, floors: dict | None = None):
    """(fidelity, vivid) settings (debias, T, gain, exponent) that share all but the gain; see
    the module's docstring."""
    shared = {}
    for key in table:
        shared.setdefault((key[0], key[1], key[3]), []).append(key)
    pairs = []
    for keys in shared.values():
        fidelity = choose(table, fidelity_ratio_min, floors, keys)
        vivid = choose(table, VIVID_RATIO_MIN, floors, keys)
        if fidelity and vivid:
            pairs.append((table[fidelity]["de2000"] + table[vivid]["de2000"], fidelity, vivid))
    if pairs:
        return min(pairs)[1:]
    fidelity = min(table, key=lambda k: table[k]["de2000"])
    same = shared[(fidelity[0], fidelity[1], fidelity[3])]
    return fidelity, max(same, key=lambda k: table[k]["ratio"])


def _with_keys(raws: dict, convert) -> dict:
    """``raws`` with the setting keys of its per-setting tables passed through ``convert``."""
    return {name: {**raw, **{table: {convert(k): v for k, v in raw[table].items()} for table in ("de2000", "m")}}
            for name, raw in raws.items()}


def _save(path: Path, raws: dict) -> None:
    path.write_text(json.dumps(_with_keys(raws, lambda key: ",".join(map(str, key)))))


def _load_raw(path: Path) -> dict:
    return _with_keys(json.loads(path.read_text()), lambda text: tuple(float(x) for x in text.split(",")))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--set", choices=("val", "val-large"), default="val")
    p.add_argument("--floors-also-on", choices=("val", "none"),
                   help="also require the colourfulness floors on this set (default: val with --set val-large)")
    p.add_argument("--working-short-side", type=int,
                   help="run the network at this short side (default: the model card's)")
    p.add_argument("--max-images", type=int)
    p.add_argument("--write-card", action="store_true")
    p.add_argument("--fidelity-ratio-min", type=float, default=FIDELITY_RATIO_MIN)
    p.add_argument("--jobs", "--threads", type=int, default=2,
                   help="worker processes, one image each, one thread each (--threads: the name before)")
    p.add_argument("--save-scores", type=Path, help="write every photo's scores here (JSON)")
    p.add_argument("--from-scores", type=Path, help="choose from scores saved before instead of scoring")
    args = p.parse_args(argv)
    floor_set = args.floors_also_on or ("val" if args.set == "val-large" else "none")
    t0 = time.perf_counter()
    if args.from_scores:
        raws = _load_raw(args.from_scores)
        floor_set = next((name for name in raws if name != args.set), "none")
    else:
        with multiprocessing.get_context("fork").Pool(args.jobs, _load, (args.model, args.working_short_side)) as pool:
            raws = {args.set: score_set(pool, load_set(args.set, args.max_images))}
            if floor_set != "none":
                raws[floor_set] = score_set(pool, load_set(floor_set, args.max_images))
        if args.save_scores:
            _save(args.save_scores, raws)
    table, gray, n_images = summary(raws[args.set]), float(np.mean(raws[args.set]["gray"])), len(raws[args.set]["gray"])
    floors = summary(raws[floor_set]) if floor_set != "none" else None
    floor_gray = float(np.mean(raws[floor_set]["gray"])) if floors else None
    card = read_card(Path(args.model).with_suffix(".json"))  # the id and working size, not the weights again
    model_id, short_side = card.get("model_id", ""), args.working_short_side or working_short_side(card)
    fidelity, vivid = choose_ends(table, args.fidelity_ratio_min, floors)
    print(f"{n_images} validation images ({args.set}), floors also on {floor_set}, {time.perf_counter() - t0:.0f} s; "
          f"model {model_id}; gray (a = b = 0): CIEDE2000 {gray:.3f}" + (f" ({floor_set}: {floor_gray:.3f})" if floors else "") + "\n")
    extra = f" | {floor_set} CIEDE2000 | {floor_set} ratio" if floors else ""
    print(f"| debias | T | gain | chroma exponent | CIEDE2000 | colourfulness ratio{extra} |\n|---|---|---|---|---|---" +
          ("|---|---" if floors else "") + "|")
    for key, r in table.items():
        mark = " (fidelity end)" if key == fidelity else " (vivid end)" if key == vivid else ""
        cells = f" | {floors[key]['de2000']:.3f} | {floors[key]['ratio']:.3f}" if floors else ""
        print("| " + " | ".join(f"{x:g}" for x in key) + f" | {r['de2000']:.3f} | {r['ratio']:.3f}{mark}{cells} |")
    chosen = {"fidelity": [float(x) for x in fidelity], "vivid": [float(x) for x in vivid],
              "chosen_on": f"validation split ({args.set}), {n_images} images, working short side "
                           f"{short_side}, colourfulness floors also on {floor_set} "
                           f"(benchmarks/tune_readout.py)",
              "gray_de2000": gray,
              "validation": {"fidelity": table[fidelity], "vivid": table[vivid]}}
    if floors:
        chosen["validation_" + floor_set] = {"gray_de2000": floor_gray, "fidelity": floors[fidelity], "vivid": floors[vivid]}
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
