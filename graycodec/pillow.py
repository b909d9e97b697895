"""Pillow plugin: ``import graycodec.pillow`` and Pillow opens and saves ``.gcz`` (format ``GCZ``).

::

    >>> import graycodec.pillow
    >>> from PIL import Image
    >>> im = Image.open("photo.gcz")      # reads the 34-byte header only: size, mode, info
    >>> im.load()                         # decodes in colour with the default model
    >>> gray = Image.open("photo.gcz"); gray.draft("L", gray.size)   # the stored plane, no model
    >>> Image.open("photo.jpg").save("photo.gcz", hints="medium", max_error=2)

``Image.open`` validates the header and leaves the payload alone, so Pillow's
decompression-bomb limit (``Image.MAX_IMAGE_PIXELS``) refuses oversized files before any
decoding. ``load()`` reads the rest and decodes through :func:`graycodec.decode`; the model is
loaded once per process (``$GRAYCODEC_MODEL`` or the shipped one) and shared by every image.
Like Pillow's own plugins, a damaged file raises ``OSError`` (:class:`GczFileError`) only.
Save options: ``hints`` (none/low/medium/high), ``max_error`` (0..), ``hint_search`` (steps of
the encoder-side hint search, default 0), ``strip_metadata``, and ``quality`` where this build's
encoder has it.
"""
from __future__ import annotations

from PIL import Image, ImageFile

from . import batch, codec, container
from .errors import GraycodecError

FORMAT = "GCZ"
MIME = "image/x-graycodec"
EXTENSION = ".gcz"

# One model for every image this process opens, loaded on the first colour load().
_PREDICTOR = batch.LazyPredictor()


class GczFileError(OSError):
    """A .gcz that cannot be read or decoded (damaged, truncated, no model for its colour)."""


def _accept(prefix: bytes) -> bool:
    return prefix[: len(container.MAGIC)] == container.MAGIC


class GczImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "graycodec (stored lightness, learned colour)"

    def _open(self) -> None:
        head = self.fp.read(container.HEADER_SIZE)
        try:
            # no pixel limit here: Image.open applies Pillow's own bomb check to self.size
            h = container.read_header(head, max_pixels=None)
        except GraycodecError as exc:
            raise GczFileError(f"{FORMAT}: {exc}") from None
        alpha = bool(h.flags & container.FLAG_ALPHA)
        self._size = (h.width, h.height)
        self._mode = "RGBA" if alpha else "RGB"
        self._gray = False
        self.info.update({
            "gcz_version": f"{h.version[0]}.{h.version[1]}",
            "coding": container.lplane.MODE_NAMES[h.coding],
            "max_error": h.max_error,
            "lossless": h.max_error == 0 and h.coding in container.lplane.BOUNDED_MODES,
            "model_id": h.model_id,
        })
        self.tile = []

    def draft(self, mode, size):
        """``draft("L", ...)``: load the stored lightness plane itself (bit-exact, no model)."""
        if mode not in ("L", "LA") or self._im is not None:
            return None
        self._gray = True
        self._mode = "LA" if self.mode == "RGBA" else "L"
        return self.mode, (0, 0, *self.size)

    def load(self):
        if self._im is None:
            self.im = self._decode().im
            self._close_fp_if_exclusive()
        return Image.Image.load(self)

    def _decode(self) -> Image.Image:
        self.fp.seek(0)
        data = self.fp.read()
        try:
            im = codec.decode(data, gray=self._gray, predictor=None if self._gray else _PREDICTOR, max_pixels=None)
        except Exception as exc:  # noqa: BLE001 - a plugin raises OSError only, as Pillow's own do
            raise GczFileError(f"{FORMAT}: {' '.join(str(exc).split()) or type(exc).__name__}") from None
        if im.size != self.size or im.mode != self.mode:
            raise GczFileError(f"{FORMAT}: decoded {im.mode} {im.size}, header says {self.mode} {self.size}")
        for key in ("icc_profile", "exif"):
            if im.info.get(key):
                self.info[key] = im.info[key]
        return im

    def _close_fp_if_exclusive(self) -> None:
        if getattr(self, "_exclusive_fp", False) and self.fp is not None:
            self.fp.close()
            self.fp = None


def _save(im: Image.Image, fp, filename) -> None:
    opts = im.encoderinfo
    try:
        options = batch.encode_options(quality=opts.get("quality"), hints=opts.get("hints", "none"),
                                       max_error=int(opts.get("max_error", 0)),
                                       hint_search=int(opts.get("hint_search", 0)),
                                       keep_metadata=not opts.get("strip_metadata", False))
        data = codec.encode(im, max_pixels=None, **options)
    except GraycodecError as exc:
        raise ValueError(f"{FORMAT}: {exc}") from None
    fp.write(data)


def register() -> None:
    Image.register_open(FORMAT, GczImageFile, _accept)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)


register()
