"""Would hints that also store each cell's chroma-from-lightness slope beat a finer grid?

    python benchmarks/slope_hints.py --set val-large --every 2

The L-guided upsampling (graycodec/upsampling.py) guesses each cell's slope of a/b against L*
from the 3×3 neighbouring cells' means. The encoder knows the true slope. This measures, on a
validation set (Kodak only to report), mean ΔE94 at full size and the hint payload in bits per
pixel for:

- ``F:S grid``: today's hints at cell F, step S, through the L-guided plane;
- ``F:S + slope Q``: the same thumbnail plus each cell's least-squares slope
  cov(L, a/b) / (var(L) + EPS), quantised to steps of Q and upsampled bilinearly like the
  guided filter's slopes; its cost is the order-0 entropy of the slope indices per image
  (an estimate: no coder for them exists);
- ``refined``: the shipped refiner on top, fed the plane of that row as its L-guided input
  (it was trained on the guided plane, not on this one).

Every plane is pulled to the block means (``match_hint_means``) as the decoder does.
"""
from __future__ import annotations

import argparse
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
from graycodec import refiner as refiner_module  # noqa: E402
from graycodec.model import load_model  # noqa: E402
from graycodec.predictor import thumbnail_tensor  # noqa: E402
from graycodec.upsampling import EPS, _up, guided_hint_plane, match_hint_means  # noqa: E402
from graycodec.zoo import find_default_model  # noqa: E402

ROWS = (("16:1", None), ("14:1", None), ("12:1", None), ("11:1", None),
        ("16:1", 0.2), ("20:1", 0.2), ("20:1", 0.3), ("22:1", 0.2))


def slope_indices(lstar: torch.Tensor, ab: torch.Tensor, cells, step: float) -> torch.Tensor:
    """Each cell's least-squares slope of a/b against L*, as integer multiples of ``step``."""
    mean_l, mean_ab = F.adaptive_avg_pool2d(lstar, cells), F.adaptive_avg_pool2d(ab, cells)
    cov = F.adaptive_avg_pool2d(lstar * ab, cells) - mean_l * mean_ab
    var = F.adaptive_avg_pool2d(lstar * lstar, cells) - mean_l * mean_l
    return torch.round(cov / (var + EPS) / step)


def slope_plane(lstar: torch.Tensor, thumb: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """The guided plane's formula with the stored slopes instead of the neighbourhood's guess."""
    size = lstar.shape[-2:]
    mean_l = F.adaptive_avg_pool2d(lstar, thumb.shape[-2:])
    return _up(thumb, size) + _up(slopes, size) * (lstar - _up(mean_l, size))


def entropy_bits(indices: np.ndarray) -> float:
    _, counts = np.unique(indices, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) * indices.size


def de94(ref_lab: np.ndarray, lstar: np.ndarray, ab: torch.Tensor) -> float:
    lab = color.rgb_to_lab(color.lab_to_rgb8(lstar, ab[0].permute(1, 2, 0).numpy()))
    return float(deltaE_ciede94(ref_lab, lab).mean())


@torch.inference_mode()
def refined_from(refiner, lstar: torch.Tensor, thumb: torch.Tensor, plane: torch.Tensor) -> torch.Tensor:
    """The refiner with ``plane`` as its L-guided input (swapped in for ``refiner_inputs``)."""
    original = refiner_module.refiner_inputs
    refiner_module.refiner_inputs = lambda l, t: (plane, _up(t, l.shape[-2:]))
    try:
        return refiner_module.refine(refiner, lstar, thumb)
    finally:
        refiner_module.refiner_inputs = original


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--set", choices=("val", "val-large", "kodak"), default="val-large")
    p.add_argument("--every", type=int, default=1, help="every Nth image of the set")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    net, card = load_model(find_default_model())
    images = eval_colour.load_set(args.set, None)[:: args.every]
    errors = {}
    bits = {}
    pixels, start = 0, time.time()
    for _, rgb in images:
        ref_lab = color.rgb_to_lab(rgb)
        lstar = ref_lab[..., 0].astype(np.float32)
        l_t = torch.from_numpy(lstar)[None, None]
        ab_t = torch.from_numpy(ref_lab[..., 1:].astype(np.float32)).permute(2, 0, 1)[None]
        pixels += lstar.size
        for spec, step in ROWS:
            thumb_hints = hints.make_hints(ref_lab[..., 1:], spec)
            thumb = thumbnail_tensor(thumb_hints)
            key = f"{spec} grid" if step is None else f"{spec} + slope {step:g}"
            payload = 8 * len(hints.pack_hints(thumb_hints))
            if step is None:
                plane = guided_hint_plane(l_t, thumb)
            else:
                indices = slope_indices(l_t, ab_t, thumb.shape[-2:], step)
                payload += entropy_bits(indices.numpy().astype(np.int32))
                plane = slope_plane(l_t, thumb, indices * step)
            bits[key] = bits.get(key, 0.0) + payload
            errors.setdefault(key, []).append(de94(ref_lab, lstar, match_hint_means(l_t, plane, thumb)))
            if spec == "16:1" or step is not None:
                refined = match_hint_means(l_t, refined_from(net.refiner, l_t, thumb, plane), thumb)
                errors.setdefault(key + ", refined", []).append(de94(ref_lab, lstar, refined))
    print(f"`python benchmarks/slope_hints.py {' '.join(argv or sys.argv[1:])}` — model {card.get('model_id')}, "
          f"{len(images)} images of {args.set}, {time.time() - start:.0f} s\n")
    print("| hints | payload bpp | mean ΔE94 |\n|---|---|---|")
    for key, values in errors.items():
        rate = bits[key.split(",")[0]] / pixels
        print(f"| {key} | {rate:.4f} | {np.mean(values):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
