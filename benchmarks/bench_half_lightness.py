"""Lightness alone at low rates: full-size near-lossless (mode 3, D) against the half-size plane
(mode 4, lplane.half, D on the half-size plane) and Pillow JPEG of the gray plane.

    python benchmarks/bench_half_lightness.py

First 4 (by name) of bsds500/ and of imagenet-sample/ in ../shared/data/photos (training
photos). Per setting, means over images: bpp of the lightness payload, mean |ΔL*| and RMS error
(plane units) of the decoded plane against the original's. ("half" here is an earlier variant:
torch's antialiased bilinear reduction and bicubic enlargement, rounded; mode 4 fixes the
enlargement in integers, same result, and reduces with a [1 3 3 1]/8 tent.)
"""
import numpy as np, glob, sys, io
from PIL import Image
from graycodec import lplane, color, imageio
import torch, torch.nn.functional as F
files = sorted(glob.glob('../shared/data/photos/bsds500/*.jpg'))[:4] + sorted(glob.glob('../shared/data/photos/imagenet-sample/*'))[:4]
def up(p, h, w):
    t = torch.from_numpy(p.astype(np.float32))[None, None]
    return F.interpolate(t, size=(h, w), mode='bicubic', align_corners=False)[0, 0].numpy()
def down(p):
    t = torch.from_numpy(p.astype(np.float32))[None, None]
    h, w = p.shape
    return F.interpolate(t, size=((h+1)//2, (w+1)//2), mode='bilinear', antialias=True, align_corners=False)[0, 0].numpy()
res = {}
for f in files:
    rgb = np.asarray(Image.open(f).convert('RGB')); plane = color.rgb_to_plane(rgb); h, w = plane.shape
    for D in (0, 2, 4, 6, 8, 11, 15, 20, 25):
        m, pay = lplane.encode_plane(plane, max_error=D); dec = lplane.decode_plane(m, pay, w, h, D)
        e = dec.astype(float) - plane
        res.setdefault(('full', D), []).append((len(pay)*8/(h*w), np.abs(e).mean()/2.55, np.sqrt((e**2).mean())))
    small = np.clip(np.round(down(plane)), 0, 255).astype(np.uint8)
    for D in (0, 1, 2, 3, 4, 6):
        m, pay = lplane.encode_plane(small, max_error=D); dec = lplane.decode_plane(m, pay, small.shape[1], small.shape[0], D)
        e = np.clip(np.round(up(dec, h, w)), 0, 255) - plane
        res.setdefault(('half', D), []).append((len(pay)*8/(h*w), np.abs(e).mean()/2.55, np.sqrt((e**2).mean())))
    # JPEG gray for reference
    for q in (50, 75, 90):
        b = io.BytesIO(); Image.fromarray(plane).save(b, 'JPEG', quality=q); dec = np.asarray(Image.open(b))
        e = dec.astype(float) - plane
        res.setdefault(('jpeg', q), []).append((len(b.getvalue())*8/(h*w), np.abs(e).mean()/2.55, np.sqrt((e**2).mean())))
for k, v in res.items():
    v = np.array(v).mean(0); print(k, f"bpp {v[0]:.3f}  mean|dL*| {v[1]:.2f}  rms(plane) {v[2]:.2f}")
