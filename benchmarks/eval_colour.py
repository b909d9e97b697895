"""The colour predictor on the validation split and on Kodak: every rendering, every hint level.

    python benchmarks/eval_colour.py --set val      # the fixed validation split of ../shared/data/photos
    python benchmarks/eval_colour.py --set val-large  # its photos with a short side >= 320, at native size
    python benchmarks/eval_colour.py --set kodak    # the 24 Kodak images (a test set: report only)
    python benchmarks/eval_colour.py --set val --model models/x.safetensors --max-images 64 --json out.json

Each image goes through the decoder's path (8-bit lightness plane, quantised hint thumbnail,
the predictor at working size, a/b upsampled, 8-bit sRGB) and is scored at full resolution
against its original: ΔE94, CIEDE2000, MSE a/b, the class-rebalanced a/b accuracy AUC
(Zhang 2016) and the colourfulness ratio (a ratio of means, Hasler & Süsstrunk 2003).

Rows: without hints at several vividness values (one forward pass, read out at each, with the
model card's read-out ends), gray (a = b = 0); at each hint level the predictor, the U-Net's
hint input (the L-guided upsampling of the thumbnail at the working size, what an untrained
network returns), for a model with a hint refiner the refiner's own input (``L-guided full
size``: the same upsampling at the refiner's size, what an untrained refiner returns) and
plain bilinear upsampling. ``val`` photos are used as training sees them (resized to a short
side of 256, ``data.load_resized``); ``val-large`` takes the split's larger photos (short side
>= 320: BSDS500 and ImageNet scenes, 74 of them) at their native size, which is what a
full-size photo looks like to the predictor (it runs below full size on those, as on Kodak);
Kodak at full size. Settings are chosen on ``val`` / ``val-large`` and reported on all three.

``--hint-search N`` adds, at each level, ``predictor, hint search N``: the thumbnail refit by
the encoder's hint search (graycodec/hint_search.py, N steps) instead of the plain block means,
and a second table of the hint payload in bits per pixel, plain and searched.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from graycodec import color, hint_search, hints
from graycodec.colorbins import readout
from graycodec.evaluation.metrics import ab_accuracy_auc, colourfulness
from graycodec.imageio import read_image
from graycodec.model import ColorUNet
from graycodec.predictor import Predictor, hint_inputs, resize_plane, upsample_ab, working_size
from graycodec.training.data import find_images, is_grayscale, is_validation, load_resized

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
VIVIDNESS = (0.0, 0.25, 0.5, 0.75, 1.0)
LEVELS = ("low", "medium", "high")


LARGE_SHORT_SIDE = 320  # val-large: photos at least this big, scored at native size


def short_side(path: Path) -> int:
    with Image.open(path) as im:
        return min(im.size)


def load_set(name: str, max_images: int | None) -> list[tuple[str, np.ndarray]]:
    if name == "kodak":
        paths = sorted((SHARED / "kodak").glob("*.png"))
        images = [(p.name, read_image(p, max_pixels=None).rgb) for p in paths]
    else:
        paths = sorted((p for p in find_images([SHARED / "photos"]) if is_validation(str(p))),
                       key=lambda p: "/".join(p.parts[-2:]))
        if name == "val-large":
            paths = [p for p in paths if short_side(p) >= LARGE_SHORT_SIDE]
            images = [("/".join(p.parts[-2:]), read_image(p, max_pixels=None).rgb) for p in paths]
        else:
            images = [("/".join(p.parts[-2:]), load_resized(p, 256)) for p in paths]
    images = [(n, rgb) for n, rgb in images if rgb is not None and not is_grayscale(rgb)]
    return images[:max_images] if max_images else images


def scores(ref_lab, lstar, ab) -> dict:
    from skimage.color import deltaE_ciede94, deltaE_ciede2000

    rgb8 = color.lab_to_rgb8(lstar, ab)
    lab = color.rgb_to_lab(rgb8)
    return {"de94": float(deltaE_ciede94(ref_lab, lab).mean()),
            "de2000": float(deltaE_ciede2000(ref_lab, lab).mean()),
            "mse_ab": float(((lab[..., 1:] - ref_lab[..., 1:]) ** 2).mean()),
            "ab_auc": ab_accuracy_auc(ref_lab[..., 1:], lab[..., 1:]),
            "colourfulness": colourfulness(rgb8)}


@torch.inference_mode()
def image_rows(pred: Predictor, untrained: Predictor, rgb: np.ndarray,
               untrained_refiner: Predictor | None = None, search_steps: int = 0,
               levels=LEVELS) -> dict:
    """Scores of every row for one image."""
    ref_lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    out = {"original": {"colourfulness": colourfulness(rgb)}}
    out["gray"] = scores(ref_lab, lstar, np.zeros(lstar.shape + (2,), np.float32))
    l_work = resize_plane(lstar, working_size(*lstar.shape, pred.working_short_side))
    hint, mask = hint_inputs(l_work, None)
    logits = pred.model(l_work, hint, mask).logits
    for v in VIVIDNESS:
        ab = readout(logits, v, pred.model.class_weights, *pred.readout_ends)
        ab = torch.nn.functional.interpolate(ab, size=l_work.shape[-2:], mode="bilinear", align_corners=False)
        out[f"none v={v:g}"] = scores(ref_lab, lstar, upsample_ab(ab, *lstar.shape))
    for level in levels:
        thumb = hints.make_hints(ref_lab[..., 1:], level)
        out[f"{level} predictor"] = scores(ref_lab, lstar, pred.predict_ab(lstar, thumb))
        out[f"{level} predictor"]["hint_bpp"] = 8 * len(hints.pack_hints(thumb)) / lstar.size
        if search_steps:
            found = hint_search.search(pred.model.refiner, lstar, ref_lab[..., 1:], thumb, search_steps)
            row = f"{level} predictor, hint search {search_steps}"
            out[row] = scores(ref_lab, lstar, pred.predict_ab(lstar, found))
            out[row]["hint_bpp"] = 8 * len(hints.pack_hints(found)) / lstar.size
        out[f"{level} L-guided"] = scores(ref_lab, lstar, untrained.predict_ab(lstar, thumb))
        if untrained_refiner is not None:
            out[f"{level} L-guided full size"] = scores(ref_lab, lstar, untrained_refiner.predict_ab(lstar, thumb))
        bilinear = hints.upsample_bilinear(thumb.ab.astype(np.float32), *lstar.shape)
        out[f"{level} bilinear"] = scores(ref_lab, lstar, bilinear)
    return out


def summarise(per_image: list[dict]) -> dict:
    original = float(np.mean([r["original"]["colourfulness"] for r in per_image]))
    table = {}
    for row in per_image[0]:
        if row == "original":
            continue
        vals = [r[row] for r in per_image]
        table[row] = {k: float(np.mean([v[k] for v in vals])) for k in vals[0] if k != "colourfulness"}
        table[row]["colourfulness_ratio"] = float(np.mean([v["colourfulness"] for v in vals])) / original
    return table


def markdown(table: dict) -> str:
    lines = ["| rendering | ΔE94 | CIEDE2000 | MSE a/b | AUC (rebal.) | colourfulness ratio |",
             "|---|---|---|---|---|---|"]
    for row, r in table.items():
        lines.append(f"| {row} | {r['de94']:.3f} | {r['de2000']:.3f} | {r['mse_ab']:.1f} | "
                     f"{r['ab_auc']:.3f} | {r['colourfulness_ratio']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", choices=("val", "val-large", "kodak"), default="val")
    p.add_argument("--working-short-side", type=int,
                   help="run the network at this short side instead of the model card's")
    p.add_argument("--model", help="weight file (default: the shipped model)")
    p.add_argument("--max-images", type=int)
    p.add_argument("--levels", default=",".join(LEVELS), help="hint levels to score, comma-separated")
    p.add_argument("--every", type=int, default=1, help="every Nth image of the set (after --max-images)")
    p.add_argument("--json", type=Path, help="write the table and per-image rows here")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--hint-search", type=int, default=0, metavar="N",
                   help="also score hints refit by N steps of the encoder's hint search")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not SHARED.is_dir():
        print(f"eval_colour: {SHARED} is not present", file=sys.stderr)
        return 3
    pred = Predictor.load(args.model, "cpu")
    if args.hint_search and pred.model.refiner is None:
        print("eval_colour: --hint-search needs a model with a hint refiner", file=sys.stderr)
        return 2
    if args.working_short_side:
        pred.working_short_side = args.working_short_side
    # Its own input: an untrained network (zero residual) at the same working size.
    untrained = Predictor(ColorUNet(), {"working_short_side": pred.working_short_side}, torch.device("cpu"))
    # A model with a hint refiner takes hints at (up to) full size: its input is the L-guided
    # plane there, which an untrained refiner (zero last layer) returns.
    untrained_refiner = None
    if pred.model.refiner is not None:
        untrained_refiner = Predictor(ColorUNet(refiner=True), {"working_short_side": pred.working_short_side},
                                      torch.device("cpu"))
    images = load_set(args.set, args.max_images)[:: args.every]
    t0 = time.perf_counter()
    levels = args.levels.split(",")
    per_image = [image_rows(pred, untrained, rgb, untrained_refiner, args.hint_search, levels) for _, rgb in images]
    table = summarise(per_image)
    command = " ".join(["python benchmarks/eval_colour.py", *(sys.argv[1:] if argv is None else argv)])
    print(f"`{command}` — model {pred.model_id}, {len(images)} images of the {args.set} set, "
          f"{time.perf_counter() - t0:.0f} s\n")
    print(markdown(table))
    if args.hint_search:
        print("\n| hints | payload bpp |\n|---|---|")
        print("\n".join(f"| {row} | {r['hint_bpp']:.4f} |" for row, r in table.items() if "hint_bpp" in r))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "model_id": pred.model_id, "set": args.set,
                                         "images": [n for n, _ in images], "table": table,
                                         "per_image": per_image}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
