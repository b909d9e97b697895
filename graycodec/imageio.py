"""Reading any Pillow image into what the encoder needs, and writing outputs atomically.

::

    path / bytes / PIL.Image / numpy ──open (bomb guard, --max-pixels)──▶ PIL.Image
        ──exif_transpose──▶ upright pixels ──per mode──▶ SourceImage(plane, rgb, alpha, icc, exif)

Lightness per source mode (``color.py`` defines the plane):

* colour (RGB, RGBA, P, CMYK, YCbCr, …): ``color.rgb_to_plane`` of the 8-bit sRGB pixels;
* 8-bit gray (1, L, LA): the pixel values themselves, so gray photos round-trip bit-exactly;
* 16-bit gray (I;16*, I): luminance ``srgb_to_linear(v / 65535)`` → nearest stored gray;
* float gray (F): Pillow's 0..255 scale, through luminance like 16-bit.

Alpha (LA, RGBA, PA, P or RGB with a transparency entry, …) is kept as uint8. The ICC profile
and EXIF block are carried through; EXIF orientation is applied to the pixels and removed from
the stored EXIF. A CMYK source's ICC profile describes CMYK and is dropped with the conversion.

Writing goes to a temporary file in the destination folder (``.<name>.graycodec-<pid>-….tmp``),
then claims the name: ``os.link`` without ``force`` (it fails if the name exists, so two
writers can never both win), ``os.replace`` with it. A failure never leaves a partial file;
the temporary file of a killed writer is removed by the next write into that folder.
"""
from __future__ import annotations

import errno
import io
import os
import re
import struct
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import color
from .errors import ImageInputError, ImageTooLargeError, OutputError

# The one list of file extensions treated as images (folder inputs, output formats).
IMAGE_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".jp2",
)
# Extensions ``save_image`` writes, with the Pillow format name and save options.
OUTPUT_FORMATS = {
    ".png": ("PNG", {}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".webp": ("WEBP", {"quality": 95}),
    ".tif": ("TIFF", {}),
    ".tiff": ("TIFF", {}),
    ".bmp": ("BMP", {}),
}
_NO_ALPHA_FORMATS = {"JPEG", "BMP"}

_GRAY16_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ALPHA_MODES = {"LA": "LA", "La": "LA", "RGBA": "RGBA", "RGBa": "RGBA", "PA": "RGBA"}


@dataclass
class SourceImage:
    """An input image reduced to what a .gcz stores (and the colour needed for hints)."""

    plane: np.ndarray  # uint8 (H, W), color.py representation
    rgb: np.ndarray | None = None  # uint8 or float [0, 1] (H, W, 3) for colour sources; None = gray
    alpha: np.ndarray | None = None  # uint8 (H, W)
    icc: bytes | None = None
    exif: bytes | None = None

    @property
    def height(self) -> int:
        return self.plane.shape[0]

    @property
    def width(self) -> int:
        return self.plane.shape[1]

    def is_gray(self) -> bool:
        """True when the source has no colour: a gray mode, or R = G = B at every pixel."""
        if self.rgb is None:
            return True
        rgb = self.rgb
        return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))

    def ab(self) -> np.ndarray:
        """CIELAB a/b of the source (H, W, 2), float32; zeros for a gray source."""
        if self.rgb is None:
            return np.zeros(self.plane.shape + (2,), dtype=np.float32)
        return color.rgb_to_lab(self.rgb)[..., 1:]


# --- reading -------------------------------------------------------------------------------
def check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    """ImageTooLargeError if width × height exceeds ``max_pixels`` (None = no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {max_pixels} "
            "(raise it with --max-pixels)"
        )


def open_image(src, *, max_pixels: int | None) -> Image.Image:
    """Open and fully load an image from a path, bytes or binary file object.

    Pillow's decompression-bomb guard and ``max_pixels`` raise ImageTooLargeError; anything
    that is not a readable image (missing, empty, truncated, unknown format) ImageInputError.
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        if not len(src):
            raise ImageInputError("empty input")
        src = io.BytesIO(src)
    elif isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if path.is_dir():
            raise ImageInputError("is a folder, not an image")
        if path.is_file() and path.stat().st_size == 0:
            raise ImageInputError("empty file")
    try:
        with warnings.catch_warnings():
            # graycodec applies its own limit below; Pillow's hard limit (2× its warning level)
            # still raises DecompressionBombError.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(src)
            check_pixels(im.width, im.height, max_pixels)
            im.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"refused as a decompression bomb ({exc})") from None
    except FileNotFoundError:
        raise ImageInputError("no such file") from None
    except UnidentifiedImageError:
        raise ImageInputError("not an image (unknown or unsupported format)") from None
    except NotImplementedError as exc:  # e.g. DDS pixel formats Pillow does not decode
        raise ImageInputError(f"unsupported image variant ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        if isinstance(exc, ImageTooLargeError):
            raise
        raise ImageInputError(f"cannot read image ({exc})") from None
    frames = getattr(im, "n_frames", 1)
    if isinstance(frames, int) and frames > 1:
        warnings.warn(f"{im.format} image has {frames} frames: only the first is kept")
    return im


def read_image(src, *, max_pixels: int | None) -> SourceImage:
    """Read a path, bytes, binary file, PIL.Image or numpy array into a SourceImage."""
    if isinstance(src, SourceImage):
        return src
    if isinstance(src, np.ndarray):
        check_pixels(src.shape[1] if src.ndim > 1 else 0, src.shape[0], max_pixels)
        return from_array(src)
    if isinstance(src, Image.Image):
        check_pixels(src.width, src.height, max_pixels)
        return from_pil(src)
    return from_pil(open_image(src, max_pixels=max_pixels))


def _icc_space(icc: bytes | None) -> bytes | None:
    """The ICC profile's data colour space signature (b"RGB ", b"GRAY", b"CMYK", …)."""
    return icc[16:20] if icc and len(icc) >= 20 else None


def icc_for(icc: bytes | None, mode: str) -> bytes | None:
    """The profile if it fits an output of ``mode`` (gray profile for L, RGB profile for RGB)."""
    want = b"GRAY" if mode in ("L", "LA") else b"RGB "
    return icc if _icc_space(icc) == want else None


# What Pillow raises on EXIF it can open but not parse or write back (broken resolution
# tags: "bad operand type for abs()", short values: struct.error, …).
_EXIF_ERRORS = (TypeError, ValueError, KeyError, IndexError, OSError, SyntaxError, struct.error)


def _exif_bytes(im: Image.Image) -> bytes | None:
    """The EXIF block to store, or None; a block Pillow cannot rewrite is dropped with a warning
    (its raw bytes would keep an orientation already applied to the pixels)."""
    try:
        exif = im.getexif()
        return exif.tobytes() if len(exif) else None
    except _EXIF_ERRORS as exc:
        warnings.warn(f"damaged EXIF block dropped ({type(exc).__name__}: {exc})")
        return None


def _upright(im: Image.Image) -> Image.Image:
    """EXIF orientation applied to the pixels; as stored when the EXIF cannot be read."""
    try:
        return ImageOps.exif_transpose(im)
    except _EXIF_ERRORS as exc:
        warnings.warn(f"EXIF orientation not applied, its block is damaged ({type(exc).__name__}: {exc})")
        return im


def from_pil(im: Image.Image) -> SourceImage:
    """Convert a loaded PIL image of any common mode (see module docstring)."""
    try:
        return _from_pil(im)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageInputError(f"cannot convert image of mode {im.mode} ({exc})") from None


def _from_pil(im: Image.Image) -> SourceImage:
    im = _upright(im)
    icc = im.info.get("icc_profile") or None
    exif = _exif_bytes(im)
    mode = im.mode
    alpha = None
    if mode == "P" or (mode == "RGB" and "transparency" in im.info):
        im = im.convert("RGBA" if im.has_transparency_data else "RGB")
        mode = im.mode
    elif mode == "L" and "transparency" in im.info:  # a gray colour key
        im, mode = im.convert("LA"), "LA"
    if mode in _ALPHA_MODES:
        im = im.convert(_ALPHA_MODES[mode])
        alpha = np.asarray(im.getchannel("A"), dtype=np.uint8).copy()
        im = im.convert("L" if im.mode == "LA" else "RGB")
        mode = im.mode
    if mode == "CMYK" and _icc_space(icc) == b"CMYK":
        icc = None
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode == "L":
        return SourceImage(np.asarray(im, dtype=np.uint8).copy(), None, alpha, icc, exif)
    if mode in _GRAY16_MODES:
        values = np.asarray(im).astype(np.float64) / 65535.0
        return SourceImage(_gray_float_to_plane(values), None, alpha, icc, exif)
    if mode == "F":
        values = np.asarray(im, dtype=np.float64) / 255.0
        return SourceImage(_gray_float_to_plane(values), None, alpha, icc, exif)
    rgb = np.asarray(im if mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    return SourceImage(color.rgb_to_plane(rgb), rgb, alpha, icc, exif)


def _gray_float_to_plane(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded gray in [0, 1] (clipped) to the stored plane through its luminance."""
    values = np.nan_to_num(values, nan=0.0)
    return color.luminance_to_plane(color.srgb_to_linear(np.clip(values, 0.0, 1.0)))


def from_array(arr: np.ndarray) -> SourceImage:
    """A numpy image: (H, W) gray, (H, W, 2) gray + alpha, (H, W, 3) RGB, (H, W, 4) RGBA.

    uint8 is 0..255, uint16 is 0..65535 (gray only), floats are sRGB values in [0, 1].
    """
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 2, 3, 4)):
        raise ImageInputError(f"array of shape {arr.shape} is not an image")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageInputError(f"array of shape {arr.shape} is empty")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    kind = arr.dtype.kind
    if kind == "b":
        arr, kind = arr.astype(np.uint8) * 255, "u"
    if kind not in "uif":
        raise ImageInputError(f"array of dtype {arr.dtype} is not an image")
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    alpha = None
    if channels in (2, 4):
        alpha = _to_uint8(arr[..., -1])
        arr, channels = arr[..., :-1], channels - 1
        if channels == 1:
            arr = arr[..., 0]
    if channels == 1:
        if arr.dtype == np.uint8:
            return SourceImage(arr.copy(), None, alpha)
        if kind == "f":
            return SourceImage(_gray_float_to_plane(arr.astype(np.float64)), None, alpha)
        return SourceImage(_gray_float_to_plane(arr.astype(np.float64) / 65535.0), None, alpha)
    if arr.dtype != np.uint8:
        if kind != "f":
            raise ImageInputError(f"colour arrays must be uint8 or float in [0, 1], not {arr.dtype}")
        arr = np.clip(np.nan_to_num(arr.astype(np.float64)), 0.0, 1.0)
    arr = np.ascontiguousarray(arr)
    return SourceImage(color.rgb_to_plane(arr), arr, alpha)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a.copy()
    if a.dtype.kind == "f":
        return np.round(np.clip(np.nan_to_num(a), 0, 1) * 255).astype(np.uint8)
    if a.dtype.kind in "ui" and a.dtype.itemsize > 1:
        return (np.clip(a, 0, 65535).astype(np.uint32) * 255 // 65535).astype(np.uint8)
    return np.clip(a, 0, 255).astype(np.uint8)


# --- building and writing output images -----------------------------------------------------
def make_image(pixels: np.ndarray, alpha: np.ndarray | None = None, *, icc=None, exif=None) -> Image.Image:
    """PIL image from uint8 gray (H, W) or RGB (H, W, 3) pixels plus optional alpha and metadata.

    The ICC profile is attached only when its colour space fits the image (GRAY or RGB).
    """
    im = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    if alpha is not None:
        im.putalpha(Image.fromarray(alpha, "L"))
    profile = icc_for(icc, im.mode)
    if profile:
        im.info["icc_profile"] = profile
    if exif:
        im.info["exif"] = exif
    return im


def output_format(path: str | Path) -> str:
    """Pillow format name for an output file name; OutputError if its extension is not writable."""
    entry = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if entry is None:
        known = ", ".join(OUTPUT_FORMATS)
        raise OutputError(f"unknown output extension {Path(path).suffix!r} (use one of {known})")
    return entry[0]


def image_bytes(im: Image.Image, fmt: str = "PNG") -> bytes:
    """Encode a PIL image (with its ICC/EXIF) in memory; JPEG and BMP drop alpha."""
    options = next((o for f, o in OUTPUT_FORMATS.values() if f == fmt), {})
    extra = {}
    if im.info.get("icc_profile"):
        extra["icc_profile"] = im.info["icc_profile"]
    if im.info.get("exif") and fmt in ("PNG", "JPEG", "WEBP", "TIFF"):
        extra["exif"] = im.info["exif"]
    if fmt in _NO_ALPHA_FORMATS and im.mode in ("LA", "RGBA"):
        im = im.convert("L" if im.mode == "LA" else "RGB")
    buf = io.BytesIO()
    try:
        im.save(buf, fmt, **options, **extra)
    except (OSError, ValueError, KeyError, TypeError, SyntaxError, struct.error) as exc:
        if "exif" not in extra:
            raise OutputError(f"cannot encode {fmt} ({exc})") from None
        # a .gcz carries EXIF bytes as they came; a writer that parses them (TIFF) may fail
        warnings.warn(f"EXIF block dropped: {fmt} cannot store it ({type(exc).__name__}: {exc})")
        del extra["exif"]
        buf = io.BytesIO()
        try:
            im.save(buf, fmt, **options, **extra)
        except (OSError, ValueError, KeyError, TypeError, SyntaxError, struct.error) as exc2:
            raise OutputError(f"cannot encode {fmt} ({exc2})") from None
    return buf.getvalue()


def save_image(im: Image.Image, dest: str | Path, *, force: bool = False) -> None:
    """Write ``im`` to ``dest`` in the format its extension names, atomically."""
    fmt = output_format(dest)
    check_writable(dest, force=force)
    write_atomic(dest, image_bytes(im, fmt), force=force)


def check_writable(dest: str | Path, *, force: bool = False) -> None:
    """OutputError now, before any work, if ``dest`` exists (without force) or its folder is missing."""
    dest = Path(dest)
    if dest.is_dir():
        raise OutputError("output is an existing folder")
    if os.path.lexists(dest) and not force:  # lexists: a dangling symlink counts as existing
        what = "output is a symlink" if dest.is_symlink() else "output exists"
        raise OutputError(f"{what} (use --force to overwrite)")
    parent = dest.parent
    if not parent.is_dir():
        raise OutputError(f"output folder {str(parent)!r} does not exist")


# Temporary files: ``.<name>.graycodec-<pid>-<random>.tmp``, so that a killed writer's file is
# recognisable (by graycodec, by its owner's pid) and removed by the next write to its folder.
TMP_MARK = ".graycodec-"
_TMP_RE = re.compile(r"\..+\.graycodec-(\d+)-[^./]+\.tmp\Z")
STALE_TMP_SECONDS = 24 * 3600  # a temp file older than this is stale even if its pid is alive


def write_atomic(dest: str | Path, data: bytes, *, force: bool = False) -> None:
    """Write ``data`` to ``dest`` through a temporary file in the same folder.

    Without ``force`` the name is claimed with ``os.link``, which fails when it exists: of
    writers racing for one name exactly one succeeds and no result is silently lost. With
    ``force``, ``os.replace``. OutputError if ``dest`` exists (no force), its folder is missing,
    or writing fails; in every failure the temporary file is removed and ``dest`` untouched.
    """
    dest = Path(dest)
    check_writable(dest, force=force)
    remove_stale_temps(dest.parent)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}{TMP_MARK}{os.getpid()}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        if force:
            os.replace(tmp, dest)
        else:
            _claim(tmp, dest)
        tmp = None
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(f"cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _claim(tmp: str, dest: Path) -> None:
    """Give ``tmp`` the name ``dest`` only if no file (or symlink) has it, atomically; ``tmp``
    is gone afterwards."""
    try:
        os.link(tmp, dest)
    except FileExistsError:
        raise OutputError("output exists (use --force to overwrite)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # a filesystem without hard links (FAT, some network mounts): check, then rename
        if os.path.lexists(dest):
            raise OutputError("output exists (use --force to overwrite)") from None
        os.replace(tmp, dest)
    else:
        os.unlink(tmp)  # the name is claimed; the temporary one goes


def remove_stale_temps(folder: Path) -> int:
    """Remove temporary files of graycodec writers that died (pid gone, or a day old); how many."""
    removed = 0
    try:
        names = [n for n in os.listdir(folder) if TMP_MARK in n]
    except OSError:
        return 0
    for name in names:
        m = _TMP_RE.match(name)
        path = Path(folder) / name
        try:
            if m and (not _pid_alive(int(m.group(1))) or time.time() - path.lstat().st_mtime > STALE_TMP_SECONDS):
                path.unlink()
                removed += 1
        except OSError:
            pass  # another writer's cleanup got there first, or not ours to remove
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows: os.kill would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # someone else's process: leave its file alone (until it is a day old)
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
