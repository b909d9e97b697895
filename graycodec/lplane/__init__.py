"""Lightness plane coding: predictive coding of an 8-bit plane with zstandard as entropy stage.

    encode_plane(plane, max_error=D, mode=m) -> (m, payload)
    decode_plane(m, payload, width, height, D) -> plane

    mode 1 (med):       q = (x + D) // (2D + 1) ─MED prediction─▶ residual mod M ─▶ one zstd frame
    mode 2 (gap-ctx16): GAP prediction ─texture/activity context bias correction─▶ error,
                        quantized in the loop when D ≥ 1 ─folded to 0..hi-lo─▶ 16 streams by
                        local activity ─▶ one zstd frame each
    mode 3 (gap-strips): mode 2 on independent strips of rows sharing the 16 streams, so strips
                        are coded on several threads (default mode; lplane.strips)
    mode 4 (half):      the plane at half resolution coded by mode 3, upsampled 2× (exact integer
                        bicubic) at decode; max_error bounds the half-size plane only (lplane.half)
    mode 5 (wavelet):   5/3 integer wavelet, deadzone quantiser with a step per subband and
                        centroid reconstruction, 12 context streams; lossy, no bound; max_error
                        D sets the base step 3D/4 (lplane.wavelet)

Every mode id ever written stays decodable (docs/FORMAT.md §4 specifies them bit-exactly).
Decoding a strip is sequential (each prediction needs the pixels decoded just before; mode 3
decodes its strips in parallel), so the pixel loops are compiled with numba: it is made for
exactly this (tight integer loops over numpy arrays), well kept, already a dependency, and
``cache=True`` keeps the JIT cost to the first run on a machine. The kernels check every stream read themselves (numba does no bounds checks),
so damaged payloads raise :class:`FormatError` and never read or write out of bounds.
"""
from __future__ import annotations

import contextlib
import operator
import threading

import numpy as np

from ..errors import FormatError
from . import gap, half, med, strips, wavelet

MODE_MED = 1  # median edge detector (LOCO-I) prediction, one zstd stream
MODE_GAP = 2  # GAP prediction, texture/energy bias correction, 16 activity streams
MODE_STRIPS = 3  # mode 2 on independent strips of rows (parallel coding), shared streams
MODE_HALF = 4  # mode 3 on the plane at half resolution; no bound on the full-size plane
MODE_WAVELET = 5  # 5/3 wavelet transform coder (mid and low rates); no per-pixel bound
DEFAULT_MODE = MODE_STRIPS
MODE_NAMES = {MODE_MED: "med", MODE_GAP: "gap-ctx16", MODE_STRIPS: "gap-strips", MODE_HALF: "half", MODE_WAVELET: "wavelet"}
BOUNDED_MODES = (MODE_MED, MODE_GAP, MODE_STRIPS)  # modes whose max_error bounds the decoded plane
MAX_ERROR_LIMIT = 64  # largest accepted max_error (near-lossless bound)
_MODULES = {MODE_MED: med, MODE_GAP: gap, MODE_STRIPS: strips, MODE_HALF: half, MODE_WAVELET: wavelet}

# First run: numba compiles the kernels a plane needs (~10 s on two cores, then cached on disk,
# ~0.5 s). A call still running after NOTICE_AFTER_S is taken to be compiling, and the notice
# set by the caller (the CLI prints a line) says so: a silent first run looked hung.
NOTICE_AFTER_S = 1.5
_notice = None
_first_call = True


def set_compile_notice(notice) -> None:
    """``notice()`` is called once, if the process's first plane coding runs long (compiling)."""
    global _notice
    _notice = notice


@contextlib.contextmanager
def _compile_notice():
    global _first_call
    if not _first_call or _notice is None:
        yield
        return
    _first_call = False
    timer = threading.Timer(NOTICE_AFTER_S, _notice)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def encode_plane(plane: np.ndarray, *, max_error: int = 0, mode: int | None = None) -> tuple[int, bytes]:
    """Code an 8-bit plane (H, W); returns (mode id, payload). ``max_error`` D bounds |decoded − plane|."""
    plane = np.asarray(plane)
    if plane.dtype != np.uint8 or plane.ndim != 2 or plane.size == 0:
        raise ValueError(f"plane must be a non-empty uint8 (H, W) array, got {plane.dtype} {plane.shape}")
    _check_max_error(max_error, ValueError)
    mode = DEFAULT_MODE if mode is None else mode
    if mode not in MODE_NAMES:
        raise ValueError(f"unknown lightness coding mode {mode}")
    with _compile_notice():
        return mode, _MODULES[mode].encode(plane, max_error)


def decode_plane(mode: int, payload: bytes, width: int, height: int, max_error: int) -> np.ndarray:
    """Decode a payload made by :func:`encode_plane`; FormatError when it is damaged."""
    try:
        width, height = operator.index(width), operator.index(height)
    except TypeError:
        raise FormatError(f"lightness plane: invalid size {width!r}x{height!r}") from None
    if width < 1 or height < 1:
        raise FormatError(f"lightness plane: invalid size {width}x{height}")
    _check_max_error(max_error, FormatError)
    if mode not in MODE_NAMES:
        raise FormatError(f"lightness plane: unknown coding mode {mode}")
    payload = bytes(payload)
    with _compile_notice():
        return _MODULES[mode].decode(payload, width, height, max_error)


def _check_max_error(max_error, exc):
    if not isinstance(max_error, (int, np.integer)) or not 0 <= max_error <= MAX_ERROR_LIMIT:
        raise exc(f"max_error must be an integer in 0..{MAX_ERROR_LIMIT}, got {max_error!r}")
