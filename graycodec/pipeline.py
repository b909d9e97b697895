"""Colour decoding as a pipeline, for a GPU: ``decode`` / ``colorize --batch-size N``.

::

    reader threads: read file ─container / imageio─▶ plane (lightness decoding) ─▶ L*, hints
          │ (files in job order, read ahead)
    this thread:  batch of N ─Predictor.predict_ab_batch─▶ a/b on the device (images grouped by
          │        working size, one forward pass a group) ─lab_to_rgb8_torch─▶ uint8 sRGB
    writer threads: image ─encode PNG/JPEG/WebP─▶ write   (overlaps the next batch's network)

One process drives the device; the CPU stages run on threads (the lightness decoder, zstd and
Pillow's encoders release the GIL). Outcomes come back in job order, one per file, with the
same errors as the per-image path. Written device-agnostic: on the CPU it gives the pixels of
the per-image path within 1 level (batched convolutions sum in another order; the final
conversion runs in float64 as ``color.lab_to_rgb8`` does) — tests/test_workers.py checks it.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch

from . import codec, color, container, hints as hints_mod, imageio
from .workers import Outcome, portable, run_work

MAX_PIXELS_ON_DEVICE = 16_000_000  # larger images take the per-image path (strips, bounded memory)

_M = torch.from_numpy(color.XYZ_TO_RGB)
_WHITE = torch.from_numpy(color.WHITE_D65)


def _f_inv(f: torch.Tensor) -> torch.Tensor:
    t = f ** 3
    return torch.where(t > color._EPS, t, (f - 16.0 / 116.0) / color._KAPPA)


def _lab_to_linear(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """As ``color._lab_to_linear``: L (...), ab (..., 2) float64 → linear sRGB (..., 3)."""
    fy = (L + 16.0) / 116.0
    xyz = torch.stack([_f_inv(fy + ab[..., 0] / 500.0), _f_inv(fy), _f_inv(fy - ab[..., 1] / 200.0)], -1)
    return (xyz * _WHITE.to(L.device)) @ _M.to(L.device).T


def _in_gamut(lin: torch.Tensor) -> torch.Tensor:
    return ((lin >= 0.0) & (lin <= 1.0)).all(-1)


def lab_to_rgb8_torch(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """``color.lab_to_rgb8`` on the tensors' device: L (H, W), ab (H, W, 2) → uint8 (H, W, 3).

    Out-of-gamut pixels keep their L* and hue and lose chroma by the same bisection."""
    L = L.double().clamp(0.0, 100.0)
    ab = ab.double()
    lin = _lab_to_linear(L, ab)
    bad = ~_in_gamut(lin)
    if bad.any():
        Lb, abb = L[bad], ab[bad]
        lo, hi = torch.zeros_like(Lb), torch.ones_like(Lb)
        for _ in range(color.GAMUT_STEPS):
            mid = (lo + hi) / 2
            inside = _in_gamut(_lab_to_linear(Lb, abb * mid[:, None]))
            lo, hi = torch.where(inside, mid, lo), torch.where(inside, hi, mid)
        lin[bad] = _lab_to_linear(Lb, abb * lo[:, None])
    lin = lin.clamp(0.0, 1.0)
    srgb = torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin.clamp_min(0.0031308) ** (1 / 2.4) - 0.055)
    return torch.round(srgb.clamp(0.0, 1.0) * 255.0).to(torch.uint8)


class _Item:
    """One file on its way through: the decoded lightness and what the image needs besides."""

    def __init__(self, k, job):
        self.k, self.job, self.start = k, job, time.perf_counter()
        self.plane = self.alpha = self.icc = self.exif = self.thumb = None
        self.model_id, self.in_bytes, self.figures = "", 0, None
        self.error: BaseException | None = None
        self.rgb: np.ndarray | None = None
        self.warnings: list = []  # (category, message), told in job order by run_jobs


def colour_batch(predictor, items: list[_Item], vividness: float) -> None:
    """Set ``item.rgb`` (uint8 H×W×3) of each item: one batched prediction on the device."""
    lstars = [color.plane_to_lstar(it.plane) for it in items]
    abs_ = predictor.predict_ab_batch(lstars, [it.thumb for it in items], vividness)
    for it, lstar, ab in zip(items, lstars, abs_):
        L = torch.from_numpy(lstar).to(ab.device)
        it.rgb = lab_to_rgb8_torch(L, ab.permute(1, 2, 0)).cpu().numpy()


def run_pipeline(jobs: list, spec, prepare, *, batch_size: int, threads: int, streams=None):
    """Yield ``(index, Outcome)`` for every job in job order (as ``workers.run_pool`` does).

    ``spec``: a decode or colorize ``batch.WorkSpec`` (its model, vividness, gray, max_pixels,
    force). ``prepare(job)`` checks and claims each output, in job order, before its file is read.
    """
    from .batch import FATAL_ERRORS, LazyPredictor, Streams, output_format

    opts = spec.options
    streams = streams or Streams()
    predictor = LazyPredictor(*spec.model)
    per_image = spec.build(streams, predictor)  # huge images, and gray ones under decode's default (output claimed already)
    max_pixels, force, vividness = opts.get("max_pixels"), opts.get("force", False), opts.get("vividness", 0.0)

    def load(it: _Item) -> _Item:
        job = it.job
        try:
            fmt = output_format(job.dest)
            if spec.kind == "decode":
                data = streams.read_gcz(job, max_pixels)
                img = container.read_gcz(data, max_pixels=max_pixels)
                gray = img.gray_source if opts.get("gray") is None else opts.get("gray")
                if gray or img.width * img.height > MAX_PIXELS_ON_DEVICE:
                    it.figures = ("here", fmt)  # the per-image path does it (already claimed)
                    return it
                it.plane, it.alpha, it.icc, it.exif = img.plane, img.alpha, img.icc, img.exif
                it.thumb = hints_mod.unpack_hints(img.hints, img.width, img.height) if img.hints else None
                it.model_id, it.in_bytes, it.gcz_bytes = img.model_id, len(data), len(data)
            else:
                raw = streams.read(job)
                src = imageio.read_image(raw, max_pixels=max_pixels)
                if src.width * src.height > MAX_PIXELS_ON_DEVICE:
                    it.figures = ("here", fmt)
                    return it
                it.plane, it.alpha, it.icc, it.exif, it.in_bytes = src.plane, src.alpha, src.icc, src.exif, len(raw)
            it.fmt = fmt
        except Exception as exc:  # noqa: BLE001 - that file's error
            it.error = exc
        return it

    def write(it: _Item) -> Outcome:
        try:
            if it.error is not None:
                raise it.error
            else:
                im = imageio.make_image(it.rgb, it.alpha, icc=it.icc, exif=it.exif)
                data = imageio.image_bytes(im, it.fmt)
                streams.write(it.job, data, force)
                h, w = it.plane.shape
                if spec.kind == "decode":
                    from .batch import sizes

                    figures = sizes(w, h, it.gcz_bytes, it.in_bytes, len(data))
                else:
                    figures = {"width": w, "height": h, "input_bytes": it.in_bytes, "output_bytes": len(data)}
            return Outcome(True, figures, seconds=time.perf_counter() - it.start, warnings=it.warnings)
        except Exception as exc:  # noqa: BLE001 - that file's error
            return Outcome(False, error=portable(exc), seconds=time.perf_counter() - it.start)

    readers = ThreadPoolExecutor(max(1, threads), thread_name_prefix="gcz-read")
    writers = ThreadPoolExecutor(max(1, threads), thread_name_prefix="gcz-write")
    loading: deque[Future] = deque()
    writing: deque[tuple[int, Future]] = deque()
    todo = iter(enumerate(jobs))
    stopped = False
    try:
        while True:
            while len(loading) < 2 * batch_size and not stopped:  # read ahead, in job order
                nxt = next(todo, None)
                if nxt is None:
                    break
                it = _Item(*nxt)
                try:
                    prepare(it.job)  # here: outputs are checked and claimed in job order
                except Exception as exc:  # noqa: BLE001 - that file's error
                    it.error = exc
                loading.append(readers.submit(load, it) if it.error is None else _done(it))
            if not loading:
                break
            items = [loading.popleft().result() for _ in range(min(batch_size, len(loading)))]
            net = [it for it in items if it.error is None and it.figures is None]
            if net:
                try:
                    _warn_mismatch(predictor, [it for it in net if it.model_id])
                    colour_batch(predictor, net, vividness)
                except Exception as exc:  # noqa: BLE001 - the batch's files share the error
                    for it in net:
                        it.error = exc
                    stopped |= isinstance(exc, FATAL_ERRORS)
            for it in items:
                if it.figures is not None and it.error is None:  # the per-image path, here
                    writing.append((it.k, _done(run_work(per_image, it.job))))
                else:
                    writing.append((it.k, writers.submit(write, it)))
            while writing and (len(writing) > 2 * batch_size or writing[0][1].done()):
                k, fut = writing.popleft()  # the previous batch's writes, overlapped with this one
                yield k, fut.result()
        while writing:
            k, fut = writing.popleft()
            yield k, fut.result()
    finally:
        for fut in loading:
            fut.cancel()
        readers.shutdown(wait=True, cancel_futures=True)
        writers.shutdown(wait=True)


def _warn_mismatch(predictor, items) -> None:
    """The per-image path's ModelMismatchWarning, per file (told by run_jobs in job order)."""
    for it in items:
        if predictor.model_id and it.model_id != predictor.model_id:
            it.warnings.append((codec.ModelMismatchWarning, f"encoded for model {it.model_id}, decoding with model "
                                f"{predictor.model_id}: colours may differ from what the encoder expected"))


def _done(value) -> Future:
    fut = Future()
    fut.set_result(value)
    return fut
