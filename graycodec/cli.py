"""The ``graycodec`` command: click parses, ``codec`` / ``imageio`` / ``container`` do the work.

Every command runs a *batch*: inputs (files, folders searched recursively, or ``-`` for
stdin) are paired with outputs, then processed one by one. A file that fails is reported as
one line ``graycodec: error: <file>: <message>`` on stderr and the batch goes on; the exit
code is that error's code for a single file, ``EXIT_FAILED`` (1) for a batch with failures
(codes in ``errors.py`` and the README). ``GRAYCODEC_DEBUG=1`` adds tracebacks.
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
import time
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import click

from . import __version__, codec, container, imageio
from .container import DEFAULT_MAX_PIXELS
from .errors import (EXIT_FAILED, EXIT_OK, DeviceError, FormatError, GraycodecError, ImageInputError, ModelError,
                     OutputError)
from .hints import LEVELS
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

    def read_gcz(self, max_pixels: int | None) -> bytes:
        """The .gcz bytes, read magic and header first and never past what the header allows
        (``info /dev/zero`` stops at the magic, an endless pipe at the size bound)."""
        if self.src == STDIO:
            return container.read_stream(click.get_binary_stream("stdin"), max_pixels=max_pixels)
        try:
            with open(self.src, "rb") as f:
                return container.read_stream(f, max_pixels=max_pixels)
        except FileNotFoundError:
            raise FormatError("no such file") from None
        except IsADirectoryError:
            raise FormatError("is a folder") from None
        except OSError as exc:
            raise FormatError(f"cannot read ({exc.strerror or exc})") from None

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
    imageio.check_writable(dest, force=force)


def _same_file(a, b) -> bool:
    """True when both paths exist and are one file (hard links, bind mounts)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


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
            # a missing model or device is not about this file: reported without its name
            general = isinstance(exc, (ModelError, DeviceError))
            code = report_error(None if general else job.src, exc)
            entry.update(ok=False, error=str(exc) or type(exc).__name__, exit_code=code)
            if general:  # every later file would fail the same way
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


def _check_device(device: str) -> None:
    """DeviceError (exit 2, one line naming --device cpu) before any work when CUDA is asked
    for and absent; torch is imported only for that question."""
    if device == "cuda":
        from .predictor import resolve_device

        resolve_device(device)


def _check_json_stdout(as_json: bool, output: str | None, inputs) -> None:
    if as_json and (output == STDIO or (output is None and STDIO in inputs)):
        raise click.UsageError("--json prints to stdout, which also receives the output: use -o FILE")


def _sizes(width: int, height: int, gcz_bytes: int, output_bytes: int) -> dict:
    """A result record's figures; ``bpp`` is always that of the .gcz."""
    return {"width": width, "height": height, "gcz_bytes": gcz_bytes, "output_bytes": output_bytes,
            "bpp": round(gcz_bytes * 8 / (width * height), 4)}


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
    jobs = plan_jobs(inputs, output, suffixes=imageio.IMAGE_EXTENSIONS, out_suffix=GCZ_SUFFIX,
                     default_dest=lambda p: p.with_suffix(GCZ_SUFFIX))

    def work(job: Job) -> dict:
        src = imageio.read_image(job.image_source(), max_pixels=max_pixels)
        data = codec.encode(src, hints=hints, max_error=max_error,
                            keep_metadata=not strip_metadata, max_pixels=max_pixels)
        write_output(job, data, force)
        return _sizes(src.width, src.height, len(data), len(data))

    return run_batch("encode", jobs, work, force=force, as_json=as_json)


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("-o", "--output", default=None,
              help="Output image (.png/.jpg/.webp/…), or folder for several inputs ('-' = PNG on stdout).")
@click.option("--gray/--color", "gray", default=None,
              help="--gray: the stored lightness plane only (no model needed); --color: colour even for a "
                   "gray source. Default: gray for files made from gray images, colour otherwise.")
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
    if gray is not True:
        _check_device(device)
    predictor = None if gray else _LazyPredictor(model, device)

    def work(job: Job) -> dict:
        fmt = _format_of(job.dest)  # before any work
        gcz = job.read_gcz(max_pixels)
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
    _check_device(device)
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
@_max_pixels
@_guarded
def info(file, as_json, max_pixels):
    """Show a .gcz file's header fields, chunks and compression ratio ('-' reads stdin)."""
    from .container import describe_gcz

    job = Job(file, STDIO)
    try:
        data = job.read_gcz(max_pixels)
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
