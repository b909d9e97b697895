"""The ``graycodec`` command: click parses, ``codec`` / ``imageio`` / ``container`` do the work.

Every command runs a *batch*: inputs (files, folders searched recursively, or ``-`` for
stdin) are paired with outputs, then processed one by one. A file that fails is reported as
one line ``graycodec: error: <file>: <message>`` on stderr and the batch goes on; the exit
code is that error's code for a single file, ``EXIT_FAILED`` (1) for a batch with failures
(codes in ``errors.py`` and the README). ``GRAYCODEC_DEBUG=1`` adds tracebacks.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import click

from . import __version__, codec, imageio
from .container import DEFAULT_MAX_PIXELS
from .errors import EXIT_FAILED, EXIT_OK, GraycodecError, ImageInputError, ModelError, OutputError
from .hints import LEVELS, parse_spec
from .lplane import MAX_ERROR_LIMIT

STDIO = "-"
GCZ_SUFFIX = ".gcz"
DEBUG_ENV = "GRAYCODEC_DEBUG"


# --- reporting -----------------------------------------------------------------------------
def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _err_line(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)


def report_error(label: str | None, exc: BaseException) -> int:
    """Print one line for ``exc`` (a traceback too under GRAYCODEC_DEBUG) and return its exit code."""
    if isinstance(exc, GraycodecError):
        code, message = exc.exit_code, str(exc)
    else:
        code, message = EXIT_FAILED, f"unexpected {type(exc).__name__}: {exc}"
    if _debug():
        traceback.print_exception(exc, file=sys.stderr)
    message = " ".join(message.split()) or type(exc).__name__
    _err_line(f"graycodec: error: {label}: {message}" if label else f"graycodec: error: {message}")
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None):
    _err_line(f"graycodec: warning: {' '.join(str(message).split())}")


def _guarded(func):
    """Map anything escaping a command body to one line on stderr and an exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            code = func(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI's catch-all, one line per error
            code = report_error(None, exc)
        click.get_current_context().exit(code or EXIT_OK)

    return wrapper


# --- inputs and outputs ----------------------------------------------------------------------
@dataclass
class Job:
    """One input and where its result goes (``-`` for stdin/stdout)."""

    src: str
    dest: str
    in_output_dir: bool = False  # dest lies in the -o folder (created on demand)

    def read_bytes(self) -> bytes:
        if self.src == STDIO:
            return click.get_binary_stream("stdin").read()
        try:
            return Path(self.src).read_bytes()
        except FileNotFoundError:
            raise ImageInputError("no such file") from None
        except IsADirectoryError:
            raise ImageInputError("is a folder") from None
        except OSError as exc:
            raise ImageInputError(f"cannot read ({exc.strerror or exc})") from None

    def image_source(self):
        """What ``imageio.read_image`` takes: the path, or stdin's bytes."""
        return self.read_bytes() if self.src == STDIO else self.src


def expand_inputs(inputs: tuple[str, ...], suffixes) -> list[tuple[str, Path | None]]:
    """Files as given; folders searched recursively for ``suffixes`` (hidden files skipped).

    Returns (path, path relative to its folder, or None for a file given directly).
    """
    if STDIO in inputs and len(inputs) > 1:
        raise click.UsageError("'-' (stdin) must be the only input")
    found: list[tuple[str, Path | None]] = []
    for item in inputs:
        path = Path(item)
        if item != STDIO and path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in suffixes
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                _err_line(f"graycodec: warning: {item}: no {'/'.join(suffixes)} files in this folder")
            found.extend((str(p), p.relative_to(path)) for p in files)
        else:
            found.append((item, None))
    return found


def plan_jobs(inputs, output, *, suffixes, out_suffix, default_dest, file_needs_suffix=False) -> list[Job]:
    """Pair inputs with outputs.

    ``output`` is a folder when there are several inputs or a folder input, when it exists as
    a folder or ends with '/', or (``file_needs_suffix``) when it has no extension; it is
    created if missing. A single input with ``-o FILE`` writes FILE, whose folder must exist.
    Without ``-o`` each output goes next to its input (``default_dest``), stdin to stdout.
    """
    found = expand_inputs(inputs, suffixes)
    if not found:
        raise ImageInputError(f"{', '.join(inputs)}: no input files found")
    folder_input = any(rel is not None for _, rel in found)
    if output == STDIO and (len(found) != 1 or folder_input):
        raise click.UsageError("'-o -' (stdout) takes exactly one input file")
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


def _prepare_output(job: Job, force: bool, claimed: set) -> None:
    """Refuse, before any work, outputs that exist, clash with another output or the input."""
    if job.dest == STDIO:
        return
    dest = Path(job.dest)
    key = os.path.abspath(dest)
    if job.src != STDIO and key == os.path.abspath(job.src):
        raise OutputError(f"output {job.dest} would overwrite the input")
    if key in claimed:
        raise OutputError(f"output {job.dest} is also the output of another input")
    claimed.add(key)
    if job.in_output_dir:  # sub-folders mirroring a folder input
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {dest.parent} ({exc.strerror or exc})") from None
    imageio.check_writable(dest, force=force)


def write_output(job: Job, data: bytes, force: bool) -> None:
    if job.dest == STDIO:
        out = click.get_binary_stream("stdout")
        out.write(data)
        out.flush()
    else:
        imageio.write_atomic(job.dest, data, force=force)


def run_batch(command: str, jobs: list[Job], work, *, force: bool, as_json: bool) -> int:
    """Run ``work(job) -> dict`` on each job; report failures; print the JSON summary; exit code."""
    from tqdm import tqdm

    results, claimed, fatal = [], set(), None
    bar = tqdm(jobs, desc=command, unit="file", file=sys.stderr, disable=len(jobs) <= 1 or not sys.stderr.isatty(), leave=False)
    for job in bar:
        start = time.perf_counter()
        entry = {"input": job.src, "output": job.dest}
        try:
            _prepare_output(job, force, claimed)
            entry.update(work(job), ok=True)
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the batch
            # a missing model is not about this file: reported without its name
            code = report_error(None if isinstance(exc, ModelError) else job.src, exc)
            entry.update(ok=False, error=str(exc) or type(exc).__name__, exit_code=code)
            if isinstance(exc, ModelError):  # every later file would fail the same way
                fatal = code
        entry["seconds"] = round(time.perf_counter() - start, 4)
        results.append(entry)
        if fatal is not None:
            break
    bar.close()
    failed = [r for r in results if not r["ok"]]
    if as_json:
        summary = {
            "command": command,
            "files": len(jobs),
            "ok": len(results) - len(failed),
            "failed": len(failed),
            "skipped": len(jobs) - len(results),
            "results": results,
        }
        click.echo(json.dumps(summary, indent=2))
    if not failed:
        return EXIT_OK
    if fatal is not None or len(jobs) == 1:
        return failed[-1]["exit_code"]
    return EXIT_FAILED


class _LazyPredictor:
    """Loads the predictor on first use, once per batch (damaged files fail before any loading)."""

    def __init__(self, model: str | None, device: str):
        self._args, self._predictor = (model, device), None

    def _get(self):
        if self._predictor is None:
            self._predictor = codec.load_predictor(*self._args)
        return self._predictor

    @property
    def model_id(self) -> str:
        return self._get().model_id

    def predict_ab(self, lstar, hints, vividness=0.0):
        return self._get().predict_ab(lstar, hints, vividness)


def _check_json_stdout(as_json: bool, output: str | None, inputs) -> None:
    if as_json and (output == STDIO or (output is None and STDIO in inputs)):
        raise click.UsageError("--json prints to stdout, which also receives the output: use -o FILE")


def _sizes(width: int, height: int, gcz_bytes: int, output_bytes: int) -> dict:
    """A result record's figures; ``bpp`` is always that of the .gcz."""
    return {"width": width, "height": height, "gcz_bytes": gcz_bytes, "output_bytes": output_bytes,
            "bpp": round(gcz_bytes * 8 / (width * height), 4)}


# --- the command group -----------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graycodec")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """graycodec: store an image's lightness, restore its colour with a neural network.

    Exit codes: 0 ok, 1 a batch had failures or an unexpected error, 2 usage, 3 bad input,
    4 output exists or cannot be written, 5 no usable model, 6 image over --max-pixels.
    """
    ctx.with_resource(warnings.catch_warnings())
    warnings.showwarning = _show_warning


_force = click.option("--force", "-f", is_flag=True, help="Overwrite existing outputs.")
_json = click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout.")
_max_pixels = click.option(
    "--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS, show_default=True,
    help="Refuse images with more pixels than this.",
)
_device = click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
    help="Where the colour model runs.",
)
_model = click.option("--model", type=click.Path(dir_okay=False), default=None,
                      help="Weight file to use instead of the shipped model.")


def _check_hints(ctx, param, value):
    try:
        parse_spec(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None, help="Output file, or folder for several inputs ('-' = stdout).")
@click.option("--quality", type=click.IntRange(0, 100), default=None,
              help="0-100, larger is better: lightness bound and colour hints from the quality table "
                   "(docs/BENCHMARKS.md); --max-error, --lossless and --hints override its parts.")
@click.option("--lossless", is_flag=True, help="Exact lightness (the default without --quality).")
@click.option("--hints", callback=_check_hints, default=None,
              help=f"Store a tiny a/b thumbnail to guide the colours: {', '.join(LEVELS)}, or F / F:S "
                   "(1/F of each side, a/b step S). Default: none, or the --quality's.")
@click.option("--max-error", type=click.IntRange(0, MAX_ERROR_LIMIT), default=None,
              help="Largest error allowed in the stored lightness plane (0 = lossless; default 0, "
                   "or the --quality's).")
@click.option("--strip-metadata", is_flag=True, help="Do not store the ICC profile and EXIF.")
@_max_pixels
@_force
@_json
@_guarded
def encode(inputs, output, quality, lossless, hints, max_error, strip_metadata, max_pixels, force, as_json):
    """Encode images (files, folders, or '-' for stdin) into .gcz files."""
    _check_json_stdout(as_json, output, inputs)
    if lossless and max_error:
        raise click.UsageError("--lossless and --max-error > 0 contradict each other")
    max_error = 0 if lossless else max_error
    jobs = plan_jobs(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=GCZ_SUFFIX,
                     default_dest=lambda p: p.with_suffix(GCZ_SUFFIX))

    def work(job: Job) -> dict:
        src = imageio.read_image(job.image_source(), max_pixels=max_pixels)
        data = codec.encode(src, hints=hints, max_error=max_error, quality=quality,
                            keep_metadata=not strip_metadata, max_pixels=max_pixels)
        write_output(job, data, force)
        return _sizes(src.width, src.height, len(data), len(data))

    return run_batch("encode", jobs, work, force=force, as_json=as_json)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None,
              help="Output image (.png/.jpg/.webp/…), or folder for several inputs ('-' = PNG on stdout).")
@click.option("--gray", is_flag=True, help="Write the stored lightness plane only (no model needed).")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.DECODE_VIVIDNESS, show_default=True,
              help="Colour without hints: 0 = fidelity (closest to the lost original) … 1 = most vivid.")
@_device
@_model
@_max_pixels
@_force
@_json
@_guarded
def decode(inputs, output, gray, vividness, device, model, max_pixels, force, as_json):
    """Decode .gcz files to colour images (or the stored lightness with --gray)."""
    _check_json_stdout(as_json, output, inputs)
    jobs = plan_jobs(inputs, output, suffixes=(GCZ_SUFFIX,), out_suffix=".png",
                     default_dest=lambda p: p.with_suffix(".png"), file_needs_suffix=True)
    predictor = None if gray else _LazyPredictor(model, device)

    def work(job: Job) -> dict:
        fmt = _format_of(job.dest)  # before any work
        gcz = job.read_bytes()
        im = codec.decode(gcz, gray=gray, predictor=predictor, max_pixels=max_pixels, vividness=vividness)
        data = imageio.image_bytes(im, fmt)
        write_output(job, data, force)
        return _sizes(im.width, im.height, len(gcz), len(data))

    return run_batch("decode", jobs, work, force=force, as_json=as_json)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None,
              help="Output image, or folder for several inputs ('-' = PNG on stdout). "
                   "Default: <name>.colorized.png beside each input (in the input's own folder).")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.COLORIZE_VIVIDNESS, show_default=True,
              help="0 = fidelity (the most likely colours, muted) … 1 = most vivid.")
@_device
@_model
@_max_pixels
@_force
@_json
@_guarded
def colorize(inputs, output, vividness, device, model, max_pixels, force, as_json):
    """Colorize any images (old black-and-white photos) from their lightness alone."""
    _check_json_stdout(as_json, output, inputs)
    jobs = plan_jobs(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=".png",
                     default_dest=lambda p: p.with_name(p.stem + ".colorized.png"), file_needs_suffix=True)
    predictor = _LazyPredictor(model, device)

    def work(job: Job) -> dict:
        fmt = _format_of(job.dest)  # before any work
        im = codec.colorize(job.image_source(), predictor=predictor, max_pixels=max_pixels, vividness=vividness)
        data = imageio.image_bytes(im, fmt)
        write_output(job, data, force)
        return {"width": im.width, "height": im.height, "output_bytes": len(data)}

    return run_batch("colorize", jobs, work, force=force, as_json=as_json)


def _format_of(dest: str) -> str:
    """Output image format: PNG on stdout, else from the extension (OutputError if unknown)."""
    return "PNG" if dest == STDIO else imageio.output_format(dest)


@cli.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
@_guarded
def info(file, as_json):
    """Show a .gcz file's header fields, chunks and compression ratio ('-' reads stdin)."""
    from .container import describe_gcz

    job = Job(file, STDIO)
    try:
        data = job.read_bytes()
        desc = describe_gcz(data)
    except Exception as exc:  # noqa: BLE001 - reported like a batch of one
        return report_error(file, exc)
    summary = {"file": file, **desc}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _print_info(summary)
    return EXIT_OK


def _print_info(summary: dict) -> None:
    for key, value in summary.items():
        if isinstance(value, list):
            click.echo(f"{key}:")
            for item in value:
                if isinstance(item, dict):
                    click.echo("  " + "  ".join(f"{k}={v}" for k, v in item.items()))
                else:
                    click.echo(f"  {item}")
        elif isinstance(value, dict):
            click.echo(f"{key}:")
            for k, v in value.items():
                click.echo(f"  {k}: {v}")
        else:
            click.echo(f"{key}: {value}")


# --- delegated commands -----------------------------------------------------------------------
# Each forwards its arguments untouched to its owner's ``main(argv)`` (argparse, with its own
# --help). Owners: edit only your own line (module path and help text).
DELEGATED = {
    # training engineer (graycodec/training/):
    "train": ("graycodec.training.train", "Train the colour predictor (see README, Training)."),
    "prepare": ("graycodec.training.prepare", "Build the training data cache (see README, Training)."),
    # evaluation engineer (graycodec/evaluation/):
    "eval": ("graycodec.evaluation.runner", "Evaluate graycodec and baselines; write a report."),
}


def _delegate(module_name: str, argv: list[str]) -> int:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise GraycodecError(f"{module_name} is not part of this build") from None
        raise
    return module.main(argv) or EXIT_OK


def _add_delegated(name: str, module_name: str, help_text: str) -> None:
    @cli.command(
        name,
        help=help_text + f" Options: graycodec {name} --help.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                          "help_option_names": []},
        add_help_option=False,
    )
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    @_guarded
    def command(argv):
        return _delegate(module_name, list(argv))


for _name, (_module, _help) in DELEGATED.items():
    _add_delegated(_name, _module, _help)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``graycodec`` command, ``python -m graycodec`` and ``cli.py``."""
    cli.main(args=argv, prog_name="graycodec")
