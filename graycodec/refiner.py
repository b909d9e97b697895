"""The hint refiner: a small network that sharpens the hinted colour at full resolution.

With hints, the decoder knows the block means of a/b and the full-resolution L*. The U-Net
works at the 256-pixel working scale and its a/b is upsampled bilinearly afterwards, so on a
768×512 Kodak photo it can never place a colour edge more finely than 2 pixels, and its hint
head learned JPEG's blocky chroma from the training photos (docs/BENCHMARKS.md, "Colour
predictor"). The refiner is the issue's "finer full-resolution refinement steered by L":

    L* (full) ─┬──────────────────────────────┐
    thumbnail ─┴─ guided_hint_plane ── g ─────┼─ HintRefiner ── g + residual ── match_hint_means ── a/b
    thumbnail ──── bilinear ────────── up ────┘

It is a plain stack of 3×3 convolutions (24 channels, dilations 1-2-4-8-4-2-1, so each
output pixel sees ±24 pixels: about three thumbnail cells at the 1/16 level), 43k weights,
cheap enough to run at full resolution: about 16 GMAC for a Kodak image. Its last layer
starts at zero, so an untrained refiner returns the L-guided upsampling unchanged. It is
trained on photos shrunk at least 2× (``graycodec prepare --min-downscale 2``), whose
colour is no longer JPEG's 4:2:0 blocks (``graycodec train-refiner``).

Large images are refined at most at ``REFINE_SHORT_SIDE`` (long side ``REFINE_LONG_SIDE``)
and upsampled bilinearly from there, in row strips with a halo wider than the receptive
field, so the result is the same as one pass over the whole plane and memory stays bounded.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .upsampling import guided_hint_plane

CHANNELS = 24
DILATIONS = (1, 2, 4, 8, 4, 2, 1)
HALO = 32  # rows of context on each side of a strip; the receptive radius is 1 + sum(DILATIONS) + 1 = 24
STRIP_ROWS = 256
REFINE_SHORT_SIDE = 1024
REFINE_LONG_SIDE = 4096
L_SCALE, AB_SCALE = 50.0, 50.0


class HintRefiner(nn.Module):
    """a/b = g + residual(L*, g, up): g the L-guided hint plane, up the bilinear thumbnail."""

    def __init__(self, channels: int = CHANNELS, dilations=DILATIONS):
        super().__init__()
        self.inp = nn.Conv2d(5, channels, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations)
        self.out = nn.Conv2d(channels, 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # untrained: exactly the L-guided upsampling
        nn.init.zeros_(self.out.bias)

    def forward(self, lstar: torch.Tensor, guided: torch.Tensor, bilinear: torch.Tensor) -> torch.Tensor:
        x = torch.cat([lstar / L_SCALE - 1.0, guided / AB_SCALE, bilinear / AB_SCALE], dim=1)
        x = F.relu(self.inp(x))
        for conv in self.body:
            x = x + F.relu(conv(x))
        return guided + AB_SCALE * self.out(x)


def refine_size(height: int, width: int) -> tuple[int, int]:
    """Size the refiner runs at for an image of ``height`` × ``width`` (never larger)."""
    scale = min(1.0, REFINE_SHORT_SIDE / min(height, width), REFINE_LONG_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def refiner_inputs(lstar: torch.Tensor, thumb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The refiner's two colour inputs, (L-guided hint plane, bilinear thumbnail); training
    builds them with this function too, so it sees what the decoder gives."""
    guided = guided_hint_plane(lstar, thumb)
    return guided, F.interpolate(thumb, size=lstar.shape[-2:], mode="bilinear", align_corners=False)


@torch.inference_mode()
def refine(refiner: HintRefiner, lstar: torch.Tensor, thumb: torch.Tensor, strip_rows: int = STRIP_ROWS) -> torch.Tensor:
    """Refined a/b (1, 2, h, w) for L* (1, 1, h, w) and a thumbnail (1, 2, th, tw), in row strips.

    The hint planes of a strip are computed from the whole image's thumbnail (what they are
    in one pass); the halo makes the convolutions see the same neighbours as in one pass.
    """
    h = lstar.shape[-2]
    guided, bilinear = refiner_inputs(lstar, thumb)  # two planes at refine size: bounded by refine_size
    out = torch.empty_like(guided)
    for r0 in range(0, h, strip_rows):
        r1 = min(h, r0 + strip_rows)
        a, b = max(0, r0 - HALO), min(h, r1 + HALO)
        part = refiner(lstar[..., a:b, :], guided[..., a:b, :], bilinear[..., a:b, :])
        out[..., r0:r1, :] = part[..., r0 - a : r1 - a, :]
    return out
