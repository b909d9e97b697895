"""How fine is a photo set's colour? The a/b detail a 2× resize loses, relative to L*'s.

    python benchmarks/chroma_detail.py                    # Kodak (every 2nd) against the training photos
    python benchmarks/chroma_detail.py --shrink 1.5,2     # the training photos box-shrunk first, too

For each photo: the mean squared difference between its Lab planes and the same planes
box-downscaled 2× and bilinearly upscaled back, a/b over L*. JPEG 4:2:0 stores colour at half
resolution, so its ratio is low; film scans (Kodak) keep finer colour; JPEG noise in colour
stored 4:4:4 makes the ratio high; shrinking a 4:2:0 photo brings its colour onto the pixel
grid. Written to ask whether the hint refiner's smaller gain on Kodak comes from the kind of
colour its training photos have (docs/BENCHMARKS.md, "The fifth hint refiner"). It chooses
nothing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, JpegImagePlugin

from graycodec.color import rgb_to_lab

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def colour_detail_ratio(path: Path, shrink: float = 1.0) -> float:
    """a/b energy lost by a 2× box-down, bilinear-up round trip, over L*'s (after a box shrink)."""
    image = Image.open(path).convert("RGB")
    if shrink != 1.0:
        image = image.resize((round(image.width / shrink), round(image.height / shrink)), Image.BOX)
    lab = rgb_to_lab(np.asarray(image))
    planes = torch.from_numpy(lab).permute(2, 0, 1)[None]
    height, width = planes.shape[2] // 2 * 2, planes.shape[3] // 2 * 2
    planes = planes[:, :, :height, :width]
    smooth = F.interpolate(F.avg_pool2d(planes, 2), scale_factor=2, mode="bilinear", align_corners=False)
    lost = (planes - smooth)[0].pow(2).flatten(1).mean(1)
    return float(lost[1:].mean() / lost[0])


def jpeg_sampling(path: Path) -> int | None:
    """0 for 4:4:4, 2 for 4:2:0 (Pillow's codes); None for a non-JPEG or a gray image."""
    with Image.open(path) as im:
        if im.format != "JPEG" or im.mode != "RGB":
            return None
        return JpegImagePlugin.get_sampling(im)


def photo_sets(count: int) -> dict[str, list[Path]]:
    imagenet = {p: jpeg_sampling(p) for p in sorted((DATA / "photos" / "imagenet-sample").glob("*"))}
    return {
        "kodak (every 2nd)": sorted((DATA / "kodak").glob("*.png"))[::2],
        "bsds500": sorted((DATA / "photos" / "bsds500").glob("*.jpg"))[:count],
        "imagenet 4:2:0": [p for p, sampling in imagenet.items() if sampling == 2][:count],
        "imagenet 4:4:4": [p for p, sampling in imagenet.items() if sampling == 0][:count],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30, help="photos per training group (default: %(default)s)")
    parser.add_argument("--shrink", default="", help="also score the training groups box-shrunk by these factors, e.g. 1.5,2")
    args = parser.parse_args(argv)
    shrinks = [float(f) for f in args.shrink.split(",") if f.strip()]
    if not DATA.is_dir():
        parser.exit(1, f"error: {DATA} not found (the shared data sets sit beside the project)\n")
    print("| photos | n | colour detail ratio, median | mean |\n|---|---|---|---|")
    for name, paths in photo_sets(args.count).items():
        for shrink in [1.0] + ([] if name.startswith("kodak") else shrinks):
            ratios = [colour_detail_ratio(p, shrink) for p in paths]
            label = name if shrink == 1.0 else f"{name}, shrunk {shrink:g}×"
            print(f"| {label} | {len(ratios)} | {np.median(ratios):.4f} | {np.mean(ratios):.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
