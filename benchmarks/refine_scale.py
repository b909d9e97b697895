"""At what scale should the hint refiner run? ΔE94 of hinted decoding with the refiner run at
a fraction of the image's size, on a validation set (Kodak only to report).

    python benchmarks/refine_scale.py --set val-large --scales 1,0.5 --levels medium
    python benchmarks/refine_scale.py --set val --scales 1,0.5 --model runs/candidates/X.safetensors

Rows per level: ``L-guided`` (the refiner's input, what an untrained refiner returns),
``refiner xS`` for each scale S: the refiner runs on L* and the thumbnail at S × the image's
size (``refine_size`` of that), its correction to the L-guided plane (refined − guided, at that
size) is upsampled bilinearly and added to the L-guided plane at full size, and the result is
pulled to the block means there. S = 1 is the decoder's path. Written because the refiner
gains far more over its input on the split's photos at short side 256 (shrunk from JPEGs,
colour on the pixel grid) than on native-size photos, whose colour is mostly stored at half
resolution (JPEG 4:2:0, and PhotoCD's YCC for Kodak).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import deltaE_ciede94

sys.path.insert(0, str(Path(__file__).resolve().parent))
import eval_colour  # noqa: E402  (the sets)

from graycodec import color, hints  # noqa: E402
from graycodec.model import load_model  # noqa: E402
from graycodec.predictor import resize_plane, thumbnail_tensor, upsample_ab  # noqa: E402
from graycodec.refiner import load_refiner, refine, refine_size, refiner_inputs  # noqa: E402
from graycodec.training.refine import init_state  # noqa: E402
from graycodec.upsampling import match_hint_means  # noqa: E402
from graycodec.zoo import find_default_model  # noqa: E402


@torch.inference_mode()
def refined_at(refiner, lstar_full: torch.Tensor, thumb: torch.Tensor, scale: float | None,
               plain: bool = False) -> torch.Tensor:
    """a/b (1, 2, h, w) at the size of ``lstar_full`` with the refiner run at ``scale`` of it
    (None: no refiner, the L-guided plane; ``plain``: the whole path at that scale, upsampled)."""
    h, w = lstar_full.shape[-2:]
    guided_full, _ = refiner_inputs(lstar_full, thumb)
    if scale is None:
        return match_hint_means(lstar_full, guided_full, thumb)
    small = refine_size(max(1, round(h * scale)), max(1, round(w * scale)))
    l_small = F.interpolate(lstar_full, size=small, mode="bilinear", align_corners=False, antialias=True)
    if plain:  # everything at the small size, then upsampled
        ab = match_hint_means(l_small, refine(refiner, l_small, thumb), thumb)
        return F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
    correction = refine(refiner, l_small, thumb) - refiner_inputs(l_small, thumb)[0]
    if small != (h, w):
        correction = F.interpolate(correction, size=(h, w), mode="bilinear", align_corners=False)
    return match_hint_means(lstar_full, guided_full + correction, thumb)


def de94(ref_lab, lstar, ab) -> float:
    lab = color.rgb_to_lab(color.lab_to_rgb8(lstar, ab))
    return float(deltaE_ciede94(ref_lab, lab).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=("val", "val-large", "kodak"), default="val-large")
    p.add_argument("--scales", default="1,0.5")
    p.add_argument("--levels", default="medium")
    p.add_argument("--model", help="weight file with a refiner (default: the shipped model)")
    p.add_argument("--refiner", action="append", default=[],
                   help="NAME=PATH: also score these refiner weights (a best.pt or last.ckpt of train-refiner, "
                        "or a weight file with a refiner); repeatable")
    p.add_argument("--max-images", type=int)
    p.add_argument("--every", type=int, default=1, help="every Nth image of the set")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", help="write per-image rows here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    net, card = load_model(Path(args.model) if args.model else find_default_model())
    refiners = {"refiner": net.refiner}
    for spec in args.refiner:
        name, _, path = spec.partition("=")
        refiners[name] = load_refiner(init_state(Path(path)))  # train-refiner's own reader of --init
    scales = [float(s) for s in args.scales.split(",")]
    images = eval_colour.load_set(args.set, args.max_images)[:: args.every]
    rows, start = [], time.time()
    for name, rgb in images:
        ref_lab = color.rgb_to_lab(rgb)
        lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
        l_full = resize_plane(lstar, lstar.shape)
        row = {"image": name}
        for level in args.levels.split(","):
            thumb = thumbnail_tensor(hints.make_hints(ref_lab[..., 1:], level))
            guided = refined_at(None, l_full, thumb, None)
            row[f"{level} L-guided"] = de94(ref_lab, lstar, upsample_ab(guided, *lstar.shape))
            for scale in scales:
                for rname, refiner in refiners.items():
                    ab = refined_at(refiner, l_full, thumb, scale)
                    row[f"{level} {rname} x{scale:g}"] = de94(ref_lab, lstar, upsample_ab(ab, *lstar.shape))
                    if scale < 1:
                        ab = refined_at(refiner, l_full, thumb, scale, plain=True)
                        row[f"{level} {rname} x{scale:g} plain"] = de94(ref_lab, lstar, upsample_ab(ab, *lstar.shape))
        rows.append(row)
    print(f"`python benchmarks/refine_scale.py {' '.join(argv or sys.argv[1:])}` — model {card.get('model_id')}, "
          f"{len(rows)} images of {args.set}, {time.time() - start:.0f} s\n")
    print("| row | mean ΔE94 | images better than L-guided |\n|---|---|---|")
    for key in rows[0]:
        if key == "image":
            continue
        level = key.split()[0]
        wins = sum(r[key] < r[f"{level} L-guided"] for r in rows)
        print(f"| {key} | {np.mean([r[key] for r in rows]):.3f} | {wins}/{len(rows)} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
