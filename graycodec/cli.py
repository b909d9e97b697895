"""The ``graycodec`` command: click parses and prints, ``batch`` / ``codec`` / ``container`` do the work.

Every command runs a *batch* (graycodec/batch.py): inputs (files, folders searched recursively, or ``-`` for
stdin) are paired with outputs, then processed one by one. A file that fails is reported as
one line ``graycodec: error: <file>: <message>`` on stderr and the batch goes on; the exit
code is that error's code for a single file, ``EXIT_FAILED`` (1) for a batch with failures
(codes in ``errors.py`` and the README). A batch ends with one summary line on stderr
(files, ok, failed, bytes in → out) unless it was one file that failed. ``GRAYCODEC_DEBUG=1`` adds tracebacks.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import re
import signal
import sys
import traceback
import warnings

import click

from . import __version__, batch, codec, imageio, server
from .container import DEFAULT_MAX_PIXELS
from .errors import EXIT_FAILED, EXIT_OK, DeviceError, GraycodecError, ModelError
from .hints import LEVELS, MAX_SEARCH_STEPS as MAX_HINT_SEARCH, SEARCH_STEPS as SUGGESTED_HINT_STEPS, parse_spec
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
    # sys.stdin.buffer, not click.get_binary_stream (deprecated in click 8.5): the same binary
    # streams, also under click's test runner, which swaps sys.stdin and sys.stdout.
    return batch.Streams(sys.stdin.buffer, sys.stdout.buffer)


def run_batch(command: str, jobs: list[batch.Job], work, *, force: bool, as_json: bool, predictor=None,
              workers: int | None = None, batch_size: int = 1, runner=None) -> int:
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
        report_error(None if isinstance(exc, (ModelError, DeviceError)) else job.src, exc)

    if runner is None:
        report = batch.run_jobs(command, jobs, work, force=force, on_error=on_error, progress=progress,
                                workers=workers, batch_size=batch_size)
    else:  # another engine (the Dask cluster): runner(on_error, progress) -> BatchReport
        report = runner(on_error, progress)
    bar.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    elif len(jobs) > 1 or not report.failed:  # a single file's error line is the whole story
        _err_line(f"graycodec: {report.summary_line()}")
    return report.exit_code


def _check_device(device: str) -> None:
    """DeviceError (exit 2, one line naming --device cpu) before any work when CUDA is asked
    for and absent; torch is imported only for that question."""
    if device == "cuda":
        from .predictor import resolve_device

        resolve_device(device)


def _check_json_stdout(as_json: bool, output: str | None, inputs) -> None:
    if as_json and (output == STDIO or (output is None and STDIO in inputs)):
        raise click.UsageError("--json prints to stdout, which also receives the output: use -o FILE")


# --- the command group -----------------------------------------------------------------------
class _Group(click.Group):
    """click's group, with usage errors in the one format of every error:
    ``graycodec: error: <message> (see 'graycodec CMD --help')``, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            where = exc.ctx.command_path if getattr(exc, "ctx", None) else "graycodec"
            message = " ".join(exc.format_message().split()).rstrip(".")
            _err_line(f"graycodec: error: {message} (see '{where} --help')")
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _err_line("graycodec: error: aborted")
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _quiet_broken_pipe() -> None:
    """A closed stdout (``graycodec info f | head``) ends the process quietly, as other Unix
    tools do: the default SIGPIPE action instead of Python's BrokenPipeError at exit."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _compile_notice() -> None:
    _err_line("graycodec: note: compiling the lightness coder for this machine (first run only, "
              "about 10 s; cached afterwards)")


@click.group(name="graycodec", cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graycodec")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """graycodec: store an image's lightness, restore its colour with a neural network.

    Exit codes: 0 ok, 1 a batch had failures or an unexpected error, 2 usage, 3 bad input,
    4 output exists or cannot be written, 5 no usable model, 6 image over --max-pixels.
    """
    ctx.with_resource(warnings.catch_warnings())
    warnings.showwarning = _show_warning
    # one warning per file of a batch, not once per process (Python's default)
    warnings.simplefilter("always", codec.ModelMismatchWarning)
    from . import lplane

    lplane.set_compile_notice(_compile_notice)


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
_workers = click.option(
    "--workers", "-j", type=click.IntRange(min=1), default=None,
    help="Processes working on the files at once (default: every usable core; 1: this process only). "
         "Outputs, error lines and the summary are the same for any count.")
_batch_size = click.option(
    "--batch-size", type=click.IntRange(min=1), default=None,
    help="Images per pass of the colour network: > 1 runs the GPU pipeline (one process drives the "
         "device, --workers threads read and write). Default: 16 on CUDA, 1 (per image) on the CPU.")
GPU_BATCH_SIZE = 16


def resolve_batch_size(batch_size: int | None, device: str) -> int:
    """--batch-size, or its default: GPU_BATCH_SIZE when the model runs on CUDA, else 1. torch is
    imported for that question only where an NVIDIA driver is present."""
    if batch_size is not None:
        return batch_size
    if device == "cpu" or (device == "auto" and not os.path.exists("/dev/nvidiactl")):
        return 1
    from .predictor import resolve_device

    return GPU_BATCH_SIZE if resolve_device(device).type == "cuda" else 1


_model = click.option("--model", type=click.Path(dir_okay=False), default=None,
                      help="Weight file to use instead of the shipped model.")


def _colour_batch_options(func):
    """The options that decode and colorize share (device, model, limits, workers, batch size,
    --force, --json), in this order in --help, and their one-line error reporting."""
    for option in (_guarded, _json, _force, _batch_size, _workers, _max_pixels, _model, _device):
        func = option(func)  # innermost first: what a stack of decorators does from the bottom up
    return func


def _check_hints(ctx, param, value):
    try:
        parse_spec(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


_hint_search = click.option(
    "--hint-search", type=click.IntRange(0, MAX_HINT_SEARCH), default=0, metavar="STEPS",
    help=f"Refit the stored hints to what the model's refiner makes of them, in STEPS of gradient descent "
         f"({SUGGESTED_HINT_STEPS} lowers the colour error by about 5 % and costs seconds per image on a CPU; "
         f"default 0: the plain block means, no model needed). Only with hints.")


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
@_hint_search
@_max_pixels
@_workers
@_force
@_json
@_guarded
def encode(inputs, output, quality, lossless, hints, max_error, strip_metadata, hint_search, max_pixels, workers,
           force, as_json):
    """Encode images (files, folders, or '-' for stdin) into .gcz files."""
    _check_json_stdout(as_json, output, inputs)
    if lossless and max_error:
        raise click.UsageError("--lossless and --max-error > 0 contradict each other")
    max_error = 0 if lossless else max_error
    jobs = plan(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=GCZ_SUFFIX,
                default_dest=lambda p: p.with_suffix(GCZ_SUFFIX))
    work = batch.encode_work(_streams(), force=force, max_pixels=max_pixels, hints=hints, max_error=max_error,
                             keep_metadata=not strip_metadata, hint_search=hint_search,
                             **batch.encode_options(quality=quality))
    return run_batch("encode", jobs, work, force=force, as_json=as_json, workers=workers)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None,
              help="Output image (.png/.jpg/.webp/…), or folder for several inputs ('-' = PNG on stdout).")
@click.option("--gray/--color", "gray", default=None,
              help="--gray: the stored lightness plane only (no model needed); --color: colour even for a "
                   "gray source. Default: gray for files made from gray images, colour otherwise.")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.DECODE_VIVIDNESS, show_default=True,
              help="Colour without hints: 0 = fidelity (least colour error at 60 % of the originals' colourfulness) … 1 = vivid (85 %); higher is more saturated, same hue.")
@_colour_batch_options
def decode(inputs, output, gray, vividness, device, model, max_pixels, workers, batch_size, force, as_json):
    """Decode .gcz files to colour images (or the stored lightness with --gray)."""
    _check_json_stdout(as_json, output, inputs)
    jobs = plan(inputs, output, suffixes=(GCZ_SUFFIX,), out_suffix=".png",
                default_dest=lambda p: p.with_suffix(".png"), file_needs_suffix=True)
    if gray is not True:
        _check_device(device)
    predictor = None if gray else batch.LazyPredictor(model, device)
    work = batch.decode_work(_streams(), force=force, max_pixels=max_pixels, gray=gray, predictor=predictor,
                             vividness=vividness)
    return run_batch("decode", jobs, work, force=force, as_json=as_json, predictor=predictor, workers=workers,
                     batch_size=1 if gray else resolve_batch_size(batch_size, device))


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None,
              help="Output image, or folder for several inputs ('-' = PNG on stdout). "
                   "Default: <name>.colorized.png beside each input (in the input's own folder).")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.COLORIZE_VIVIDNESS, show_default=True,
              help="0 = fidelity (least colour error at 60 % of the originals' colourfulness) … 1 = vivid (85 %); higher is more saturated, same hue.")
@_colour_batch_options
def colorize(inputs, output, vividness, device, model, max_pixels, workers, batch_size, force, as_json):
    """Colorize any images (old black-and-white photos) from their lightness alone."""
    _check_json_stdout(as_json, output, inputs)
    jobs = plan(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=".png",
                default_dest=lambda p: p.with_name(p.stem + ".colorized.png"), file_needs_suffix=True)
    _check_device(device)
    predictor = batch.LazyPredictor(model, device)
    work = batch.colorize_work(_streams(), force=force, max_pixels=max_pixels, predictor=predictor,
                               vividness=vividness)
    return run_batch("colorize", jobs, work, force=force, as_json=as_json, predictor=predictor, workers=workers,
                     batch_size=resolve_batch_size(batch_size, device))


@cli.command()
@click.argument("file")
@click.option("--json", "as_json", is_flag=True, help="Print the fields as JSON.")
@_max_pixels
@_guarded
def info(file, as_json, max_pixels):
    """Show a .gcz file's header fields, chunks and compression ratio ('-' reads stdin)."""
    from .container import describe_gcz

    try:
        data = _streams().read_gcz(batch.Job(file, STDIO), max_pixels)
        desc = describe_gcz(data, max_pixels=max_pixels)
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


# --- the same batch on a Dask cluster (graycodec/cluster.py; pip install 'graycodec[cluster]') -------
@cli.group()
def cluster():
    """Run encode / decode / colorize on a Dask cluster (the 'cluster' extra)."""


_scheduler = click.option("--scheduler", default=None, metavar="ADDRESS",
                          help="Dask scheduler to use (e.g. tcp://host:8786). Default: a local cluster.")
_local = click.option("--local", "local", type=click.IntRange(min=1), default=None, metavar="N",
                      help="Without --scheduler: worker processes of the local cluster (default: every usable core).")
_cluster_out = click.option("-o", "--output", required=True,
                            help="Output folder (a path, file:// or another fsspec URL every worker can write).")


def _on_cluster(command: str, inputs, output, work, *, suffixes, out_suffix, scheduler, local, force, as_json):
    from . import cluster as cluster_mod

    try:
        jobs = cluster_mod.plan(inputs, output, suffixes=suffixes, out_suffix=out_suffix, warn=_warn)
        client = cluster_mod.connect(scheduler, local)
    except batch.UsageError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        return run_batch(command, jobs, None, force=force, as_json=as_json, runner=lambda on_error, progress:
                         cluster_mod.run(command, jobs, work.spec, client=client, force=force, on_error=on_error,
                                         progress=progress))
    finally:
        client.close()
        getattr(client, "close_cluster", lambda: None)()


@cluster.command("encode")
@click.argument("inputs", nargs=-1, required=True)
@_cluster_out
@click.option("--quality", type=click.IntRange(0, 100), default=None, help="As `graycodec encode --quality`.")
@click.option("--hints", callback=_check_hints, default=None, help="As `graycodec encode --hints`.")
@click.option("--max-error", type=click.IntRange(0, MAX_ERROR_LIMIT), default=None, help="As `graycodec encode`.")
@click.option("--strip-metadata", is_flag=True, help="Do not store the ICC profile and EXIF.")
@_hint_search
@_scheduler
@_local
@_max_pixels
@_force
@_json
@_guarded
def cluster_encode(inputs, output, quality, hints, max_error, strip_metadata, hint_search, scheduler, local,
                   max_pixels, force, as_json):
    """Encode images (folders, files, URIs) into .gcz files on a Dask cluster."""
    work = batch.encode_work(batch.Streams(), force=force, max_pixels=max_pixels, hints=hints, max_error=max_error,
                             keep_metadata=not strip_metadata, hint_search=hint_search,
                             **batch.encode_options(quality=quality))
    return _on_cluster("encode", inputs, output, work, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=GCZ_SUFFIX,
                       scheduler=scheduler, local=local, force=force, as_json=as_json)


def _cluster_colour_options(func):
    """The options that cluster decode and colorize share, in this order in --help."""
    for option in (_guarded, _json, _force, _max_pixels, _local, _scheduler, _model, _device):
        func = option(func)  # innermost first, as a stack of decorators from the bottom up
    return func


@cluster.command("decode")
@click.argument("inputs", nargs=-1, required=True)
@_cluster_out
@click.option("--gray/--color", "gray", default=None, help="As `graycodec decode --gray/--color`.")
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.DECODE_VIVIDNESS, show_default=True,
              help="As `graycodec decode --vividness`.")
@_cluster_colour_options
def cluster_decode(inputs, output, gray, vividness, device, model, scheduler, local, max_pixels, force, as_json):
    """Decode .gcz files (folders, files, URIs) to PNG on a Dask cluster."""
    predictor = None if gray else batch.LazyPredictor(model, device)  # never loaded here: a recipe for the workers
    work = batch.decode_work(batch.Streams(), force=force, max_pixels=max_pixels, gray=gray, predictor=predictor,
                             vividness=vividness)
    return _on_cluster("decode", inputs, output, work, suffixes=(GCZ_SUFFIX,), out_suffix=".png",
                       scheduler=scheduler, local=local, force=force, as_json=as_json)


@cluster.command("colorize")
@click.argument("inputs", nargs=-1, required=True)
@_cluster_out
@click.option("--vividness", type=click.FloatRange(0.0, 1.0), default=codec.COLORIZE_VIVIDNESS, show_default=True,
              help="As `graycodec colorize --vividness`.")
@_cluster_colour_options
def cluster_colorize(inputs, output, vividness, device, model, scheduler, local, max_pixels, force, as_json):
    """Colorize images (folders, files, URIs) to PNG on a Dask cluster."""
    work = batch.colorize_work(batch.Streams(), force=force, max_pixels=max_pixels,
                               predictor=batch.LazyPredictor(model, device), vividness=vividness)
    return _on_cluster("colorize", inputs, output, work, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=".png",
                       scheduler=scheduler, local=local, force=force, as_json=as_json)


# --- delegated commands -----------------------------------------------------------------------
# train, prepare and eval keep their argparse parser (``build_parser()`` in their module: the
# training card rebuilds commands from it, torchrun runs the module directly). Here each becomes
# a click command whose options are made from that parser on first use (so torch is imported
# only when the command runs): click's help, defaults and errors, then the module's
# ``main(argv)`` with the options given. Owners: edit only your own line.
DELEGATED = {
    # training engineer (graycodec/training/):
    "train": ("graycodec.training.train", "Train the colour predictor (see README, Training)."),
    "prepare": ("graycodec.training.prepare", "Build the training data cache (see README, Training)."),
    "train-refiner": ("graycodec.training.refine", "Train the full-resolution hint refiner (see docs/TRAINING.md)."),
    # evaluation engineer (graycodec/evaluation/):
    "eval": ("graycodec.evaluation.runner", "Evaluate graycodec and baselines; write a report."),
}


def _delegate(module_name: str, argv: list[str]) -> int:
    return _module(module_name).main(argv) or EXIT_OK


def _module(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise GraycodecError(f"{module_name} is not part of this build") from None
        raise


_DEFAULT_NOTE = re.compile(r"\s*\(default:? [^)]*\)")


def _click_param(name: str, action: argparse.Action) -> click.Parameter:
    """The click parameter meaning one argparse action (``name``: its click name)."""
    default = None if action.default in (None, argparse.SUPPRESS) else action.default
    text = (action.help or "").replace("%(default)s", str(default)).replace("%%", "%")
    if not action.option_strings:
        many = action.nargs in ("+", "*")
        return click.Argument([name], nargs=-1 if many else 1, required=action.nargs != "*",
                              metavar=(action.metavar or action.dest.upper()) + ("..." if many else ""))
    if isinstance(action, argparse.BooleanOptionalAction):
        decls = [f"{action.option_strings[0]}/{action.option_strings[1]}"]
        kind = {"default": default}
    elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        decls, kind, default = list(action.option_strings), {"is_flag": True, "default": False}, None
    else:
        decls = list(action.option_strings)
        kind = {"default": default, "multiple": isinstance(action, argparse._AppendAction),
                "required": action.required, "metavar": action.metavar}
        if action.choices:
            kind["type"] = click.Choice([str(c) for c in action.choices])
        elif action.type in (int, float):
            kind["type"] = click.INT if action.type is int else click.FLOAT
        if kind["multiple"]:
            kind["default"] = None
    if default is not None and not isinstance(default, bool):
        text = _DEFAULT_NOTE.sub("", text)  # click shows [default: …] itself
    return click.Option([*decls, name], help=text or None, show_default=True, **kind)


def _argv(params: list[tuple[click.Parameter, argparse.Action]], ctx: click.Context, values: dict) -> list[str]:
    """The argv meaning the options given on the command line (defaults left to argparse)."""
    opts, positional = [], []
    for param, action in params:
        if ctx.get_parameter_source(param.name) != click.core.ParameterSource.COMMANDLINE:
            continue
        value = values[param.name]
        if not action.option_strings:
            positional += [str(v) for v in (value if isinstance(value, tuple) else (value,))]
        elif isinstance(action, argparse.BooleanOptionalAction):
            opts.append(action.option_strings[0 if value else 1])
        elif isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            opts += [action.option_strings[0]] if value else []
        elif isinstance(action, argparse._AppendAction):
            for v in value:
                opts += [action.option_strings[0], str(v)]
        else:
            opts += [action.option_strings[0], str(value)]
    if any(p.startswith("-") for p in positional):
        return opts + ["--"] + positional
    return positional + opts


class _ArgparseCommand(click.Command):
    """A click command made from a module's argparse ``build_parser()`` (see above)."""

    def __init__(self, name: str, module_name: str, help_text: str):
        super().__init__(name, help=help_text, short_help=help_text, callback=self._run)
        self.module_name = module_name
        self._actions = None

    def get_params(self, ctx):
        if self._actions is None:
            parser = _module(self.module_name).build_parser()
            self._parser = parser
            self._actions = [(_click_param(f"arg{i}", a), a) for i, a in enumerate(parser._actions)
                             if not isinstance(a, argparse._HelpAction)]
            self.params = [p for p, _ in self._actions]
        return super().get_params(ctx)

    def _run(self, **values):
        ctx = click.get_current_context()
        for group in self._parser._mutually_exclusive_groups:
            given = [a.option_strings[0] for p, a in self._actions if a in group._group_actions
                     and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]
            if len(given) > 1:
                raise click.UsageError(f"{' and '.join(given)} cannot be used together", ctx)
        argv = _argv(self._actions, ctx, values)

        def usage_error(parser, message):  # argparse's own checks after click's, same format
            raise click.UsageError(message, ctx)

        original, argparse.ArgumentParser.error = argparse.ArgumentParser.error, usage_error
        try:
            return _delegate(self.module_name, argv)
        finally:
            argparse.ArgumentParser.error = original


for _name, (_module_name, _help) in DELEGATED.items():
    _cmd = _ArgparseCommand(_name, _module_name, _help)
    _cmd.callback = _guarded(_cmd._run)
    cli.add_command(_cmd)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``graycodec`` command, ``python -m graycodec`` and ``cli.py``."""
    _quiet_broken_pipe()
    cli.main(args=argv, prog_name="graycodec")
