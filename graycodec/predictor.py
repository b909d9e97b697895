"""Inference: from the full-resolution L* plane (and optional hints) to full-resolution a/b.

::

    L* (H×W) ──area resize──▶ L* at working size ─┐
    hint thumbnail ──guided by L*──▶ hint plane ───┴─▶ ColorUNet ─┬─ no hints: bin logits
                                                                   │   ──readout(vividness)──┐
                                                                   └─ hints: a/b residual ───┤
                                       (with hints: pulled to the thumbnail's block means)   │
                                                  a/b at working size ◀──────────────────────┘
                                                        ──bilinear──▶ a/b (H×W)

A model file that holds a hint refiner (``refiner.*`` tensors, ``graycodec train-refiner``)
takes another road with hints: the refiner runs on the thumbnail and L* at (up to) full
resolution, and the U-Net is not run at all (``refiner.py``). Without hints nothing changes.

The network runs at a *working size* whose short side is the model card's
``working_short_side`` (the cache short side it was trained at; ``WORKING_SHORT_SIDE`` = 256
for cards that predate the key; smaller images run at their own size) and whose long side is
at most four times that — so any image, 1×1 to tens of megapixels, costs one bounded
forward pass: images are downscaled, never tiled. The a/b result is upsampled bilinearly to
full size (in row strips, to bound memory) and joined to the full-resolution L*: chroma
needs far less resolution than lightness, which is what lets graycodec drop it.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .colorbins import FIDELITY_END, MAX_CHROMA_EXPONENT, MAX_GAIN, VIVID_END, full_end, readout
from .errors import DeviceError, ModelError
from .hints import HintThumbnail, upsample_bilinear
from .model import load_model
from .zoo import find_default_model, find_default_model_id  # noqa: F401  (re-exported)
from .refiner import refine, refine_size
from .upsampling import guided_hint_plane, match_hint_means

WORKING_SHORT_SIDE = 256
WORKING_LONG_SIDE = 1024
STRIP_ROWS = 1024  # full-resolution rows processed at once

def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise DeviceError("--device cuda: no CUDA device is available; use --device cpu (or auto)")
    if device not in ("cpu", "cuda"):
        raise ModelError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


# --- geometry ----------------------------------------------------------------------------
def working_size(height: int, width: int, short_side: int = WORKING_SHORT_SIDE) -> tuple[int, int]:
    """Size at which the network runs for an image of ``height`` × ``width`` (never larger):
    short side ``short_side`` (the model's training scale), long side at most 4× that."""
    long_side = short_side * WORKING_LONG_SIDE // WORKING_SHORT_SIDE
    scale = min(1.0, short_side / min(height, width), long_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """Area-style (antialiased) resize of a 2-D float plane to a (1, 1, h, w) tensor."""
    t = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    if t.shape[-2:] == size:
        return t
    return F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)


def thumbnail_tensor(hints: HintThumbnail) -> torch.Tensor:
    return torch.from_numpy(hints.ab.astype(np.float32)).permute(2, 0, 1)[None]


def hint_inputs(l_work: torch.Tensor, hints: HintThumbnail | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hint plane (1, 2, h, w) and mask (1, 1, h, w) at working size (zeros without hints)."""
    h, w = l_work.shape[-2:]
    if hints is None:
        return torch.zeros(1, 2, h, w), torch.zeros(1, 1, h, w)
    return guided_hint_plane(l_work, thumbnail_tensor(hints)), torch.ones(1, 1, h, w)


def upsample_ab(ab_work: torch.Tensor, height: int, width: int) -> np.ndarray:
    """a/b at working size (1, 2, h, w) to full size (H, W, 2) float32, bilinear, in row strips.

    (A guided filter steered by full-resolution L* was measured here too: at the 2× scale of
    Kodak it raised ΔE94 of oracle a/b from 0.72 to 1.03, so plain bilinear it is.)
    """
    ab = ab_work[0].permute(1, 2, 0).numpy()
    if ab.shape[:2] == (height, width):
        return ab.astype(np.float32)
    out = np.empty((height, width, 2), dtype=np.float32)
    for r0 in range(0, height, STRIP_ROWS):
        rows = slice(r0, min(height, r0 + STRIP_ROWS))
        out[rows] = upsample_bilinear(ab, height, width, rows=rows)
    return out


def readout_ends(card: dict) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (debias, temperature, gain, chroma exponent) ends of the vividness scale: the card's
    ``readout`` (chosen on the validation split for that model; ends written with fewer
    numbers have a gain of 1 and an exponent of 0), else the defaults of ``colorbins``."""
    ends = card.get("readout") or {}
    try:
        fid, viv = ends.get("fidelity", FIDELITY_END), ends.get("vivid", VIVID_END)
        if not (2 <= len(fid) <= 4 and 2 <= len(viv) <= 4):
            raise ValueError
        fid, viv = (tuple(float(x) for x in full_end(end)) for end in (fid, viv))
    except (TypeError, ValueError, IndexError, AttributeError):
        raise ModelError("model card: 'readout' must hold fidelity and vivid as "
                         "[debias, temperature(, gain(, chroma exponent))]") from None
    if not all(0.0 <= d <= 1.0 and 0.05 <= t <= 1.0 and 0.0 < g <= MAX_GAIN and 0.0 <= e <= MAX_CHROMA_EXPONENT
               for d, t, g, e in (fid, viv)):
        raise ModelError(f"model card: readout debias must be in 0..1, temperature in 0.05..1, gain in "
                         f"(0, {MAX_GAIN:g}] and chroma exponent in 0..{MAX_CHROMA_EXPONENT:g}")
    return fid, viv


def working_short_side(card: dict) -> int:
    """The working short side a model card asks for (``working_short_side``; default 256)."""
    value = card.get("working_short_side", WORKING_SHORT_SIDE)
    if not isinstance(value, int) or isinstance(value, bool) or not 16 <= value <= 4096:
        raise ModelError("model card: 'working_short_side' must be a whole number of pixels in 16..4096")
    return value


# --- the predictor -----------------------------------------------------------------------
class Predictor:
    """A loaded ColorUNet on a device; ``predict_ab`` is the whole decode-side colour path."""

    def __init__(self, model: torch.nn.Module, card: dict, device: torch.device):
        self.model = model.to(device).eval()
        self.card = card
        self.device = device
        self.model_id: str = card.get("model_id", "")
        self.readout_ends = readout_ends(card)
        # The scale the network was trained at (cache short side); cards before it was recorded: 256.
        self.working_short_side = working_short_side(card)

    @classmethod
    def load(cls, model: str | Path | None = None, device: str = "auto") -> "Predictor":
        target = resolve_device(device)  # before any loading: a wrong --device fails at once
        path = Path(model) if model else find_default_model()
        if path is None:
            raise ModelError(
                "no trained model found: models/ holds no weight file (train one with "
                "`graycodec train`, or pass --model PATH / set GRAYCODEC_MODEL)"
            )
        net, card = load_model(path)
        return cls(net, card, target)

    @torch.inference_mode()
    def predict_working(self, l_work: torch.Tensor, hint: torch.Tensor, mask: torch.Tensor,
                        vividness: float = 0.0) -> torch.Tensor:
        """a/b at working size; falls back to the CPU if the GPU runs out of memory.

        With a hint (mask set) the residual head's a/b; without, the bins read out at ``vividness``.
        """
        try:
            return self._forward(l_work, hint, mask, vividness, self.device)
        except torch.cuda.OutOfMemoryError:
            warnings.warn("GPU out of memory: running this image on the CPU instead")
            torch.cuda.empty_cache()
            self.model.to("cpu")
            try:
                return self._forward(l_work, hint, mask, vividness, torch.device("cpu"))
            finally:
                self.model.to(self.device)

    def _forward(self, l_work, hint, mask, vividness, device):
        args = [t.to(device) for t in (l_work, hint, mask)]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out = self.model(*args)
        hinted = mask.flatten(1).amax(1) > 0
        ab = out.ab.float()
        if not hinted.all():
            from_bins = readout(out.logits, vividness, self.model.class_weights, *self.readout_ends)
            from_bins = F.interpolate(from_bins, size=ab.shape[-2:], mode="bilinear", align_corners=False)
            ab = torch.where(hinted.to(device)[:, None, None, None], ab, from_bins)
        return ab.cpu()

    def predict_ab(self, lstar: np.ndarray, hints: HintThumbnail | None = None, vividness: float = 0.0) -> np.ndarray:
        """Full-resolution a/b (H, W, 2) float32 for a full-resolution L* plane (H, W).

        ``vividness`` (0 = fidelity … 1 = most vivid, see ``colorbins.vividness_params``)
        matters only without hints: with them the colour is the stored one, refined.
        """
        if hints is not None and self.model.refiner is not None:
            return self._refine_hinted(lstar, hints)
        size = working_size(*lstar.shape, self.working_short_side)
        l_work = resize_plane(lstar, size)
        hint, mask = hint_inputs(l_work, hints)
        ab_work = self.predict_working(l_work, hint, mask, vividness)
        if hints is not None:
            ab_work = match_hint_means(l_work, ab_work, thumbnail_tensor(hints))
        return upsample_ab(ab_work, *lstar.shape)

    def _refine_hinted(self, lstar: np.ndarray, hints: HintThumbnail) -> np.ndarray:
        """With hints and a model that has a refiner: the refiner at (up to) full resolution,
        pulled to the thumbnail's block means; the U-Net is not needed."""
        l_ref = resize_plane(lstar, refine_size(*lstar.shape))
        thumb = thumbnail_tensor(hints)
        try:
            ab = refine(self.model.refiner, l_ref.to(self.device), thumb.to(self.device)).cpu()
        except torch.cuda.OutOfMemoryError:
            warnings.warn("GPU out of memory: running this image on the CPU instead")
            torch.cuda.empty_cache()
            ab = refine(self.model.refiner.to("cpu"), l_ref, thumb)
            self.model.refiner.to(self.device)
        return upsample_ab(match_hint_means(l_ref, ab, thumb), *lstar.shape)

    # --- several images at once (the GPU pipeline, graycodec/pipeline.py) --------------------
    @torch.inference_mode()
    def predict_ab_batch(self, lstars: list[np.ndarray], hints: list[HintThumbnail | None],
                         vividness: float = 0.0) -> list[torch.Tensor]:
        """Full-resolution a/b, each (2, H, W) float32 *on the device*, for several L* planes.

        Images of one working size go through the network together (no padding to a common
        size: the network's own edge padding would then differ from a single image's, and so
        would the colours near the edges); the hint steps and the bilinear upsampling run on the
        device too. The same values as ``predict_ab`` up to float rounding (batched convolutions
        may sum in another order).
        """
        sizes = [working_size(*l.shape, self.working_short_side) for l in lstars]
        out: list[torch.Tensor | None] = [None] * len(lstars)
        if self.model.refiner is not None:  # hinted images take the refiner, one at a time
            for i, thumb in enumerate(hints):
                if thumb is not None:
                    ab = self._refine_hinted(lstars[i], thumb)
                    out[i] = torch.from_numpy(ab).permute(2, 0, 1).to(self.device)
        for size in dict.fromkeys(sizes):
            idx = [i for i, s in enumerate(sizes) if s == size and out[i] is None]
            if not idx:
                continue
            l_work = torch.cat([resize_plane(lstars[i], size) for i in idx])
            planes = [hint_inputs(l_work[j:j + 1], hints[i]) for j, i in enumerate(idx)]
            hint, mask = torch.cat([p[0] for p in planes]), torch.cat([p[1] for p in planes])
            ab_work = self.predict_working(l_work, hint, mask, vividness)  # batched forward
            for j, i in enumerate(idx):
                ab = ab_work[j:j + 1]
                if hints[i] is not None:
                    ab = match_hint_means(l_work[j:j + 1], ab, thumbnail_tensor(hints[i]))
                ab = ab.to(self.device)
                if ab.shape[-2:] != lstars[i].shape:
                    ab = F.interpolate(ab, size=lstars[i].shape, mode="bilinear", align_corners=False)
                out[i] = ab[0]
        return out
