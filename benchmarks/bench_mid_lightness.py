"""Lightness at mid rates (issue 13 item 3): full-size near-lossless (mode 3), half size (mode 4),
the wavelet mode (mode 5) and Pillow JPEG / WebP of the gray plane, on training photos.

    python benchmarks/bench_mid_lightness.py [--per-set N] [--only wavelet] [--bin-centre]

First N (by name, default 4) of bsds500/ and of imagenet-sample/ in ../shared/data/photos.
Per setting, means over images: bpp of the lightness payload (or of the JPEG / WebP file), PSNR
(dB, of the mean MSE in plane units), mean |ΔL*| and the largest |Δ| in plane units.
--bin-centre: the wavelet encoder with every reconstruction offset forced to the bin centre
(o = 8) instead of the measured centroid (to measure what bias-cancelling reconstruction buys).
"""
import argparse
import glob
import io

import numpy as np
from PIL import Image

from graycodec import color, lplane
from graycodec.lplane import wavelet


def settings(only):
    out = []
    if only in (None, "near"):
        out += [("mode 3", d) for d in (4, 6, 8, 11, 15)] + [("mode 4", d) for d in (0, 1, 3)]
    if only in (None, "wavelet"):
        out += [("mode 5", d) for d in (6, 8, 12, 16, 24, 32, 48, 64)]
    if only in (None, "std"):
        out += [("jpeg", q) for q in (30, 50, 75, 90)] + [("webp", q) for q in (30, 50, 75, 90)]
    return out


def code(plane, kind, p):
    h, w = plane.shape
    if kind.startswith("mode"):
        m, pay = lplane.encode_plane(plane, max_error=p, mode=int(kind[-1]))
        return len(pay), lplane.decode_plane(m, pay, w, h, p)
    b = io.BytesIO()
    Image.fromarray(plane).save(b, kind.upper(), quality=p)
    return len(b.getvalue()), np.asarray(Image.open(io.BytesIO(b.getvalue())).convert("L"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=4)
    ap.add_argument("--only", default=None)
    ap.add_argument("--bin-centre", action="store_true")
    args = ap.parse_args()
    if args.bin_centre:
        real = wavelet._quantize
        wavelet._quantize = lambda c, step, rounding: (real(c, step, rounding)[0], 8)
    root = "../shared/data/photos/"
    files = sorted(glob.glob(root + "bsds500/*.jpg"))[:args.per_set] + sorted(glob.glob(root + "imagenet-sample/*"))[:args.per_set]
    res = {}
    for f in files:
        plane = color.rgb_to_plane(np.asarray(Image.open(f).convert("RGB")))
        for kind, p in settings(args.only):
            n, dec = code(plane, kind, p)
            e = dec.astype(float) - plane
            res.setdefault((kind, p), []).append((n * 8 / plane.size, (e ** 2).mean(), np.abs(e).mean() / 2.55, np.abs(e).max()))
    print(f"{len(files)} images\n| setting | bpp | PSNR (dB) | mean abs. ΔL* | max abs. error |\n|---|---|---|---|---|")
    for (kind, p), v in res.items():
        a = np.array(v)
        print(f"| {kind} {'D' if kind.startswith('mode') else 'q'} = {p} | {a[:, 0].mean():.3f} | "
              f"{10 * np.log10(255 ** 2 / a[:, 1].mean()):.2f} | {a[:, 2].mean():.2f} | {a[:, 3].max():.0f} |")


if __name__ == "__main__":
    main()
