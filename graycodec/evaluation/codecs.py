"""The codecs an evaluation compares, behind one contract (after CompressAI's ``Codec``).

Every codec turns an 8-bit RGB image into bytes and back: ``run(rgb, setting)`` returns a
:class:`Coded` (the file and the decoded RGB), whatever the codec. A *setting* is what the
codec is swept over: a hint level for graycodec, a quality for the Pillow baselines.

* :class:`GraycodecCodec` — ``graycodec.codec.encode`` at a hint level, colour decode with a
  predictor; :class:`GrayBaseline` — the same ``.gcz`` (hints none) decoded gray (exact L,
  a = b = 0), the floor a colorizer must beat. Both share one :class:`GczEncoder`, so a file
  is encoded once per image and level.
* :class:`PillowCodec` — JPEG 4:2:0, WebP, AVIF in memory through Pillow, swept over quality.

``build_codecs`` assembles them from options and says, one note per line, what it had to
leave out (no trained model, a Pillow without AVIF) instead of failing. Tests pass their own
``api`` (an object with the public ``encode``/``decode`` functions) and ``predictor``.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, features

from graycodec.errors import ModelError
from graycodec.hints import LEVELS

HINT_LEVELS = tuple(LEVELS)  # none, low, medium, high
DEFAULT_HINTS = ("none", "medium")
DEFAULT_GCZ_QUALITIES = (10, 30, 50, 70, 85, 95)  # `encode --quality` sweep: graycodec's curve
DEFAULT_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 75, 90, 95)
QUALITY_RANGE = (1, 100)  # what every Pillow lossy format accepts

# name -> (Pillow format, PIL.features name, save options)
BASELINES: dict[str, tuple[str, str, dict]] = {
    "jpeg": ("JPEG", "jpg", {"subsampling": 2}),  # 4:2:0
    "webp": ("WEBP", "webp", {"method": 6}),  # slowest, smallest: as ANCHORS.md measured it
    "avif": ("AVIF", "avif", {}),
}


class CodecUnavailable(Exception):
    """A codec cannot run here; the message is the one-line note for the report."""


@dataclass
class Coded:
    data: bytes
    rgb: np.ndarray  # decoded, uint8 (H, W, 3)


class _LastImageMemo:
    """Results keyed by setting for the image last seen (by identity): one image at a time."""

    def __init__(self):
        self._image = None
        self._values: dict = {}

    def get(self, image: np.ndarray, key, compute: Callable[[], Any]):
        if image is not self._image:
            self._image, self._values = image, {}
        if key not in self._values:
            self._values[key] = compute()
        return self._values[key]


class Codec:
    """Base class: ``encode``/``decode`` one image at one setting; ``run`` does both."""

    name = ""
    role = ""  # "gcz" (graycodec colour), "gray" (the floor) or "baseline" (swept by quality)
    settings: Sequence = ()

    def encode(self, rgb: np.ndarray, setting) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def run(self, rgb: np.ndarray, setting) -> Coded:
        data = self.encode(rgb, setting)
        return Coded(data, self.decode(data))

    def setting_name(self, setting) -> str:
        return str(setting)

    def label(self, setting) -> str:
        return f"{self.name}/{self.setting_name(setting)}"


def _rgb_of(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


# --- graycodec ---------------------------------------------------------------------------
def quality_setting(q: int) -> str:
    """The graycodec setting name of ``encode --quality q``."""
    return f"q{int(q)}"


class GczEncoder:
    """``api.encode`` of one image at a hint level (or ``qNN``: a --quality), memoised per image."""

    def __init__(self, api, max_error: int = 0):
        self.api = api
        self.max_error = max_error
        self._memo = _LastImageMemo()

    def __call__(self, rgb: np.ndarray, level: str) -> bytes:
        if level.startswith("q"):
            kwargs = {"quality": int(level[1:])}
        else:
            kwargs = {"hints": level, "max_error": self.max_error}
        return self._memo.get(rgb, level, lambda: self.api.encode(Image.fromarray(rgb), **kwargs))


class GraycodecCodec(Codec):
    name = "graycodec"
    role = "gcz"

    def __init__(self, encoder: GczEncoder, levels: Sequence[str], predictor):
        self.encoder = encoder
        self.settings = tuple(levels)
        self.predictor = predictor

    def encode(self, rgb, setting):
        return self.encoder(rgb, setting)

    def decode(self, data):
        # The file was encoded here for the default model; a --model predictor differs on purpose.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "encoded for model")
            return _rgb_of(self.encoder.api.decode(data, predictor=self.predictor))


class GrayBaseline(Codec):
    """The ``.gcz`` without hints, decoded as its lightness plane: exact L, a = b = 0."""

    name = "gray"
    role = "gray"
    settings = ("none",)

    def __init__(self, encoder: GczEncoder):
        self.encoder = encoder

    def encode(self, rgb, setting="none"):
        return self.encoder(rgb, setting)

    def decode(self, data):
        return _rgb_of(self.encoder.api.decode(data, gray=True))

    def label(self, setting="none") -> str:
        return self.name


# --- Pillow baselines --------------------------------------------------------------------
def pillow_supports(feature: str) -> bool:
    """Whether this Pillow can write ``feature`` ("jpg", "webp", "avif")."""
    try:
        return bool(features.check(feature))
    except ValueError:  # a Pillow too old to know the feature's name
        return False


class PillowCodec(Codec):
    """A lossy Pillow format in memory, swept over ``qualities``."""

    role = "baseline"

    def __init__(self, name: str, qualities: Sequence[int] = DEFAULT_QUALITIES):
        if name not in BASELINES:
            raise CodecUnavailable(f"{name}: unknown baseline (known: {', '.join(BASELINES)})")
        self.name = name
        self.format, feature, self.options = BASELINES[name]
        if not pillow_supports(feature):
            raise CodecUnavailable(f"{name} skipped: this Pillow cannot write {self.format}")
        if not qualities:
            raise ValueError(f"{name}: no qualities to sweep")
        self.settings = tuple(sorted(qualities))
        self._memo = _LastImageMemo()

    def setting_name(self, q) -> str:
        return f"q{q}"

    def encode(self, rgb, q):
        def compute():
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, self.format, quality=int(q), **self.options)
            return buf.getvalue()

        return self._memo.get(rgb, int(q), compute)

    def decode(self, data):
        with Image.open(io.BytesIO(data)) as im:
            return _rgb_of(im)

    def quality_for_size(self, rgb: np.ndarray, target: int) -> int:
        """The integer quality whose file is nearest ``target`` bytes, within the swept range.

        Bisection inside the bracket the (already encoded) sweep gives; sizes grow with q. A
        target beyond the sweep gets its nearest end: probing q 96..100 of AVIF costs seconds
        per image for near-lossless files no one compares with.
        """
        size = lambda q: len(self.encode(rgb, q))  # noqa: E731
        qs = self.settings
        lo = max((q for q in qs if size(q) < target), default=qs[0])
        hi = min((q for q in qs if size(q) >= target), default=qs[-1])
        if size(lo) >= target:
            return lo
        if size(hi) <= target:
            return hi
        while hi - lo > 1:  # invariant: size(lo) < target < size(hi)
            mid = (lo + hi) // 2
            if size(mid) < target:
                lo = mid
            else:
                hi = mid
        return lo if target - size(lo) <= size(hi) - target else hi


# --- assembly ----------------------------------------------------------------------------
def build_codecs(
    hints: Sequence[str] = DEFAULT_HINTS,
    baselines: Sequence[str] = tuple(BASELINES),
    qualities: Sequence[int] = DEFAULT_QUALITIES,
    *,
    model=None,
    device: str = "auto",
    max_error: int = 0,
    api=None,
    predictor=None,
    gcz_qualities: Sequence[int] = (),
) -> tuple[list[Codec], list[str]]:
    """The codecs to evaluate, and a note for each one left out.

    ``api`` defaults to ``graycodec.codec``; ``predictor`` to ``api.load_predictor(model, device)``
    (a ModelError leaves graycodec's colour rows out; the gray baseline needs no model).
    """
    if api is None:
        from graycodec import codec as api
    encoder = GczEncoder(api, max_error)
    codecs: list[Codec] = []
    notes: list[str] = []
    settings = list(hints) + [quality_setting(q) for q in gcz_qualities]
    if predictor is None and settings:
        try:
            predictor = api.load_predictor(model, device)
        except ModelError as e:
            notes.append(f"graycodec colour rows unavailable: {e}")
    if predictor is not None and settings:
        codecs.append(GraycodecCodec(encoder, settings, predictor))
    codecs.append(GrayBaseline(encoder))
    for name in baselines:
        try:
            codecs.append(PillowCodec(name, qualities))
        except CodecUnavailable as e:
            notes.append(str(e))
    return codecs, notes
