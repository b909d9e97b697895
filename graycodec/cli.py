"""The ``graycodec`` command: click parses and prints, ``batch`` / ``codec`` / ``container`` do the work.

Every command runs a *batch* (graycodec/batch.py): inputs (files, folders searched recursively, or ``-`` for
stdin) are paired with outputs, then processed one by one. A file that fails is reported as
one line ``graycodec: error: <file>: <message>`` on stderr and the batch goes on; the exit
code is that error's code for a single file, ``EXIT_FAILED`` (1) for a batch with failures
(codes in ``errors.py`` and the README). A batch ends with one summary line on stderr
(files, ok, failed, bytes in → out) unless it was one file that failed. ``GRAYCODEC_DEBUG=1`` adds tracebacks.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import traceback
import warnings

import click

from . import __version__, batch, codec, imageio, server
from .container import DEFAULT_MAX_PIXELS
from .errors import EXIT_FAILED, EXIT_OK, GraycodecError, ModelError
from .hints import LEVELS
from .lplane import MAX_ERROR_LIMIT

STDIO = batch.STDIO
GCZ_SUFFIX = batch.GCZ_SUFFIX
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


# --- batches (the work itself is graycodec/batch.py) -------------------------------------------
def _warn(text: str) -> None:
    _err_line(f"graycodec: warning: {text}")


def plan(inputs, output, **kwargs) -> list[batch.Job]:
    """``batch.plan_jobs``, its usage errors shown as click's."""
    try:
        return batch.plan_jobs(inputs, output, warn=_warn, **kwargs)
    except batch.UsageError as exc:
        raise click.UsageError(str(exc)) from None


def _streams() -> batch.Streams:
    return batch.Streams(click.get_binary_stream("stdin"), click.get_binary_stream("stdout"))


def run_batch(command: str, jobs: list[batch.Job], work, *, force: bool, as_json: bool, predictor=None) -> int:
    """Run the jobs with a progress bar on a terminal; one line per failure; a summary; exit code."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc=command, unit="file", file=sys.stderr, disable=not sys.stderr.isatty(),
               leave=False)
    if predictor is not None:  # the first colour file waits for the model: say so
        def loading():
            bar.set_description(f"{command} (loading model)")
            bar.refresh()
        predictor.on_load = loading

    def progress(done, total, src):
        bar.set_description(command)
        bar.update(1)

    def on_error(job, exc):
        # a missing model is not about this file: reported without its name
        report_error(None if isinstance(exc, ModelError) else job.src, exc)

    report = batch.run_jobs(command, jobs, work, force=force, on_error=on_error, progress=progress)
    bar.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif len(jobs) > 1 or not report.failed:  # a single file's error line is the whole story
        _err_line(f"graycodec: {report.summary_line()}")
    return report.exit_code


def _check_json_stdout(as_json: bool, output: str | None, inputs) -> None:
    if as_json and (output == STDIO or (output is None and STDIO in inputs)):
        raise click.UsageError("--json prints to stdout, which also receives the output: use -o FILE")


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


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None, help="Output file, or folder for several inputs ('-' = stdout).")
@click.option("--hints", type=click.Choice(list(LEVELS)), default="none", show_default=True,
              help="Store a tiny a/b thumbnail to guide the colours.")
@click.option("--max-error", type=click.IntRange(0, MAX_ERROR_LIMIT), default=0, show_default=True,
              help="Largest error allowed in the stored lightness plane (0 = lossless).")
@click.option("--strip-metadata", is_flag=True, help="Do not store the ICC profile and EXIF.")
@_max_pixels
@_force
@_json
@_guarded
def encode(inputs, output, hints, max_error, strip_metadata, max_pixels, force, as_json):
    """Encode images (files, folders, or '-' for stdin) into .gcz files."""
    _check_json_stdout(as_json, output, inputs)
    jobs = plan(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=GCZ_SUFFIX,
                default_dest=lambda p: p.with_suffix(GCZ_SUFFIX))
    work = batch.encode_work(_streams(), force=force, max_pixels=max_pixels, hints=hints, max_error=max_error,
                             keep_metadata=not strip_metadata)
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
    jobs = plan(inputs, output, suffixes=(GCZ_SUFFIX,), out_suffix=".png",
                default_dest=lambda p: p.with_suffix(".png"), file_needs_suffix=True)
    predictor = None if gray else batch.LazyPredictor(model, device)
    work = batch.decode_work(_streams(), force=force, max_pixels=max_pixels, gray=gray, predictor=predictor,
                             vividness=vividness)
    return run_batch("decode", jobs, work, force=force, as_json=as_json, predictor=predictor)


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
    jobs = plan(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=".png",
                default_dest=lambda p: p.with_name(p.stem + ".colorized.png"), file_needs_suffix=True)
    predictor = batch.LazyPredictor(model, device)
    work = batch.colorize_work(_streams(), force=force, max_pixels=max_pixels, predictor=predictor,
                               vividness=vividness)
    return run_batch("colorize", jobs, work, force=force, as_json=as_json, predictor=predictor)


@cli.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
@_guarded
def info(file, as_json):
    """Show a .gcz file's header fields, chunks and compression ratio ('-' reads stdin)."""
    from .container import describe_gcz

    try:
        data = _streams().read(batch.Job(file, STDIO))
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


# --- front-ends: the web page and the survey kit -------------------------------------------------
@cli.command()
@click.option("--host", default=server.DEFAULT_HOST, show_default=True,
              help="Address to listen on (loopback: this computer only; 0.0.0.0 opens it to the network).")
@click.option("--port", type=click.IntRange(0, 65535), default=server.DEFAULT_PORT, show_default=True,
              help="Port (0 = any free one).")
@click.option("--max-upload-mb", type=click.FloatRange(min=0.001), default=server.DEFAULT_MAX_UPLOAD / 2**20,
              show_default=True,
              help="Refuse request bodies larger than this (413).")
@click.option("--max-pixels", type=click.IntRange(min=1), default=server.DEFAULT_MAX_PIXELS, show_default=True,
              help="Refuse images with more pixels than this (413).")
@_device
@_model
@_guarded
def serve(host, port, max_upload_mb, max_pixels, device, model):
    """Serve a local web page to encode, decode and colorize, and its HTTP API (/api/...)."""
    app = server.App(model=model, device=device, max_upload=int(max_upload_mb * 2**20), max_pixels=max_pixels)
    try:
        httpd = server.make_server(app, host, port)
    except OSError as exc:
        raise GraycodecError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"graycodec: serving http://{shown}:{httpd.server_address[1]}/ (Ctrl-C stops)", err=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return EXIT_OK


@cli.group()
def survey():
    """The colorization Turing test: build a survey page, score the answers."""


@survey.command("build")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", required=True, help="Folder for index.html, the photos and key.json.")
@click.option("--count", type=click.IntRange(min=2), default=10, show_default=True, help="Photos to show.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same photos and answers.")
@click.option("--size", type=click.IntRange(min=16), default=512, show_default=True, help="Long side of the shown photos.")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.COLORIZE_VIVIDNESS, show_default=True,
              help="Colour of the colorized photos: 0 = fidelity … 1 = most vivid.")
@_device
@_model
@_force
@_guarded
def survey_build(inputs, output, count, seed, size, vividness, device, model, force):
    """Write a static survey page (DIR/index.html) and its answer key (DIR/key.json)."""
    from . import survey as survey_mod

    predictor = batch.LazyPredictor(model, device)
    n_photos = len(batch.find_images(inputs, imageio.IMAGE_EXTENSIONS))
    if count > n_photos:
        _warn(f"--count {count} is more than the {n_photos} photos: some photos are shown twice")
    items = survey_mod.build(inputs, output, count=count, seed=seed, size=size, predictor=predictor,
                             vividness=vividness, force=force)
    n_col = sum(i.truth == survey_mod.COLORIZED for i in items)
    _err_line(f"graycodec: survey: {len(items)} photos ({len(items) - n_col} real, {n_col} colorized) in "
              f"{output}; open {os.path.join(output, survey_mod.PAGE_FILE)}, keep {survey_mod.KEY_FILE} to yourself")
    return EXIT_OK


@survey.command("score")
@click.argument("folder")
@click.argument("answers", nargs=-1, required=True)
@_json
@_guarded
def survey_score(folder, answers, as_json):
    """Fool rate and error rate (95 % intervals) of answer files, per participant, per photo, overall."""
    from . import survey as survey_mod

    result = survey_mod.score(folder, answers)
    click.echo(json.dumps(result, indent=2) if as_json else survey_mod.format_report(result))
    return EXIT_OK


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
