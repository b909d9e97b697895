"""`encode --quality` on the 24 Kodak images against Pillow JPEG / WebP / AVIF: the report's figures.

    python benchmarks/quality_kodak.py [--kodak DIR] [--qualities 10,30,...] [--anchors jpeg,webp]
                                       [--json benchmarks/results/quality_kodak.json] [--anchors-only]

Measured as ../shared/checks/quality.py measures (its helpers are imported from there): bpp of
the whole file averaged over images; ΔE94 = skimage deltaE_ciede94 of the decoded image against
the original, averaged over pixels, then images; BD-rate with mean ΔE94 as the distortion.
Decoding uses an UNTRAINED ColorUNet (graycodec.predictor.Predictor(ColorUNet(), {}, cpu)):
with hints it returns the L-guided upsampling of the thumbnail, so these ΔE94 are what the
trained model must beat, not what it reaches. Anchor sweeps are kept in the JSON and reused.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

CHECKS = Path(__file__).resolve().parents[2] / "shared" / "checks"
SWEEPS = {"jpeg": ("JPEG", tuple(range(10, 100, 5))), "webp": ("WEBP", (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)),
          "avif": ("AVIF", (15, 35, 55, 75, 85))}


def graycodec_points(imgs, qualities, common):
    from graycodec import codec
    from graycodec.model import ColorUNet
    from graycodec.predictor import Predictor

    torch.manual_seed(0)
    pred = Predictor(ColorUNet(), {}, torch.device("cpu"))
    out = {}
    for q in qualities:
        bpp, de = [], []
        for f in imgs:
            data = codec.encode(str(f), quality=q)
            rgb = np.asarray(codec.decode(data, predictor=pred).convert("RGB"))
            bpp.append(len(data) * 8 / (rgb.shape[0] * rgb.shape[1]))
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, "PNG")
            de.append(float(common.color.deltaE_ciede94(common.lab(f), common.lab(io.BytesIO(buf.getvalue()))).mean()))
        out[q] = (float(np.mean(bpp)), float(np.mean(de)))
        print(f"graycodec --quality {q:<3} {out[q][0]:.3f} bpp  ΔE94 {out[q][1]:.3f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kodak", type=Path, default=CHECKS.parent / "data" / "kodak")
    ap.add_argument("--qualities", default="10,30,50,70,85,95")
    ap.add_argument("--anchors", default="jpeg,webp")
    ap.add_argument("--json", type=Path, default=Path("benchmarks/results/quality_kodak.json"))
    ap.add_argument("--anchors-only", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(CHECKS))
    import _common as common

    imgs = sorted(args.kodak.glob("*.png"))
    res = json.loads(args.json.read_text()) if args.json.exists() else {}
    t0 = time.time()
    for name in args.anchors.split(","):
        if name and name not in res.get("anchors", {}):
            fmt, qs = SWEEPS[name]
            res.setdefault("anchors", {})[name] = common.pillow_sweep(imgs, fmt, qs)
            args.json.write_text(json.dumps(res, indent=1))
            print(f"{name}: {time.time() - t0:.0f} s", flush=True)
    if not args.anchors_only:
        from graycodec import codec

        sizes = [len(codec.encode(str(f))) * 8 / (768 * 512) for f in imgs]  # the default: lossless, no hints
        res["lossless_default_bpp"] = float(np.mean(sizes))
        print(f"encode with no options: {res['lossless_default_bpp']:.3f} bpp", flush=True)
        pts = graycodec_points(imgs, [int(q) for q in args.qualities.split(",")], common)
        res["graycodec"] = {str(q): v for q, v in pts.items()}
        res["bd_rate_pct"] = {}
        for name, sweep in res.get("anchors", {}).items():
            try:
                res["bd_rate_pct"][name] = common.bd_rate([(r, d) for _, r, d in sweep], list(pts.values()))
            except ValueError as exc:
                res["bd_rate_pct"][name] = str(exc)
        print("BD-rate (ΔE94):", res["bd_rate_pct"])
    args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
