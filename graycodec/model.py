"""The colour predictor: a U-Net on a ResNet18 encoder, and its weight files.

Inputs are CIELAB units: L* (N, 1, H, W) in [0, 100], a hint plane (N, 2, H, W) holding the
upsampled a/b thumbnail (zeros without hints) and a mask (N, 1, H, W) that is 1 where the
hint is valid. Normalisation happens inside ``forward`` (constants in ``color.py``).

Two heads share the U-Net, one per task (``Outputs``):

* ``logits`` — colour from lightness alone, as a distribution over the a/b bins of
  ``colorbins`` at half resolution (read out at a chosen vividness by ``colorbins.readout``);
* ``ab`` — colour with hints: a *residual* over the hint plane whose last convolution starts
  at zero, so an untrained model returns the hint itself (the L-guided upsampling of the
  thumbnail) and training starts from that baseline and is judged against it.

::

    input (4) ─ conv1/2 (64) ─ layer1/4 (64) ─ layer2/8 (128) ─ layer3/16 (256) ─ layer4/32 (512)
        │            │              │                 │                 │                │
        └──────── up0 ◀──────── up1 ◀──────────── up2 ◀────────────── up3 ◀────────── up4 ◀┘
                   │              └─ bins_head (Q logits, /2)
             head (2, zero-init) + hint  →  a/b

The buffer ``class_weights`` (Q,) holds the rebalancing weights the bins were trained with;
the read-out divides them out again for fidelity.

Weight files are fp16 safetensors named ``<name>-<first 8 hex of sha256>.safetensors`` with
a JSON model card beside them (``.json``); the model id is the first 16 hex digits of the
file's sha256, checked against the name at load.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .color import AB_SCALE, L_SCALE
from .colorbins import NUM_BINS
from .errors import ModelError
from .zoo import file_sha256, model_id_of  # noqa: F401  (re-exported)

IN_CHANNELS = 4  # L, hint a, hint b, hint mask
DOWNSAMPLING = 32  # inputs are padded to a multiple of this
LOGITS_STRIDE = 2  # the bin logits come at half the input's resolution
WEIGHTS_FORMAT = "graycodec-colorunet-v2"  # v1: regression only, before the bins head


class Outputs(NamedTuple):
    ab: torch.Tensor  # (N, 2, H, W): hint + residual, CIELAB units
    logits: torch.Tensor  # (N, Q, ceil(H/2), ceil(W/2)): a/b bin logits


NORMS = ("group", "batch")
GROUPS = 16  # GroupNorm groups per layer (channels 32..512: 2..32 channels a group)


def norm_layer(kind: str):
    """The normalisation of every block: ``group`` (the default) or ``batch`` (the first models).

    Why not BatchNorm: hints are given to some samples of a batch and not to others, and the
    hint plane and mask enter the network directly, so the two kinds of sample produce features
    of very different means. BatchNorm normalises both with the statistics of their mixture:
    measured on a model trained so, the last decoder block's pre-activations of hinted samples
    sat below the mixture mean in almost every channel, the ReLU zeroed them, and the residual
    head saw nothing (its output was its bias: the network added nothing to the hints).
    GroupNorm normalises each sample by itself, identically in training and inference.
    """
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "group":
        return lambda channels: nn.GroupNorm(GROUPS, channels)
    raise ValueError(f"unknown normalisation {kind!r}; use one of {', '.join(NORMS)}")


def _conv_block(cin: int, cout: int, norm) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        norm(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        norm(cout),
        nn.ReLU(inplace=True),
    )


class _Up(nn.Module):
    """Bilinear upsampling to the skip's size, concatenation, two 3×3 convolutions."""

    def __init__(self, cin: int, cskip: int, cout: int, norm):
        super().__init__()
        self.block = _conv_block(cin + cskip, cout, norm)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.block(torch.cat([x, skip], dim=1))


class ColorUNet(nn.Module):
    """ResNet18 U-Net predicting a/b from L* and a hint plane (see module docstring)."""

    def __init__(self, norm: str = "group", refiner: bool = False):
        super().__init__()
        from torchvision.models import resnet18
        from .refiner import HintRefiner

        self.norm = norm
        make_norm = norm_layer(norm)
        r = resnet18(weights=None, norm_layer=make_norm)
        r.conv1 = nn.Conv2d(IN_CHANNELS, 64, 7, stride=2, padding=3, bias=False)
        self.stem = nn.Sequential(r.conv1, r.bn1, r.relu)  # /2, 64
        self.layer1 = nn.Sequential(r.maxpool, r.layer1)  # /4, 64
        self.layer2, self.layer3, self.layer4 = r.layer2, r.layer3, r.layer4  # /8, /16, /32
        self.up4 = _Up(512, 256, 256, make_norm)
        self.up3 = _Up(256, 128, 128, make_norm)
        self.up2 = _Up(128, 64, 64, make_norm)
        self.up1 = _Up(64, 64, 64, make_norm)
        self.up0 = _Up(64, IN_CHANNELS, 32, make_norm)
        self.head = nn.Conv2d(32, 2, 3, padding=1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.bins_head = nn.Conv2d(64, NUM_BINS, 1)
        self.register_buffer("class_weights", torch.ones(NUM_BINS))
        # Optional: the full-resolution hint refiner (refiner.py), trained after the U-Net.
        self.refiner = HintRefiner() if refiner else None

    def forward(self, lstar, hint_ab, mask):
        h, w = lstar.shape[-2:]
        x = torch.cat([(lstar - 50.0) / L_SCALE, hint_ab / AB_SCALE, mask], dim=1)
        pad_h, pad_w = -h % DOWNSAMPLING, -w % DOWNSAMPLING
        if pad_h or pad_w:
            # Reflection needs the pad smaller than the side; replicate works for 1-pixel images.
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        s1 = self.stem(x)
        s2 = self.layer1(s1)
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        y = self.layer4(s4)
        half = self.up1(self.up2(self.up3(self.up4(y, s4), s3), s2), s1)
        logits = self.bins_head(half)[..., : -(-h // LOGITS_STRIDE), : -(-w // LOGITS_STRIDE)]
        residual = self.head(self.up0(half, x))[..., :h, :w] * AB_SCALE
        return Outputs(hint_ab + residual, logits)


# --- weight files ------------------------------------------------------------------------
def save_model(model: nn.Module, directory: Path, name: str, card: dict) -> Path:
    """Write fp16 safetensors named ``<name>-<sha8>.safetensors`` plus ``.json`` card; return the path."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    tmp = directory / f".{name}.tmp.safetensors"
    # One metadata key only: safetensors writes several in no fixed order, and the file's hash
    # must not change between two saves of the same weights (resume is tested to the hash).
    save_file(state, str(tmp), metadata={"format": WEIGHTS_FORMAT})
    digest = file_sha256(tmp)
    final = directory / f"{name}-{digest[:8]}.safetensors"
    tmp.replace(final)
    card = {**card, "model_id": digest[:16], "sha256": digest, "file": final.name,
            "architecture": "ColorUNet (ResNet18 U-Net), inputs L + hint a/b + mask; outputs a/b bin "
                    f"logits ({NUM_BINS} bins, half resolution) and a residual a/b over the hint"
                    + ("; with hints, a full-resolution HintRefiner" if getattr(model, "refiner", None) is not None else "")}
    final.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return final


def load_model(path: Path) -> tuple[ColorUNet, dict]:
    """Load a weight file (safetensors only: no unpickling) and its card; ModelError if invalid."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    digest = file_sha256(path)
    stem_hash = path.stem.rsplit("-", 1)[-1]
    if len(stem_hash) == 8 and all(c in "0123456789abcdef" for c in stem_hash) and stem_hash != digest[:8]:
        raise ModelError(f"{path.name}: content hash {digest[:8]} does not match its name (damaged file?)")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path.name}: not a valid safetensors weight file ({exc})") from None
    if "bins_head.weight" not in state and "head.weight" in state:
        raise ModelError(f"{path.name}: a model of graycodec's first predictor (a/b regression only); "
                         "this version needs a model with the colour-bins head (train one, or use the shipped model)")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ModelError(f"{path.name}: weights hold NaN or infinite values ({bad[0]}{' …' if len(bad) > 1 else ''})")
    # BatchNorm keeps running statistics and GroupNorm does not: the tensors say which it is.
    norm = "batch" if any(k.endswith("running_mean") for k in state) else "group"
    model = ColorUNet(norm, refiner=any(k.startswith("refiner.") for k in state))
    if model.refiner is not None:  # its shape (with or without a context branch) is in the tensors
        from .refiner import refiner_from_state

        model.refiner = refiner_from_state(state, "refiner.")
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise ModelError(f"{path.name}: weights do not fit the ColorUNet architecture ({str(exc)[:200]})") from None
    card = read_card(path.with_suffix(".json"))
    card["model_id"] = digest[:16]
    return model.eval(), card


def read_card(card_path: Path) -> dict:
    """The JSON model card beside a weight file ({} when there is none); ModelError if damaged."""
    if not card_path.is_file():
        return {}
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{card_path.name}: damaged model card ({str(exc)[:120]})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{card_path.name}: damaged model card (not a JSON object)")
    return card
