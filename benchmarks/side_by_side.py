"""Figures for the docs: original | gray | decode | colorize | hinted, one row per photo.

    python benchmarks/side_by_side.py IMAGE... -o docs/img/colour_side_by_side.png [--model M] [--hints medium]

Each image goes through the real codec: ``encode`` (no hints) → ``decode`` (fidelity
rendering), ``colorize`` (its default, vivid), and ``encode --hints LEVEL`` → ``decode``. Each
panel is scaled to a height of 192 pixels; the labels are drawn above the first row.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

import graycodec
from graycodec import codec

ROW_HEIGHT = 192
LABELS = ("original", "gray (stored L*)", "decode", "colorize", "decode, hints {}")


def row(path: Path, predictor, level: str) -> list[Image.Image]:
    original = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    plain = graycodec.encode(path)
    hinted = graycodec.encode(path, hints=level)
    panels = [original,
              graycodec.decode(plain, gray=True).convert("RGB"),
              graycodec.decode(plain, predictor=predictor),
              graycodec.colorize(path, predictor=predictor),
              graycodec.decode(hinted, predictor=predictor)]
    return [p.resize((round(p.width * ROW_HEIGHT / p.height), ROW_HEIGHT), Image.Resampling.LANCZOS)
            for p in panels]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--model")
    p.add_argument("--hints", default="medium")
    args = p.parse_args(argv)
    predictor = codec.load_predictor(args.model, "cpu")
    rows = [row(path, predictor, args.hints) for path in args.images]
    label_h, gap = 22, 4
    width = max(sum(im.width for im in r) + gap * (len(r) - 1) for r in rows)
    sheet = Image.new("RGB", (width, label_h + len(rows) * (ROW_HEIGHT + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for label, im in zip(LABELS, rows[0]):
        draw.text((x + 4, 5), label.format(args.hints), fill="black")
        x += im.width + gap
    for i, r in enumerate(rows):
        x, y = 0, label_h + i * (ROW_HEIGHT + gap)
        for im in r:
            sheet.paste(im, (x, y))
            x += im.width + gap
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output, optimize=True)
    print(f"wrote {args.output} ({sheet.width}×{sheet.height}) with model {predictor.model_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
