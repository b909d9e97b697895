"""Where the shipped model lives, and which one is the default — without importing torch.

The encoder records the default model's id in every .gcz header, so finding it must stay
cheap: this module reads file names and the JSON model card only.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

MODEL_ENV = "GRAYCODEC_MODEL"
_HEX16 = re.compile(r"[0-9a-f]{16}\Z")
MODEL_DIRS = (
    Path(__file__).resolve().parent.parent / "models",  # a source checkout / editable install
    Path(sys.prefix) / "share" / "graycodec" / "models",  # a wheel install (data-files)
)


def find_default_model() -> Path | None:
    """The weight file to use when none is named: $GRAYCODEC_MODEL, else the one in models/.

    A models/ folder holding several weight files names the default in ``models/DEFAULT``.
    """
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    for d in MODEL_DIRS:
        if (d / "DEFAULT").is_file():
            return d / (d / "DEFAULT").read_text().strip()
        files = sorted(d.glob("*.safetensors"))
        if len(files) == 1:
            return files[0]
    return None


def find_default_model_id() -> str:
    """The id the encoder records in a .gcz header ("" when no model is shipped)."""
    path = find_default_model()
    if path is None or not path.is_file():
        return ""
    return card_model_id(path.with_suffix(".json")) or model_id_of(path)


def card_model_id(card: Path) -> str:
    """The model id a card states, or "" when there is no card or it is damaged in any way: the
    encoder then hashes the weights (the same id, read the slow way) rather than fail; loading
    the model for colour reports the damaged card (model.read_card, exit 5)."""
    try:
        value = json.loads(card.read_text(encoding="utf-8")).get("model_id", "")
    except (OSError, ValueError, AttributeError):  # missing, unreadable, not JSON, not an object
        return ""
    return value.lower() if isinstance(value, str) and _HEX16.match(value.lower()) else ""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_id_of(path: Path) -> str:
    """The id a .gcz header records: the first 16 hex digits of the weight file's sha256."""
    return file_sha256(path)[:16]
