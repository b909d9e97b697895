"""The `graycodec` command: each command, batches, stdin/stdout, and every error path.

Every failure must be one line ``graycodec: error: ...`` on stderr with its documented exit
code, no traceback, and no output file left behind.
"""
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from graycodec import codec, container
from graycodec.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_LIMIT, EXIT_MODEL, EXIT_OUTPUT, EXIT_USAGE, ModelError

from conftest import KODAK, ROOT, random_rgb


def assert_one_error(result, code, *, contains=None):
    assert result.exit_code == code, (result.exit_code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("graycodec: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    if contains:
        assert contains in errors[0], errors[0]


@pytest.fixture
def gcz(tmp_path, rgb_png):
    path = tmp_path / "colour.gcz"
    path.write_bytes(codec.encode(rgb_png))
    return path


# --- encode / decode / colorize / info -----------------------------------------------------
def test_encode_then_decode_gray_next_to_input(cli_run, gray_png):
    r = cli_run("encode", gray_png)
    assert r.exit_code == 0, r.stderr
    gcz = gray_png.with_suffix(".gcz")
    assert gcz.is_file()
    out = gray_png.with_name("back.png")
    r = cli_run("decode", gcz, "--gray", "-o", out)
    assert r.exit_code == 0, r.stderr
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(gray_png)))
    assert Image.open(out).mode == "L"


def test_encode_folder_recursive_to_dir(cli_run, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(random_rgb(8, 9)).save(src / "a.png")
    Image.fromarray(random_rgb(8, 9, 1)).save(src / "sub" / "b.JPG")
    (src / "notes.txt").write_text("not an image")
    r = cli_run("encode", src, "-o", tmp_path / "out", "--hints", "low", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["ok"] == 2 and summary["failed"] == 0
    assert (tmp_path / "out" / "a.gcz").is_file() and (tmp_path / "out" / "sub" / "b.gcz").is_file()


def test_decode_batch_into_new_dir_loads_model_once(cli_run, tmp_path, fake_predictor):
    files = []
    for k in range(3):
        f = tmp_path / f"im{k}.gcz"
        f.write_bytes(codec.encode(random_rgb(10 + k, 12, k)))
        files.append(f)
    out = tmp_path / "new" / "outdir"
    # --workers 1: the fake model is this process's (worker processes would load the real one)
    r = cli_run("decode", *files, "-o", out, "--workers", "1")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["im0.png", "im1.png", "im2.png"]
    assert Image.open(out / "im1.png").mode == "RGB"
    assert fake_predictor.loads == 1 and len(fake_predictor.calls) == 3


@pytest.mark.parametrize("ext,mode", [(".png", "RGB"), (".jpg", "RGB"), (".webp", "RGB")])
def test_decode_colour_formats(cli_run, gcz, tmp_path, fake_predictor, ext, mode):
    out = tmp_path / f"c{ext}"
    r = cli_run("decode", gcz, "-o", out, "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    assert Image.open(out).mode == mode and Image.open(out).size == (32, 24)


def test_colorize(cli_run, gray_png, fake_predictor):
    r = cli_run("colorize", gray_png)
    assert r.exit_code == 0, r.stderr
    out = gray_png.with_name("gray.colorized.png")
    assert Image.open(out).mode == "RGB"
    assert fake_predictor.vividness == 1.0  # colorize renders vividly by default


def test_vividness_reaches_the_predictor_and_is_checked(cli_run, gcz, gray_png, tmp_path, fake_predictor):
    assert cli_run("decode", gcz, "-o", tmp_path / "a.png").exit_code == 0
    assert fake_predictor.vividness == 0.0  # decode aims at fidelity by default
    assert cli_run("decode", gcz, "-o", tmp_path / "b.png", "--vividness", "0.7").exit_code == 0
    assert fake_predictor.vividness == 0.7
    assert cli_run("colorize", gray_png, "-o", tmp_path / "c.png", "--vividness", "0").exit_code == 0
    assert fake_predictor.vividness == 0.0
    r = cli_run("decode", gcz, "-o", tmp_path / "d.png", "--vividness", "1.5")
    assert r.exit_code == 2 and "vividness" in r.stderr


def test_info_text_and_json(cli_run, gcz):
    r = cli_run("info", gcz)
    assert r.exit_code == 0, r.stderr
    assert "compression_ratio" in r.stdout
    r = cli_run("info", gcz, "--json")
    info = json.loads(r.stdout)
    assert info["width"] == 32 and info["height"] == 24
    assert info["compression_ratio"] > 0 and info["total_bytes"] == gcz.stat().st_size


def test_stdin_and_stdout(cli_run, rgb_png, tmp_path):
    r = cli_run("encode", "-", input=rgb_png.read_bytes())
    assert r.exit_code == 0, r.stderr
    data = r.stdout_bytes
    assert container.read_gcz(data).width == 32
    r = cli_run("decode", "-", "--gray", input=data)
    assert r.exit_code == 0, r.stderr
    im = Image.open(io.BytesIO(r.stdout_bytes))
    assert im.format == "PNG" and im.size == (32, 24)
    r = cli_run("encode", rgb_png, "-o", "-")
    assert r.stdout_bytes == data


def test_force_overwrites(cli_run, rgb_png, tmp_path):
    out = tmp_path / "x.gcz"
    assert cli_run("encode", rgb_png, "-o", out).exit_code == 0
    r = cli_run("encode", rgb_png, "-o", out)
    assert_one_error(r, EXIT_OUTPUT, contains="exists")
    assert cli_run("encode", rgb_png, "-o", out, "--force", "--max-error", "3").exit_code == 0


# --- errors ------------------------------------------------------------------------------------
def _no_outputs(tmp_path, *names):
    for n in names:
        assert not (tmp_path / n).exists()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("content", [b"", b"hello, not an image", b"\x89PNG\r\n\x1a\n\0\0\0"])
def test_encode_bad_inputs(cli_run, tmp_path, content):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    r = cli_run("encode", bad, "-o", tmp_path / "bad.gcz")
    assert_one_error(r, EXIT_BAD_INPUT, contains=str(bad))
    _no_outputs(tmp_path, "bad.gcz")


def _damaged(blob: bytes) -> dict:
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0xFF
    return {
        "truncated": blob[: len(blob) // 2],
        "header-only": blob[:10],
        "empty": b"",
        "bit-flipped": bytes(flipped),
        "wrong-magic": b"\0" * 4 + blob[4:],
        "trailing": blob + b"x",
        "not-gcz": b"just some text",
    }


@pytest.mark.parametrize("kind", list(_damaged(b"0123456789abcdef")))
@pytest.mark.parametrize("gray", [True, False])
def test_decode_damaged(cli_run, tmp_path, rgb_png, kind, gray, fake_predictor):
    bad = tmp_path / "bad.gcz"
    bad.write_bytes(_damaged(codec.encode(rgb_png, hints="medium"))[kind])
    r = cli_run("decode", bad, "-o", tmp_path / "bad.png", *(["--gray"] if gray else []))
    assert_one_error(r, EXIT_BAD_INPUT, contains=str(bad))
    _no_outputs(tmp_path, "bad.png")


def test_huge_header_refused(cli_run, tmp_path, rgb_png):
    gcz = container.read_gcz(codec.encode(rgb_png))
    huge = tmp_path / "huge.gcz"
    huge.write_bytes(forge_size(container.write_gcz(gcz), 100000, 100000))
    r = cli_run("decode", huge, "-o", tmp_path / "huge.png", "--gray")
    assert r.exit_code in (EXIT_LIMIT, EXIT_BAD_INPUT)
    assert_one_error(r, r.exit_code)
    _no_outputs(tmp_path, "huge.png")


def forge_size(blob: bytes, width: int, height: int) -> bytes:
    """The same .gcz with its header declaring another size (checksums recomputed)."""
    d = container.describe_gcz(blob)
    model = bytes.fromhex(d["model_id"]) if d["model_id"] else bytes(8)
    header = container.pack_header(width, height, d["coding"]["id"], d["max_error"], flags=d["flags"], model_id=model)
    return header + blob[container.HEADER_SIZE :]


def test_max_pixels_limit(cli_run, tmp_path, rgb_png, gcz):
    r = cli_run("encode", rgb_png, "-o", tmp_path / "x.gcz", "--max-pixels", "100")
    assert_one_error(r, EXIT_LIMIT)
    r = cli_run("decode", gcz, "-o", tmp_path / "x.png", "--gray", "--max-pixels", "100")
    assert_one_error(r, EXIT_LIMIT)
    _no_outputs(tmp_path, "x.gcz", "x.png")


def test_unwritable_outputs(cli_run, tmp_path, rgb_png):
    r = cli_run("encode", rgb_png, "-o", tmp_path / "missing" / "x.gcz")
    assert_one_error(r, EXIT_OUTPUT, contains="does not exist")
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    r = cli_run("encode", rgb_png, "-o", blocker / "x.gcz")
    assert_one_error(r, EXIT_OUTPUT)
    r = cli_run("encode", rgb_png, rgb_png, "-o", blocker / "dir")
    assert_one_error(r, EXIT_OUTPUT)
    gcz = tmp_path / "ok.gcz"
    gcz.write_bytes(codec.encode(rgb_png))
    r = cli_run("decode", gcz, "--gray", "-o", tmp_path / "x.xyz")
    assert_one_error(r, EXIT_OUTPUT, contains="unknown output extension")


def test_output_onto_input_refused(cli_run, rgb_png):
    r = cli_run("colorize", rgb_png, "-o", rgb_png, "--force")
    assert_one_error(r, EXIT_OUTPUT, contains="overwrite the input")


def test_batch_with_one_bad_file_goes_on(cli_run, tmp_path, rgb_png, gray_png):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    r = cli_run("encode", rgb_png, bad, gray_png, tmp_path / "missing.png", "-o", tmp_path / "out", "--json")
    assert r.exit_code == EXIT_FAILED
    errors = [line for line in r.stderr.splitlines() if line.startswith("graycodec: error:")]
    assert len(errors) == 2 and "bad.jpg" in errors[0] and "missing.png" in errors[1]
    assert "Traceback" not in r.stderr
    summary = json.loads(r.stdout)
    assert summary["ok"] == 2 and summary["failed"] == 2
    assert {x["exit_code"] for x in summary["results"] if not x["ok"]} == {EXIT_BAD_INPUT}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["colour.gcz", "gray.gcz"]


def test_no_model_is_one_error_and_stops_batch(cli_run, tmp_path, gcz, monkeypatch):
    def no_model(model=None, device="auto"):
        raise ModelError("no trained model found: models/ holds no weight file")

    monkeypatch.setattr(codec, "load_predictor", no_model)
    r = cli_run("decode", gcz, gcz.with_name("other.gcz"), "-o", tmp_path / "out", "--workers", "1")  # in-process fake
    assert_one_error(r, EXIT_MODEL, contains="no trained model")
    assert not list((tmp_path / "out").iterdir())


def test_model_mismatch_is_one_warning(cli_run, tmp_path, gcz, fake_predictor):
    img = container.read_gcz(gcz.read_bytes())
    img.model_id = "0123456789abcdef"
    gcz.write_bytes(container.write_gcz(img))
    r = cli_run("decode", gcz, "-o", tmp_path / "w.png")
    assert r.exit_code == 0
    warnings = [line for line in r.stderr.splitlines() if line.startswith("graycodec: warning:")]
    assert len(warnings) == 1 and "0123456789abcdef" in warnings[0]


def test_unexpected_error_is_one_line_unless_debug(cli_run, rgb_png, tmp_path, monkeypatch):
    def broken(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(codec, "encode", broken)
    r = cli_run("encode", rgb_png, "-o", tmp_path / "x.gcz")
    assert_one_error(r, EXIT_FAILED, contains="kaboom")
    r = cli_run("encode", rgb_png, "-o", tmp_path / "x.gcz", env={"GRAYCODEC_DEBUG": "1"})
    assert r.exit_code == EXIT_FAILED and "Traceback" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["encode"],
        ["encode", "x.png", "--hints", "ultra"],
        ["encode", "x.png", "--max-error", "-1"],
        ["decode", "x.gcz", "--device", "tpu"],
        ["encode", "a.png", "b.png", "-o", "-"],
        ["encode", "-", "-", "-o", "out"],
        ["encode", "-", "--json"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(cli_run, args):
    assert cli_run(*args).exit_code == EXIT_USAGE


# --- the three ways to run it -------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [["graycodec"], [sys.executable, "-m", "graycodec"], [sys.executable, str(ROOT / "cli.py")]],
    ids=["installed", "python-m", "shim"],
)
def test_entry_points(argv, tmp_path, gray_png):
    bad = tmp_path / "bad.gcz"
    bad.write_bytes(b"nope")
    r = subprocess.run([*argv, "decode", str(bad), "--gray"], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == EXIT_BAD_INPUT
    assert r.stderr.strip().startswith("graycodec: error:") and "Traceback" not in r.stderr
    r = subprocess.run([*argv, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "encode" in r.stdout and "info" in r.stdout


@pytest.mark.shared
def test_kodak_gray_round_trip_within_half_lstar(cli_run, tmp_path):
    from skimage import color as skcolor

    src = KODAK / "kodim23.png"
    cli_run("encode", src, "-o", tmp_path / "k.gcz")
    cli_run("decode", tmp_path / "k.gcz", "--gray", "-o", tmp_path / "k.png")
    ref = skcolor.rgb2lab(np.asarray(Image.open(src).convert("RGB")))[..., 0]
    out = skcolor.rgb2lab(np.asarray(Image.open(tmp_path / "k.png").convert("RGB")))[..., 0]
    assert np.abs(out - ref).max() <= 0.5
    assert os.path.getsize(tmp_path / "k.gcz") * 8 / ref.size < 8


def test_delegated_commands(cli_run):
    from graycodec import cli as cli_mod

    r = cli_run("eval", "--help")
    assert r.exit_code == 0 and "usage" in r.stdout.lower()
    with pytest.raises(cli_mod.GraycodecError, match="not part of this build"):
        cli_mod._delegate("graycodec.no_such_module", [])
    assert set(cli_mod.DELEGATED) <= set(cli_mod.cli.commands)


def test_output_folder_inside_input_folder_is_not_read_back(cli_run, tmp_path, gray_png, fake_predictor):
    for _ in range(2):
        r = cli_run("colorize", tmp_path, "-o", tmp_path / "colour", "--force")
        assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "colour").iterdir()) == ["gray.png"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(cli_run, tmp_path, rgb_png):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        r = cli_run("encode", rgb_png, "-o", ro / "x.gcz")
        assert_one_error(r, EXIT_OUTPUT, contains="cannot write")
        assert not list(ro.iterdir())
    finally:
        ro.chmod(0o755)


def test_ci_runs_the_readme_test_command():
    import re

    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)\n```", quick, flags=re.S)
    assert len(blocks) == 2, "the quick start is exactly two commands"
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == blocks[1].strip() and "set -euo pipefail" in ci


# --- issue 13: --quality, --lossless, F:S hints, and info ------------------------------------------
def test_encode_quality_and_info(cli_run, rgb_png, tmp_path):
    from graycodec import quality

    out = tmp_path / "q.gcz"
    r = cli_run("encode", rgb_png, "-o", out, "--quality", 70)
    assert r.exit_code == 0, r.stderr
    info = json.loads(cli_run("info", out, "--json").stdout)
    row = quality.setting(70)
    assert (info["quality"], info["max_error"], info["hints"]) == (70, row.max_error, row.hints)
    assert "quality: 70" in cli_run("info", out).stdout


def test_encode_quality_overrides_and_lossless(cli_run, rgb_png, tmp_path):
    out = tmp_path / "q.gcz"
    assert cli_run("encode", rgb_png, "-o", out, "--quality", 10, "--lossless", "--hints", "6:2").exit_code == 0
    info = json.loads(cli_run("info", out, "--json").stdout)
    assert (info["lossless"], info["hints"], info["quality"]) == (True, "6:2", 10)
    assert cli_run("encode", rgb_png, "-o", out, "--force", "--lossless").exit_code == 0
    info = json.loads(cli_run("info", out, "--json").stdout)
    assert (info["lossless"], info["hints"], info["quality"]) == (True, None, None)


@pytest.mark.parametrize("args", [["--quality", "101"], ["--quality", "-1"], ["--hints", "1:1"], ["--hints", "ultra"],
                                  ["--lossless", "--max-error", "3"]])
def test_encode_quality_usage_errors(cli_run, rgb_png, tmp_path, args):
    assert cli_run("encode", rgb_png, "-o", tmp_path / "x.gcz", *args).exit_code == EXIT_USAGE


def test_every_option_of_every_command_has_help():
    """Click commands and the argparse ones `graycodec` delegates to: no option without help text."""
    import importlib

    import click

    from graycodec import cli as cli_module

    missing = []
    for name, (module_name, _) in cli_module.DELEGATED.items():
        parser = importlib.import_module(module_name).build_parser()
        missing += [f"{name} {a.option_strings[0]}" for a in parser._actions
                    if a.option_strings and a.option_strings[0] not in ("-h", "--help") and not a.help]

    def walk(command, path):
        for param in command.params:
            if isinstance(param, click.Option) and not param.help and not param.hidden:
                missing.append(f"{path} {param.opts[0]}")
        for sub_name, sub in getattr(command, "commands", {}).items():
            if sub_name not in cli_module.DELEGATED:
                walk(sub, f"{path} {sub_name}".strip())

    walk(cli_module.cli, "")
    assert not missing, missing
