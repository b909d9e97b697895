"""The public API: ``encode``, ``decode`` and ``colorize`` (re-exported by ``graycodec``).

::

    encode:   image ─imageio─▶ plane (+ alpha, ICC/EXIF) [+ hints of the source a/b] ─container─▶ bytes
    decode:   bytes ─container─▶ plane ─gray─▶ mode L image (bit-exact)
                                       └─colour─▶ L* ─predictor─▶ a/b ─color─▶ sRGB (+ alpha, ICC/EXIF)
    colorize: image ─imageio─▶ plane ─▶ as decode in colour, without hints

torch and the model are imported only when colour is asked for, so encoding and gray decoding
stay light.
"""
from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from . import color, container, hints as hints_mod, imageio, lplane
from .container import DEFAULT_MAX_PIXELS, GczImage
from .errors import ModelError

__all__ = ["encode", "decode", "colorize", "load_predictor", "DEFAULT_MAX_PIXELS"]

# Pixels per strip when converting L*a*b* to sRGB: bounds the float64 temporaries (~100 MB).
STRIP_PIXELS = 1 << 20
# Default renderings of colour from lightness alone (0 = fidelity … 1 = most vivid; see
# colorbins.vividness_params): decoding aims at the lost original, colorizing at plausible,
# vivid colour for old photos.
DECODE_VIVIDNESS = 0.0
COLORIZE_VIVIDNESS = 1.0


class ModelMismatchWarning(UserWarning):
    """A .gcz was encoded for another model than the one decoding it."""


def encode(
    image,
    *,
    hints: str | None = None,
    max_error: int | None = None,
    quality: int | None = None,
    half_lightness: bool | None = None,
    lightness_mode: int | None = None,
    keep_metadata: bool = True,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    hint_search: int = 0,
) -> bytes:
    """Encode an image (path, bytes, PIL.Image or numpy array) into .gcz bytes.

    ``quality`` 0..100 picks ``max_error`` and ``hints`` from ``graycodec.quality.TABLE``;
    ``hints`` / ``max_error`` / ``half_lightness`` given explicitly override its choice.
    Without any of them: exact lightness, no hints (colour from lightness alone).
    ``half_lightness``: store the plane at half resolution (lplane mode 4, for low rates;
    ``max_error`` then bounds the half-size plane, not the decoded one). ``lightness_mode``: the
    lplane coding mode itself (3 bounded, 4 half size, 5 wavelet: lossy, no bound, ``max_error``
    D ≥ 1 sets its quantiser step 3D/4); it overrides ``half_lightness``.

    ``hints``: one of ``hints.LEVELS`` (none, low, medium, high), or ``F`` / ``F:S`` (a/b
    block means at 1/F of each side, quantised to steps of S); ``max_error``: 0 for a
    lossless lightness plane, k for near-lossless (every stored value within k).

    ``hint_search``: steps of the encoder-side search that refits the stored hints to what the
    installed model's hint refiner will make of them (``graycodec.hint_search``; 10 steps lower
    mean ΔE94 by about 5 % and cost seconds per image on a CPU); 0 = the plain block means, no
    model needed. Only encodings with hints use it.
    """
    max_error, hints, coding = resolve_setting(quality, max_error, hints, half_lightness, lightness_mode)
    spec = hints_mod.parse_spec(hints)  # ValueError for an unknown level, before any work
    if hint_search < 0:
        raise ValueError(f"hint_search must be 0 or more steps, not {hint_search}")
    src = imageio.read_image(image, max_pixels=max_pixels)
    gray_source = src.is_gray()
    ab = src.ab() if spec else None
    thumb = hints_mod.make_hints(ab, hints) if spec else None
    gcz = GczImage(
        width=src.width,
        height=src.height,
        plane=src.plane,
        max_error=max_error,
        coding=coding,
        model_id=default_model_id(),
        alpha=src.alpha,
        icc=_metadata(src.icc, "ICC profile") if keep_metadata else None,
        exif=_metadata(src.exif, "EXIF block") if keep_metadata else None,
        gray_source=gray_source,
        quality=quality,
    )
    if thumb is not None:
        # a gray source's hints are all zero: nothing for a search to improve
        gcz.hints = hints_mod.pack_hints(thumb if gray_source else _searched_hints(gcz, ab, thumb, hint_search))
    return container.write_gcz(gcz)


def _searched_hints(gcz: GczImage, ab: np.ndarray, thumb, steps: int):
    """``thumb`` refit by ``steps`` of the encoder-side hint search (``hint_search.py``) for the
    L* plane the decoder will see; ``thumb`` itself for 0 steps. ModelError when the installed
    model cannot do it (none, or one without a hint refiner)."""
    if not steps:
        return thumb
    from . import hint_search  # torch: only when hints are searched

    refiner, device = hint_search.load_refiner()
    if refiner is None:
        raise ModelError("--hint-search needs a model with a hint refiner; the installed one has none "
                         "(leave --hint-search at 0)")
    return hint_search.search(refiner, _stored_lstar(gcz), ab, thumb, steps, device=device)


def _stored_lstar(gcz: GczImage) -> np.ndarray:
    """The L* plane a decoder of ``gcz`` sees: the source's when the plane is stored exactly,
    else the lossy plane decoded from a trial coding of it (the plane alone, as the container
    will code it)."""
    plane = gcz.plane
    if gcz.max_error or gcz.coding is not None:
        mode, payload = lplane.encode_plane(plane, max_error=gcz.max_error, mode=gcz.coding)
        plane = lplane.decode_plane(mode, payload, gcz.width, gcz.height, gcz.max_error)
    return color.plane_to_lstar(plane)


def _metadata(block: bytes | None, what: str) -> bytes | None:
    """A metadata block to store; one over the format's 16 MiB limit is left out with a warning
    (the image itself is what the user asked to encode)."""
    if block is not None and len(block) > container.MAX_METADATA_BYTES:
        warnings.warn(f"{what} of {len(block):,} bytes is over the format's {container.MAX_METADATA_BYTES:,}-byte "
                      "limit: left out")
        return None
    return block


def resolve_setting(quality, max_error, hints, half_lightness=None, lightness_mode=None) -> tuple[int, str, int | None]:
    """(max_error, hints, lplane coding mode or None for the default) for encode: explicit values
    first, then the quality's row, then the defaults (exact full-size lightness, no hints). An
    explicit max_error alone keeps the lightness full size and bounded: asking for a bound means
    asking for it on the decoded plane."""
    coding = lightness_mode
    if coding is None and half_lightness is not None:
        coding = lplane.MODE_HALF if half_lightness else lplane.DEFAULT_MODE
    if quality is not None:
        from .quality import setting

        row = setting(quality)
        if coding is None:
            coding = row.mode if max_error is None else lplane.DEFAULT_MODE
        max_error = row.max_error if max_error is None else max_error
        hints = row.hints if hints is None else hints
    max_error = 0 if max_error is None else max_error
    if coding == lplane.MODE_WAVELET and max_error < 1:
        raise ValueError("the wavelet lightness mode needs max_error ≥ 1 (its quantiser step 3D/4)")
    return max_error, ("none" if hints is None else hints), (None if coding == lplane.DEFAULT_MODE else coding)


def decode(
    data: bytes,
    *,
    gray: bool | None = None,
    predictor=None,
    device: str = "auto",
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    model=None,
    vividness: float = DECODE_VIVIDNESS,
) -> Image.Image:
    """Decode .gcz bytes to a PIL image: colour (RGB/RGBA), or the stored plane (L/LA).

    ``gray``: True for the stored plane, False for colour; None (default) follows the file:
    gray when its source had no colour (a gRAY chunk), colour otherwise.

    ``vividness`` (0 = fidelity … 1 = most vivid) shapes the colour of files without hints.

    ``predictor``: a loaded ``Predictor`` (reuse one across files); without it the model at
    ``model`` (default: the shipped one) is loaded on ``device``. FormatError for damaged data,
    ImageTooLargeError over ``max_pixels``, ModelError when colour is asked and no model exists.
    """
    img = container.read_gcz(bytes(data), max_pixels=max_pixels)
    if gray is None:
        gray = img.gray_source
    if gray:
        return imageio.make_image(img.plane, img.alpha, icc=img.icc, exif=img.exif)
    thumb = hints_mod.unpack_hints(img.hints, img.width, img.height) if img.hints else None
    if predictor is None:
        predictor = load_predictor(model, device)
    if img.model_id and predictor.model_id and img.model_id != predictor.model_id:
        warnings.warn(
            f"encoded for model {img.model_id}, decoding with model {predictor.model_id}: "
            "colours may differ from what the encoder expected",
            ModelMismatchWarning,
            stacklevel=2,
        )
    rgb = _colour(img.plane, thumb, predictor, vividness)
    return imageio.make_image(rgb, img.alpha, icc=img.icc, exif=img.exif)


def colorize(
    image,
    *,
    predictor=None,
    device: str = "auto",
    model=None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    vividness: float = COLORIZE_VIVIDNESS,
) -> Image.Image:
    """Colorize any image (gray or colour) from its lightness alone; alpha and ICC/EXIF kept.

    ``vividness``: 1 (default) the most vivid rendering, 0 the fidelity one of ``decode``.
    """
    src = imageio.read_image(image, max_pixels=max_pixels)
    if predictor is None:
        predictor = load_predictor(model, device)
    rgb = _colour(src.plane, None, predictor, vividness)
    return imageio.make_image(rgb, src.alpha, icc=src.icc, exif=src.exif)


def load_predictor(model=None, device: str = "auto"):
    """Load the colour predictor once (ModelError with a clear message when there is none)."""
    from .predictor import Predictor

    return Predictor.load(model, device)


def default_model_id() -> str:
    """Id of the model a decoder will use by default; "" when no trained model is installed."""
    from .zoo import find_default_model_id  # torch-free

    return find_default_model_id() or ""


def _colour(plane: np.ndarray, thumb, predictor, vividness: float = DECODE_VIVIDNESS) -> np.ndarray:
    """Predict a/b for a stored plane and join it to the full-resolution L*: uint8 (H, W, 3)."""
    if not 0.0 <= vividness <= 1.0:
        raise ValueError(f"vividness {vividness} is outside 0..1")
    lstar = color.plane_to_lstar(plane)
    ab = np.asarray(predictor.predict_ab(lstar, thumb, vividness), dtype=np.float32)
    if ab.shape != plane.shape + (2,):
        raise ModelError(f"predictor returned a/b of shape {ab.shape} for a {plane.shape} plane")
    rgb = np.empty(plane.shape + (3,), dtype=np.uint8)
    step = max(1, STRIP_PIXELS // max(1, plane.shape[1]))
    for r in range(0, plane.shape[0], step):
        rgb[r : r + step] = color.lab_to_rgb8(lstar[r : r + step], ab[r : r + step])
    return rgb
