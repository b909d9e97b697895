"""``--backbone-weights imagenet``: start the encoder from torchvision's ImageNet ResNet18.

The U-Net's encoder is torchvision's ResNet18 with a 4-channel first convolution (L*, hint a,
hint b, mask). ImageNet filters see RGB; a gray image has R = G = B, so the filter that
gives the same response to the L* channel is the *sum* of the three RGB filters. The hint
channels start at zero: the pretrained encoder first ignores them and learns to use them.
The decoder and head are untouched (the head stays zero: the model starts at the baselines).
"""
from __future__ import annotations

import torch

from ..errors import ModelError

CHOICES = ("none", "imagenet")


def imagenet_state_dict() -> dict:
    """torchvision's ``ResNet18_Weights.IMAGENET1K_V1`` (downloaded once into torch's hub cache)."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    try:
        return torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - no network, proxy, hash mismatch, bad file: one message
        where = f"{torch.hub.get_dir()}/checkpoints/{weights.url.rsplit('/', 1)[-1]}"
        raise ModelError(
            f"--backbone-weights imagenet: cannot get torchvision's ResNet18 ImageNet weights "
            f"({type(exc).__name__}: {str(exc)[:120]}); copy the file to {where} or use "
            f"--backbone-weights none") from None


def encoder_state(resnet: dict) -> dict:
    """Map a torchvision ResNet18 state dict onto ColorUNet's encoder keys, conv1 adapted."""
    rgb = resnet["conv1.weight"]  # (64, 3, 7, 7)
    conv1 = torch.zeros(rgb.shape[0], 4, *rgb.shape[2:], dtype=rgb.dtype)
    conv1[:, 0] = rgb.sum(dim=1)
    out = {"stem.0.weight": conv1}
    out.update({f"stem.1.{k[4:]}": v for k, v in resnet.items() if k.startswith("bn1.")})
    out.update({f"layer1.1.{k[7:]}": v for k, v in resnet.items() if k.startswith("layer1.")})
    out.update({k: v for k, v in resnet.items() if k.startswith(("layer2.", "layer3.", "layer4."))})
    return out


def load_backbone(model: torch.nn.Module, choice: str) -> None:
    """Initialise ``model``'s encoder as ``choice`` says (``none``: keep the random init)."""
    if choice == "none":
        return
    if choice != "imagenet":
        raise ModelError(f"--backbone-weights {choice!r}: use one of {', '.join(CHOICES)}")
    state = encoder_state(imagenet_state_dict())
    # GroupNorm keeps no running statistics: ImageNet's BatchNorm statistics have no place.
    own_keys = set(model.state_dict())
    state = {k: v for k, v in state.items()
             if k in own_keys or not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    missing = set(state) - own_keys
    if missing:  # the architecture changed under us: say so rather than load half
        raise ModelError(f"ImageNet weights do not fit the encoder (unknown keys {sorted(missing)[:3]})")
    with torch.no_grad():
        own = model.state_dict()
        for k, v in state.items():
            own[k].copy_(v)
