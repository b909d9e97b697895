"""The batch layer every front-end shares: find inputs, pair them with outputs, run the jobs.

::

    inputs (files, folders, '-') ──find_images──▶ files ──plan_jobs──▶ [Job(src, dest)]
    jobs ──run_jobs(work)──▶ per job: check the output, work(job) -> figures | one error
         └─ progress(done, total, note) after each job, and "loading model" when the model loads

Click-free: the CLI parses and prints, the web server and the survey kit call ``encode_work`` /
``decode_work`` / ``colorize_work`` and ``LazyPredictor`` themselves. A file that fails is one
:class:`JobResult` with its error and exit code; a missing model stops the batch (every later
file would fail the same way).
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from . import codec, container, imageio
from .errors import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, DeviceError, FormatError, GraycodecError, ImageInputError,
                     ModelError, OutputError)
from .workers import Outcome, default_workers  # noqa: F401 (default_workers: re-exported)

STDIO = "-"
GCZ_SUFFIX = ".gcz"


class UsageError(GraycodecError, ValueError):
    """Inputs and outputs that cannot be paired (the CLI shows it as a usage error)."""

    exit_code = EXIT_USAGE


# --- finding images: the one rule of every command ---------------------------------------------
def find_images(roots: Iterable, suffixes: Sequence[str] = imageio.IMAGE_EXTENSIONS,
                warn: Callable[[str], None] | None = None) -> list[tuple[str, Path | None]]:
    """Files given directly as they are; folders searched recursively for ``suffixes``.

    The rule shared by encode/decode/colorize, ``eval``, training and the survey kit: a folder
    contributes its files whose extension (any case) is in ``suffixes``, sorted by their path
    inside it, skipping hidden files and anything under a hidden folder. Returns
    ``(path, path relative to its folder or None for a file given directly)``; ``warn`` hears
    of folders holding no such file.
    """
    found: list[tuple[str, Path | None]] = []
    for item in map(str, roots):
        path = Path(item)
        if item == STDIO or not path.is_dir():
            found.append((item, None))
            continue
        files = sorted(
            (p.relative_to(path), p) for p in path.rglob("*")
            if p.suffix.lower() in suffixes and not any(part.startswith(".") for part in p.relative_to(path).parts)
            and p.is_file()
        )
        if not files and warn:
            warn(f"{item}: no {'/'.join(suffixes)} files in this folder")
        found.extend((str(p), rel) for rel, p in files)
    return found


# --- planning -------------------------------------------------------------------------------
@dataclass
class Job:
    """One input and where its result goes (``-`` for stdin/stdout)."""

    src: str
    dest: str
    in_output_dir: bool = False  # dest lies in the output folder (sub-folders created on demand)


def plan_jobs(inputs: Sequence[str], output: str | None, *, suffixes, out_suffix: str,
              default_dest: Callable[[Path], Path], file_needs_suffix: bool = False,
              warn: Callable[[str], None] | None = None) -> list[Job]:
    """Pair inputs with outputs.

    ``output`` is a folder when there are several inputs or a folder input, when it exists as
    a folder or ends with '/', or (``file_needs_suffix``) when it has no extension; it is
    created if missing. A single input with ``output`` FILE writes FILE, whose folder must exist.
    Without ``output`` each result goes next to its input (``default_dest``), stdin's to stdout.
    """
    if STDIO in inputs and len(inputs) > 1:
        raise UsageError("'-' (stdin) must be the only input")
    found = find_images(inputs, suffixes, warn)
    if not found:
        raise ImageInputError(f"{', '.join(inputs)}: no input files found")
    folder_input = any(rel is not None for _, rel in found)
    if output == STDIO and (len(found) != 1 or folder_input):
        raise UsageError("'-o -' (stdout) takes exactly one input file")
    as_dir = output not in (None, STDIO) and (
        len(found) > 1 or folder_input or Path(output).is_dir() or output.endswith(("/", os.sep))
        or (file_needs_suffix and not Path(output).suffix)
    )
    if as_dir and folder_input:  # re-runs must not take earlier outputs inside an input folder as inputs
        out_root = Path(output).resolve()
        found = [(src, rel) for src, rel in found
                 if rel is None or not Path(src).resolve().is_relative_to(out_root)]
    jobs = []
    for src, rel in found:
        if output is None:
            dest = STDIO if src == STDIO else str(default_dest(Path(src)))
        elif as_dir:
            name = rel if rel is not None else Path(Path(src).name if src != STDIO else "stdin")
            dest = str(Path(output) / name.with_suffix(out_suffix))
        else:
            dest = output
        jobs.append(Job(src, dest, in_output_dir=as_dir))
    if as_dir:
        try:
            Path(output).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{output}: cannot create output folder ({exc.strerror or exc})") from None
    return jobs


# --- input and output of one job ----------------------------------------------------------------
@contextlib.contextmanager
def _reading(error_type):
    """Turn the OSErrors of reading an input into one-line errors of ``error_type``."""
    try:
        yield
    except FileNotFoundError:
        raise error_type("no such file") from None
    except IsADirectoryError:
        raise error_type("is a folder") from None
    except OSError as exc:
        raise error_type(f"cannot read ({exc.strerror or exc})") from None


class Streams:
    """Where ``-`` reads and writes; the CLI passes click's streams, tests their own."""

    def __init__(self, stdin=None, stdout=None):
        self._stdin, self._stdout = stdin, stdout

    def read(self, job: Job) -> bytes:
        if job.src == STDIO:
            return (self._stdin or sys.stdin.buffer).read()
        with _reading(ImageInputError):
            return Path(job.src).read_bytes()

    def read_gcz(self, job: Job, max_pixels: int | None) -> bytes:
        """A .gcz's bytes, the magic and header read first and never more than the header
        allows (``info /dev/zero`` stops at the magic, an endless pipe at the size bound)."""
        if job.src == STDIO:
            return container.read_stream(self._stdin or sys.stdin.buffer, max_pixels=max_pixels)
        with _reading(FormatError), open(job.src, "rb") as f:
            return container.read_stream(f, max_pixels=max_pixels)

    def write(self, job: Job, data: bytes, force: bool) -> None:
        if job.dest == STDIO:
            out = self._stdout or sys.stdout.buffer
            out.write(data)
            out.flush()
        else:
            imageio.write_atomic(job.dest, data, force=force)


def prepare_output(job: Job, force: bool, claimed: set) -> None:
    """Refuse, before any work, outputs that exist, clash with another output or the input."""
    if job.dest == STDIO:
        return
    dest = Path(job.dest)
    # resolved paths: an output reached through a symlinked folder may be the input itself
    key = os.path.realpath(dest)
    if job.src != STDIO and (key == os.path.realpath(job.src) or _same_file(dest, job.src)):
        raise OutputError(f"output {job.dest} would overwrite the input")
    if key in claimed:
        raise OutputError(f"output {job.dest} is also the output of another input")
    claimed.add(key)
    if job.in_output_dir:  # sub-folders mirroring a folder input
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {dest.parent} ({exc.strerror or exc})") from None
    if dest.exists() and not dest.is_dir() and not force:
        # the error line names the input; the message must name the file that is in the way
        raise OutputError(f"output {job.dest} exists (use --force to overwrite)")
    imageio.check_writable(dest, force=force)


def _same_file(a, b) -> bool:
    """True when both paths exist and are one file (hard links, bind mounts)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# --- running ----------------------------------------------------------------------------------
@dataclass
class JobResult:
    job: Job
    ok: bool
    figures: dict = field(default_factory=dict)  # width, height, input_bytes, output_bytes, ...
    error: BaseException | None = None
    exit_code: int = EXIT_OK
    seconds: float = 0.0

    def as_dict(self) -> dict:
        entry = {"input": self.job.src, "output": self.job.dest, **self.figures, "ok": self.ok}
        if not self.ok:
            entry.update(error=str(self.error) or type(self.error).__name__, exit_code=self.exit_code)
        entry["seconds"] = round(self.seconds, 4)
        return entry


@dataclass
class BatchReport:
    command: str
    jobs: list[Job]
    results: list[JobResult]
    fatal: bool = False  # stopped early (no model)

    @property
    def failed(self) -> list[JobResult]:
        return [r for r in self.results if not r.ok]

    @property
    def exit_code(self) -> int:
        """0; a single file's (or a batch-stopping) error's own code; else EXIT_FAILED."""
        failed = self.failed
        if not failed:
            return EXIT_OK
        if self.fatal or len(self.jobs) == 1:
            return failed[-1].exit_code
        return EXIT_FAILED

    def totals(self) -> dict:
        ok = [r for r in self.results if r.ok]
        return {"files": len(self.jobs), "ok": len(ok), "failed": len(self.failed),
                "skipped": len(self.jobs) - len(self.results),
                "input_bytes": sum(r.figures.get("input_bytes", 0) for r in ok),
                "output_bytes": sum(r.figures.get("output_bytes", 0) for r in ok)}

    def as_dict(self) -> dict:
        return {"command": self.command, **self.totals(), "results": [r.as_dict() for r in self.results]}

    def summary_line(self) -> str:
        """One line for the terminal: files, ok, failed, bytes in → out."""
        t = self.totals()
        line = f"{self.command}: {t['files']} file{'s' * (t['files'] != 1)}, {t['ok']} ok, {t['failed']} failed"
        if t["skipped"]:
            line += f", {t['skipped']} skipped"
        if self.fatal:
            line += " (stopped: no usable model)"
        return line + f", {human_bytes(t['input_bytes'])} → {human_bytes(t['output_bytes'])}"


def human_bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover


def error_code(exc: BaseException) -> int:
    return exc.exit_code if isinstance(exc, GraycodecError) else EXIT_FAILED


def run_jobs(command: str, jobs: list[Job], work: Callable[[Job], dict], *, force: bool = False,
             on_error: Callable[[Job, BaseException], None] | None = None,
             progress: Callable[[int, int, str], None] | None = None, workers: int | None = 1,
             batch_size: int = 1) -> BatchReport:
    """Run ``work(job) -> figures`` on each job, one bad file never stopping the others.

    ``on_error(job, exc)`` hears each failure, ``progress(done, total, src)`` follows each job,
    both in job order. A ModelError or DeviceError stops the batch: every later file would fail
    the same way.

    ``workers``: processes (None: all usable cores). With more than one, and a ``work`` made by
    ``encode_work`` / ``decode_work`` / ``colorize_work`` (it carries a :class:`WorkSpec`), the
    jobs run in worker processes (graycodec/workers.py) and the report, the order of the calls
    and the files written are those of one worker. Batches of one file, stdin/stdout, and other
    ``work`` (a plain function, a predictor object of the caller's) run in this process.

    ``batch_size`` > 1 (colour ``decode`` / ``colorize``, for a GPU): this process runs the
    network on batches of that many images, ``workers`` threads reading and writing the files
    around it (graycodec/pipeline.py).
    """
    n = min(workers or default_workers(), len(jobs))
    spec = getattr(work, "spec", None)
    claimed: set = set()
    plain_files = not any(STDIO in (j.src, j.dest) for j in jobs)
    if batch_size > 1 and spec is not None and spec.needs_model and plain_files:
        from . import pipeline

        outcomes = pipeline.run_pipeline(jobs, spec, lambda job: prepare_output(job, force, claimed),
                                         batch_size=batch_size, threads=workers or default_workers())
    elif n > 1 and spec is not None and plain_files:
        from . import workers as workers_mod

        outcomes = workers_mod.run_pool(jobs, spec, n, lambda job: prepare_output(job, force, claimed),
                                        fatal_types=FATAL_ERRORS)
    else:
        outcomes = ((k, _run_here(job, work, force, claimed)) for k, job in enumerate(jobs))
    return collect(command, jobs, outcomes, on_error=on_error, progress=progress)


def collect(command: str, jobs: list[Job], outcomes, *, on_error=None, progress=None) -> BatchReport:
    """The report of ``(index, workers.Outcome)`` pairs in job order, from any engine (this
    process, worker processes, the GPU pipeline, a Dask cluster): warnings heard elsewhere told
    here, ``on_error`` / ``progress`` called, stopped at the first batch-stopping error."""
    results, fatal = [], False
    try:
        for k, out in outcomes:
            job = jobs[k]
            for category, message in out.warnings:  # heard elsewhere: told here, in job order
                warnings.warn(message, category, stacklevel=2)
            if out.ok:
                result = JobResult(job, True, out.figures, seconds=out.seconds)
            else:
                result = JobResult(job, False, error=out.error, exit_code=error_code(out.error), seconds=out.seconds)
                fatal = isinstance(out.error, FATAL_ERRORS)
                if on_error:
                    on_error(job, out.error)
            results.append(result)
            if progress:
                progress(k + 1, len(jobs), job.src)
            if fatal:
                break
    finally:
        close = getattr(outcomes, "close", None)
        if close:
            close()
    return BatchReport(command, jobs, results, fatal)


FATAL_ERRORS = (ModelError, DeviceError)  # stop the batch: every later file would fail the same way


def _run_here(job: Job, work, force: bool, claimed: set):
    """One job in this process (warnings go out as they happen)."""
    start = time.perf_counter()
    try:
        prepare_output(job, force, claimed)
        out = Outcome(True, work(job))
    except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
        out = Outcome(False, error=exc)
    out.seconds = time.perf_counter() - start
    return out


# --- the model, loaded once ---------------------------------------------------------------------
class LazyPredictor:
    """Loads the predictor on first use, once, for every caller (threads too: the web server).

    Damaged files fail before any loading; ``on_load`` is told just before the (slow) load so
    a front-end can say "loading model". A failed load is not cached: the next call retries.
    """

    def __init__(self, model: str | None = None, device: str = "auto", on_load: Callable[[], None] | None = None):
        self._args, self._predictor, self.on_load = (model, device), None, on_load
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._predictor is not None

    def get(self):
        with self._lock:
            if self._predictor is None:
                if self.on_load:
                    self.on_load()
                self._predictor = codec.load_predictor(*self._args)
            return self._predictor

    @property
    def model_id(self) -> str:
        return self.get().model_id

    def predict_ab(self, lstar, hints, vividness=0.0):
        return self.get().predict_ab(lstar, hints, vividness)

    def predict_ab_batch(self, lstars, hints, vividness=0.0):
        return self.get().predict_ab_batch(lstars, hints, vividness)


# --- the three jobs ---------------------------------------------------------------------------
def encode_options(quality=None, **options) -> dict:
    """``codec.encode`` keyword arguments; ``quality`` only where this build's encoder has it."""
    if quality is not None:
        if not encoder_has_quality():
            raise UsageError("quality is not supported by this build's encoder (use hints / max_error)")
        options["quality"] = quality
    return options


def encoder_has_quality() -> bool:
    import inspect

    return "quality" in inspect.signature(codec.encode).parameters


def encode_work(streams: Streams, *, force: bool, max_pixels, **options) -> Callable[[Job], dict]:
    """Job body of ``encode``: image → .gcz. ``options`` go to ``codec.encode`` (hints, max_error, ...)."""
    def work(job: Job) -> dict:
        raw = streams.read(job)
        src = imageio.read_image(raw, max_pixels=max_pixels)
        data = codec.encode(src, max_pixels=max_pixels, **options)
        streams.write(job, data, force)
        return sizes(src.width, src.height, len(data), len(raw), len(data))
    work.spec = WorkSpec("encode", dict(force=force, max_pixels=max_pixels, **options))
    return work


def decode_work(streams: Streams, *, force: bool, max_pixels, gray: bool, predictor, vividness: float):
    """Job body of ``decode``: .gcz → image in the format of the output's extension."""
    def work(job: Job) -> dict:
        fmt = output_format(job.dest)  # before any work
        gcz = streams.read_gcz(job, max_pixels)
        im = codec.decode(gcz, gray=gray, predictor=predictor, max_pixels=max_pixels, vividness=vividness)
        data = imageio.image_bytes(im, fmt)
        streams.write(job, data, force)
        return sizes(im.width, im.height, len(gcz), len(gcz), len(data))
    work.spec = WorkSpec.of("decode", predictor, force=force, max_pixels=max_pixels, gray=gray, vividness=vividness)
    return work


def colorize_work(streams: Streams, *, force: bool, max_pixels, predictor, vividness: float):
    """Job body of ``colorize``: any image → its lightness, coloured by the model."""
    def work(job: Job) -> dict:
        fmt = output_format(job.dest)  # before any work
        raw = streams.read(job)
        im = codec.colorize(raw, predictor=predictor, max_pixels=max_pixels, vividness=vividness)
        data = imageio.image_bytes(im, fmt)
        streams.write(job, data, force)
        return {"width": im.width, "height": im.height, "input_bytes": len(raw), "output_bytes": len(data)}
    work.spec = WorkSpec.of("colorize", predictor, force=force, max_pixels=max_pixels, vividness=vividness)
    return work


@dataclass
class WorkSpec:
    """A job body as data, to make it again in a worker process (``work.spec`` of the bodies
    above): which of the three, its options, and the model to load there (lazily, once).
    Stdin/stdout never reach a worker, so the rebuilt body's streams are the plain ones."""

    kind: str  # "encode", "decode" or "colorize"
    options: dict
    model: tuple | None = None  # LazyPredictor arguments (model path, device); None: no model

    @classmethod
    def of(cls, kind: str, predictor, **options) -> "WorkSpec | None":
        """The spec of a colour body; None (this process only) for a predictor object of the
        caller's, which cannot travel."""
        if predictor is not None and not isinstance(predictor, LazyPredictor):
            return None
        return cls(kind, options, predictor._args if predictor is not None else None)

    @property
    def needs_model(self) -> bool:
        return self.model is not None

    def build(self, streams: Streams | None = None, predictor=None) -> Callable[[Job], dict]:
        """The job body; ``predictor``: the process's model if it has one already."""
        streams = streams or Streams()
        if predictor is None and self.model is not None:
            predictor = LazyPredictor(*self.model)
        if self.kind == "encode":
            return encode_work(streams, **self.options)
        if self.kind == "decode":
            return decode_work(streams, predictor=predictor, **self.options)
        if self.kind == "colorize":
            return colorize_work(streams, predictor=predictor, **self.options)
        raise ValueError(f"unknown job kind {self.kind!r}")


def output_format(dest: str) -> str:
    """Output image format: PNG on stdout, else from the extension (OutputError if unknown)."""
    return "PNG" if dest == STDIO else imageio.output_format(dest)


def sizes(width: int, height: int, gcz_bytes: int, input_bytes: int, output_bytes: int) -> dict:
    """A result's figures; ``bpp`` is always that of the .gcz."""
    return {"width": width, "height": height, "gcz_bytes": gcz_bytes, "input_bytes": input_bytes,
            "output_bytes": output_bytes, "bpp": round(gcz_bytes * 8 / (width * height), 4)}
