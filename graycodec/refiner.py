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
starts at zero, so an untrained refiner returns the L-guided upsampling unchanged.
``train-refiner --width`` builds a wider stack (``widen_state`` grows a trained one without
changing what it computes); a weight file's tensor shapes say its width. It is trained on
photos shrunk at least 2× (``graycodec prepare --min-downscale 2``), whose colour is no
longer JPEG's 4:2:0 blocks (``graycodec train-refiner``).

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
CONTEXT_POOL = 4  # the context branch works at 1/4 of the refine size
CONTEXT_DILATIONS = (1, 2, 4, 8, 16, 8, 4, 2, 1)
HALO = 32  # rows of context on each side of a strip; the receptive radius is 1 + sum(DILATIONS) + 1 = 24
STRIP_ROWS = 256
REFINE_SHORT_SIDE = 1024
REFINE_LONG_SIDE = 4096
L_SCALE, AB_SCALE = 50.0, 50.0
IN_CHANNELS = 5  # L*, the guided plane's a/b, the bilinear thumbnail's a/b


class ContextBranch(nn.Module):
    """Features of a wide neighbourhood, at 1/``CONTEXT_POOL`` of the refiner's size.

    The full-size stack sees ±24 pixels, about three 1/16 hint cells. Colour decisions often
    need more: which of two hint colours a region of this lightness took further away. This
    branch average-pools the refiner's input by 4 and runs dilated 3×3 convolutions there
    (±(1 + 46 + 1)·4 ≈ ±190 pixels) for about a seventh of the full-size stack's cost; its
    output layer starts at zero, so a refiner that gains the branch starts as it was.
    """

    def __init__(self, in_channels: int, channels: int, out_channels: int, dilations=CONTEXT_DILATIONS):
        super().__init__()
        self.inp = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations)
        self.out = nn.Conv2d(channels, out_channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, out, ceil(h/4), ceil(w/4)) of the refiner input x (N, 5, h, w)."""
        pad_h, pad_w = -x.shape[-2] % CONTEXT_POOL, -x.shape[-1] % CONTEXT_POOL
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        y = F.relu(self.inp(F.avg_pool2d(x, CONTEXT_POOL)))
        for conv in self.body:
            y = y + F.relu(conv(y))
        return self.out(y)


def upsample_context(features: torch.Tensor, rows: tuple[int, int], width: int) -> torch.Tensor:
    """Rows ``rows`` (a, b) of the context features upsampled 4× to full size, cut to ``width``.

    Only the pooled rows that those output rows interpolate from are upsampled (one more on each
    side than bilinear needs), so a strip gets exactly what upsampling the whole plane gives.
    """
    a, b = rows
    lo, hi = max(0, a // CONTEXT_POOL - 1), min(features.shape[-2], -(-b // CONTEXT_POOL) + 1)
    up = F.interpolate(features[..., lo:hi, :], scale_factor=CONTEXT_POOL, mode="bilinear", align_corners=False)
    return up[..., a - lo * CONTEXT_POOL : b - lo * CONTEXT_POOL, :width]


class HintRefiner(nn.Module):
    """a/b = g + residual(L*, g, up): g the L-guided hint plane, up the bilinear thumbnail.

    ``context_channels`` > 0 adds a ContextBranch whose features join the first layer's.
    """

    def __init__(self, channels: int = CHANNELS, dilations=DILATIONS, context_channels: int = 0):
        super().__init__()
        self.inp = nn.Conv2d(IN_CHANNELS, channels, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=d, dilation=d) for d in dilations)
        self.out = nn.Conv2d(channels, 2, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # untrained: exactly the L-guided upsampling
        nn.init.zeros_(self.out.bias)
        self.context = ContextBranch(IN_CHANNELS, context_channels, channels) if context_channels else None

    @staticmethod
    def inputs(lstar: torch.Tensor, guided: torch.Tensor, bilinear: torch.Tensor) -> torch.Tensor:
        return torch.cat([lstar / L_SCALE - 1.0, guided / AB_SCALE, bilinear / AB_SCALE], dim=1)

    def forward(self, lstar: torch.Tensor, guided: torch.Tensor, bilinear: torch.Tensor,
                context: torch.Tensor | None = None) -> torch.Tensor:
        """``context``: this strip's upsampled context features (``refine`` computes them once
        for the whole plane); None computes them from this input."""
        x = self.inputs(lstar, guided, bilinear)
        features = self.inp(x)
        if self.context is not None:
            if context is None:
                context = upsample_context(self.context(x), (0, x.shape[-2]), x.shape[-1])
            features = features + context
        x = F.relu(features)
        for conv in self.body:
            x = x + F.relu(conv(x))
        return guided + AB_SCALE * self.out(x)


def refiner_from_state(state: dict, prefix: str = "") -> HintRefiner:
    """An empty HintRefiner of the shape that ``state`` (its tensors, keys after ``prefix``) holds."""
    key = prefix + "context.inp.weight"
    return HintRefiner(channels=state[prefix + "inp.weight"].shape[0],
                       context_channels=state[key].shape[0] if key in state else 0)


@torch.no_grad()
def widen_state(state: dict, refiner: HintRefiner) -> dict:
    """``state`` of a narrower refiner, embedded in ``refiner``'s wider shape so that the wider one
    computes exactly what the narrow one did (Net2Net-style function-preserving widening).

    The old channels keep their weights and ignore the new ones (zero weights from new to old,
    and zero output weights from new channels), so only training makes the new channels count;
    the new channels' own inputs keep ``refiner``'s random start, so their gradients are not zero.
    """
    wide = refiner.state_dict()
    out = {}
    for key, target in wide.items():
        if key not in state:
            out[key] = target  # e.g. a context branch the narrow state lacks: its own (zero) start
            continue
        old = state[key]
        if old.shape == target.shape:
            out[key] = old.clone()
            continue
        new = target.clone()
        # Rows beyond the old output channels keep their start (the output layer's and the
        # context branch's are zero); columns of new inputs must not feed the old outputs.
        if new.ndim > 1 and new.shape[1] > old.shape[1]:
            new[: old.shape[0], old.shape[1]:] = 0
        new[tuple(slice(0, n) for n in old.shape)] = old
        out[key] = new
    return out


def load_refiner(state: dict) -> HintRefiner:
    """A HintRefiner holding ``state`` (refiner tensors without prefix), in eval mode."""
    refiner = refiner_from_state(state)
    refiner.load_state_dict(state)
    return refiner.eval()


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
    features = None
    if refiner.context is not None:  # 1/16 of the pixels: computed once for the whole plane
        features = refiner.context(refiner.inputs(lstar, guided, bilinear))
    out = torch.empty_like(guided)
    for r0 in range(0, h, strip_rows):
        r1 = min(h, r0 + strip_rows)
        a, b = max(0, r0 - HALO), min(h, r1 + HALO)
        context = None if features is None else upsample_context(features, (a, b), lstar.shape[-1])
        part = refiner(lstar[..., a:b, :], guided[..., a:b, :], bilinear[..., a:b, :], context)
        out[..., r0:r1, :] = part[..., r0 - a : r1 - a, :]
    return out
