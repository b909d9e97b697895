"""graycodec: a lossy image codec that stores lightness and restores colour with a U-Net.

    >>> import graycodec
    >>> data = graycodec.encode("photo.jpg", hints="medium")      # .gcz bytes
    >>> graycodec.decode(data).save("photo.png")                  # colour, via the shipped model
    >>> graycodec.decode(data, gray=True)                         # stored lightness, bit-exact
    >>> graycodec.colorize("old-bw-photo.jpg").save("colour.png")

``encode``, ``decode`` and ``colorize`` live in :mod:`graycodec.codec`; they are imported on
first use so that ``import graycodec.color`` (training, evaluation) stays light.
"""
from .errors import (
    FormatError,
    GraycodecError,
    ImageInputError,
    ImageTooLargeError,
    ModelError,
    OutputError,
)

__version__ = "0.1.0"

__all__ = [
    "encode", "decode", "colorize",
    "GraycodecError", "FormatError", "ImageInputError", "ImageTooLargeError", "OutputError", "ModelError",
]

_API = {"encode", "decode", "colorize"}


def __getattr__(name):
    if name in _API:
        from . import codec

        return getattr(codec, name)
    raise AttributeError(f"module 'graycodec' has no attribute {name!r}")
