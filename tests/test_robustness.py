"""Issue 15: promises kept under a newcomer's and an adversary's hands.

Each test names the item of the issue it covers; each failed before its fix.
"""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graycodec import codec, container, imageio, lplane
from graycodec.container import GczImage, pack_chunk, pack_header, read_gcz, write_gcz
from graycodec.errors import (EXIT_BAD_INPUT, EXIT_LIMIT, EXIT_MODEL, EXIT_OUTPUT, EXIT_USAGE, FormatError,
                              OutputError)
from graycodec.lplane import _zstd, strips

ROOT = Path(__file__).resolve().parents[1]
PLANE = (np.add.outer(np.arange(5) * 40, np.arange(7) * 9) % 256).astype(np.uint8)
# PLANE encoded by graycodec before issue 15 (format 1.0, no gRAY chunk): must still decode.
GOLDEN_1_0 = bytes.fromhex(
    "8947435a0d0a1a0a0100070000000500000001030000c59679dd4343dee4c563ec864c504c4e7100000005010a00000000"
    "000000000000000000000000000000000000020b030c0d16101928b52ffd2001090000ff28b52ffd2002110000061728b5"
    "2ffd200319000011081128b52ffd200d6900000201010100000000010100000028b52ffd20108100006e11281108060403"
    "03431c03210c160ae230718949454e4400000000826042ae")


def run_cli(*args, env=None, timeout=120, **kw):
    """The installed entry point in a subprocess (what a user runs)."""
    return subprocess.run([sys.executable, "-m", "graycodec", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, **kw)


# --- item 2: a gray source decodes gray -------------------------------------------------------
def test_gray_source_recorded_and_decoded_gray(monkeypatch):
    data = codec.encode(Image.fromarray(PLANE, "L"))
    desc = container.describe_gcz(data)
    assert desc["version"] == "1.1" and desc["source"] == "gray" and "gRAY" in [c["type"] for c in desc["chunks"]]
    monkeypatch.setattr(codec, "load_predictor", lambda *a, **k: pytest.fail("a gray file needs no model"))
    out = codec.decode(data)
    assert out.mode == "L" and np.array_equal(np.asarray(out), PLANE)


def test_gray_source_colour_on_request(fake_predictor):
    data = codec.encode(PLANE)
    assert codec.decode(data, gray=False).mode == "RGB" and fake_predictor.loads == 1


def test_rgb_with_equal_channels_is_gray_and_colour_is_not():
    assert read_gcz(codec.encode(np.dstack([PLANE] * 3))).gray_source
    colour = np.dstack([PLANE, PLANE, 255 - PLANE])
    img = read_gcz(codec.encode(colour))
    assert not img.gray_source and container.describe_gcz(codec.encode(colour))["version"] == "1.0"


def test_old_files_still_decode_as_before(fake_predictor):
    img = read_gcz(GOLDEN_1_0)
    assert np.array_equal(img.plane, PLANE) and not img.gray_source
    assert codec.decode(GOLDEN_1_0).mode == "RGB"  # no gRAY chunk: colour, as it always was


def test_gray_chunk_must_be_empty():
    payload = lplane.encode_plane(PLANE, mode=lplane.MODE_MED)[1]
    bad = pack_header(7, 5, lplane.MODE_MED) + pack_chunk(b"LPLN", payload) + pack_chunk(b"gRAY", b"x") \
        + pack_chunk(b"IEND", b"")
    with pytest.raises(FormatError, match="gRAY"):
        read_gcz(bad)


def test_cli_decodes_gray_png_to_gray(cli_run, tmp_path, fake_predictor):
    Image.fromarray(PLANE, "L").save(tmp_path / "g.png")
    assert cli_run("encode", tmp_path / "g.png", "-o", tmp_path / "g.gcz").exit_code == 0
    assert cli_run("decode", tmp_path / "g.gcz", "-o", tmp_path / "g.out.png").exit_code == 0
    out = Image.open(tmp_path / "g.out.png")
    assert out.mode == "L" and np.array_equal(np.asarray(out), PLANE) and fake_predictor.loads == 0
    assert cli_run("decode", tmp_path / "g.gcz", "-o", tmp_path / "c.png", "--color").exit_code == 0
    assert Image.open(tmp_path / "c.png").mode == "RGB" and fake_predictor.loads == 1


# --- item 3: two writers, one name --------------------------------------------------------------
def test_writer_that_loses_the_race_fails(tmp_path, monkeypatch):
    """Another writer lands its file just before this one claims the name: this one must fail."""
    dest = tmp_path / "out.gcz"
    real_link, real_replace = os.link, os.replace

    def competitor_first(real):
        def commit(src, dst, *a, **k):
            if Path(dst) == dest and not dest.exists():
                dest.write_bytes(b"theirs")
            return real(src, dst, *a, **k)
        return commit

    monkeypatch.setattr(os, "link", competitor_first(real_link))
    monkeypatch.setattr(os, "replace", competitor_first(real_replace))
    with pytest.raises(OutputError, match="exists"):
        imageio.write_atomic(dest, b"mine")
    assert dest.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["out.gcz"]


def test_racing_writers_exactly_one_wins(tmp_path):
    for r in range(30):
        dest = tmp_path / f"r{r}.gcz"
        barrier, wins = threading.Barrier(4), []

        def write(i):
            barrier.wait()
            try:
                imageio.write_atomic(dest, b"writer %d" % i)
                wins.append(i)
            except OutputError:
                pass

        threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(wins) == 1 and dest.read_bytes() == b"writer %d" % wins[0]
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]


# --- item 4: a killed writer's temporary file ----------------------------------------------------
def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temp_files_removed_live_ones_kept(tmp_path):
    stale = tmp_path / f".a.png{imageio.TMP_MARK}{dead_pid()}-x1y2.tmp"
    live = tmp_path / f".b.png{imageio.TMP_MARK}{os.getppid()}-x1y2.tmp"
    other = tmp_path / ".c.png.tmp"  # not graycodec's: never touched
    for p in (stale, live, other):
        p.write_bytes(b"partial")
    imageio.write_atomic(tmp_path / "new.gcz", b"data")
    assert not stale.exists() and live.exists() and other.exists()


def test_killed_writer_leaves_a_recognisable_temp_file_that_the_next_write_removes(tmp_path):
    code = ("import os, sys; from graycodec import imageio\n"
            "real = os.link\n"
            "def hang(*a): os.kill(os.getpid(), 9)\n"
            "os.link = hang\n"
            "imageio.write_atomic(sys.argv[1], b'x' * 100000)\n")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "k.gcz")], timeout=60)
    left = os.listdir(tmp_path)
    assert len(left) == 1 and imageio.TMP_MARK in left[0]  # killed between write and rename
    imageio.write_atomic(tmp_path / "next.gcz", b"data")
    assert os.listdir(tmp_path) == ["next.gcz"]


# --- item 5: output paths through symlinks ----------------------------------------------------
def test_output_through_symlinked_folder_is_not_the_input(cli_run, tmp_path, monkeypatch):
    (tmp_path / "real").mkdir()
    Image.fromarray(PLANE, "L").save(tmp_path / "real" / "p.png")
    before = (tmp_path / "real" / "p.png").read_bytes()
    os.symlink("real", tmp_path / "alias")
    monkeypatch.chdir(tmp_path)
    r = cli_run("encode", "real/p.png", "-o", "alias/p.png", "--force")
    assert r.exit_code == EXIT_OUTPUT and "overwrite the input" in r.stderr
    assert (tmp_path / "real" / "p.png").read_bytes() == before


def test_dangling_symlink_output_needs_force(cli_run, tmp_path):
    Image.fromarray(PLANE, "L").save(tmp_path / "q.png")
    os.symlink("missing.gcz", tmp_path / "d.gcz")
    r = cli_run("encode", tmp_path / "q.png", "-o", tmp_path / "d.gcz")
    assert r.exit_code == EXIT_OUTPUT and "symlink" in r.stderr
    assert os.readlink(tmp_path / "d.gcz") == "missing.gcz" and not (tmp_path / "missing.gcz").exists()


# --- item 6: bounded work for mode 3 strip tables ---------------------------------------------
def forged_strips(width, height, rows):
    """A valid-looking mode 3 payload with strips of ``rows`` rows (all values in stream 0)."""
    n = -(-height // rows)
    frame = _zstd.compress(np.zeros(width * height, np.uint8))
    head = _zstd.put_varint(rows) + _zstd.put_varint(width * height) + _zstd.put_varint(len(frame))
    head += b"\0\0" * 15
    table = b"".join(_zstd.put_varint(rows * width) + b"\0" * 15 for _ in range(n - 1))
    return head + table + frame


def test_too_many_strips_refused_fast():
    w, h = 8, 4000  # 4000 one-row strips for 32,000 pixels: over max(64, 32000 // 4096)
    payload = forged_strips(w, h, 1)
    start = time.perf_counter()
    with pytest.raises(FormatError, match="strips, over the limit"):
        lplane.decode_plane(lplane.MODE_STRIPS, payload, w, h, 0)
    assert time.perf_counter() - start < 1.0
    ok = forged_strips(w, h, 80)  # 50 strips: accepted, decodes
    assert lplane.decode_plane(lplane.MODE_STRIPS, ok, w, h, 0).shape == (h, w)


def test_strip_limit_admits_every_encoder_split():
    for h in (1, 255, 256, 4000, 100_000):
        assert -(-h // strips.strip_rows(h)) <= strips.max_strips(1, h)
    with pytest.raises(ValueError):
        strips.encode(np.zeros((200, 1), np.uint8), 0, 1)  # 200 strips: more than a decoder accepts


def test_varint_array_matches_the_scalar_reader():
    rng = np.random.default_rng(3)
    values = [int(v) for v in rng.integers(0, 2**35, 500) >> rng.integers(0, 35, 500)]
    data = b"junk" + b"".join(_zstd.put_varint(v) for v in values) + b"\x80\x80"
    got, pos = _zstd.get_varint_array(data, 4, len(values), "t")
    assert got.tolist() == values and pos == len(data) - 2
    with pytest.raises(FormatError, match="truncated"):
        _zstd.get_varint_array(data, 4, len(values) + 1, "t")
    with pytest.raises(FormatError, match="over-long"):
        _zstd.get_varint_array(b"\x81" * 5 + b"\x01", 0, 1, "t")


# --- item 7: endless inputs -------------------------------------------------------------------
class Endless(io.RawIOBase):
    """``prefix`` then zeros for ever; counts the bytes handed out."""

    def __init__(self, prefix=b""):
        self.prefix, self.given = prefix, 0

    def readable(self):
        return True

    def read(self, n=-1):
        n = 1 << 20 if n is None or n < 0 else n
        out = (self.prefix[self.given:] + bytes(n))[:n]
        self.given += len(out)
        return out


def test_stream_with_bad_magic_stops_at_the_header():
    f = Endless()
    with pytest.raises(FormatError, match="magic"):
        container.read_stream(f)
    assert f.given <= container.HEADER_SIZE


def test_stream_never_read_past_what_the_header_allows():
    f = Endless(pack_header(10, 10, lplane.MODE_MED))
    with pytest.raises(FormatError, match="longer than any .gcz"):
        container.read_stream(f)
    assert f.given <= container.max_file_bytes(10, 10) + 1


def test_info_and_decode_of_dev_zero_exit_3(cli_run, tmp_path):
    for args in (("info", "/dev/zero"), ("decode", "/dev/zero", "-o", tmp_path / "z.png")):
        r = cli_run(*args)
        assert r.exit_code == EXIT_BAD_INPUT and "magic" in r.stderr
    assert not (tmp_path / "z.png").exists()


# --- item 8: metadata over 16 MiB ------------------------------------------------------------
def test_icc_over_the_limit_left_out_with_a_warning(cli_run, tmp_path):
    big = b"\0" * 16 + b"RGB " + bytes(container.MAX_METADATA_BYTES)
    Image.fromarray(np.dstack([PLANE, PLANE, 255 - PLANE])).save(tmp_path / "i.tif", icc_profile=big)
    r = cli_run("encode", tmp_path / "i.tif", "-o", tmp_path / "i.gcz")
    assert r.exit_code == 0 and "ICC profile" in r.stderr and "warning" in r.stderr
    assert read_gcz((tmp_path / "i.gcz").read_bytes()).icc is None


# --- item 9: damaged model cards --------------------------------------------------------------
@pytest.mark.parametrize("card", [b"{not json", b"[1, 2]", b'{"model_id": "zz"}', b'{"model_id": 5}', b"\xff\xfe"])
def test_damaged_card_does_not_break_encode(cli_run, tmp_path, card):
    from graycodec import zoo

    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"weights")
    weights.with_suffix(".json").write_bytes(card)
    r = cli_run("encode", "-", "-o", tmp_path / "x.gcz", input=_png(),
                env={zoo.MODEL_ENV: str(weights)})
    assert r.exit_code == 0, r.stderr
    assert read_gcz((tmp_path / "x.gcz").read_bytes()).model_id == zoo.model_id_of(weights)


def _png():
    buf = io.BytesIO()
    Image.fromarray(PLANE, "L").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("card", ["{damaged", "[1]", "\udcff"])
def test_damaged_card_when_loading_is_a_model_error(tmp_path, card):
    pytest.importorskip("torch")
    from graycodec.errors import ModelError
    from graycodec.model import read_card

    path = tmp_path / "m.json"
    path.write_bytes(card.encode("utf-8", "surrogateescape"))
    with pytest.raises(ModelError, match="damaged model card"):
        read_card(path)


# --- item 10: junk EXIF in a .gcz, decoded to TIFF ----------------------------------------------
def test_junk_exif_dropped_with_a_warning(cli_run, tmp_path):
    data = write_gcz(GczImage(7, 5, PLANE, exif=b"this is not a TIFF header"))
    (tmp_path / "j.gcz").write_bytes(data)
    r = cli_run("decode", tmp_path / "j.gcz", "--gray", "-o", tmp_path / "j.tif")
    assert r.exit_code == 0 and "EXIF" in r.stderr and "warning" in r.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "j.tif")), PLANE)


# --- item 11: closed stdout -------------------------------------------------------------------
def test_closed_stdout_pipe_is_quiet(tmp_path):
    (tmp_path / "x.gcz").write_bytes(codec.encode(PLANE))
    r, w = os.pipe()
    os.close(r)  # the reader (`head`) is gone before anything is written
    p = subprocess.run([sys.executable, "-m", "graycodec", "info", str(tmp_path / "x.gcz")], stdout=w,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(w)
    assert p.stderr == "" and p.returncode in (0, -13, 141)


# --- item 12: first run ---------------------------------------------------------------------------
def test_first_slow_plane_coding_gives_a_notice(monkeypatch):
    said = []
    monkeypatch.setattr(lplane, "NOTICE_AFTER_S", 0.0)
    monkeypatch.setattr(lplane, "_first_call", True)
    monkeypatch.setattr(lplane, "_notice", lambda: said.append(1))
    real = strips.decode

    def slow(*a):
        time.sleep(0.2)
        return real(*a)

    monkeypatch.setattr(lplane, "_MODULES", {**lplane._MODULES, lplane.MODE_STRIPS: type("M", (), {
        "decode": staticmethod(slow), "encode": staticmethod(strips.encode)})})
    mode, payload = lplane.encode_plane(PLANE)
    lplane.decode_plane(mode, payload, 7, 5, 0)
    assert said == [1]


def test_decoding_compiles_only_the_kernel_it_uses():
    """A lossless plane of 4 strips on 2 threads needs the lossless pair kernel only (a first run
    used to compile all four variants: 27-45 s)."""
    code = ("import numpy as np; from graycodec.lplane import strips, gap\n"
            "strips.set_num_threads(2)\n"
            "p = (np.arange(512 * 16) % 251).astype(np.uint8).reshape(512, 16)\n"
            "payload = strips.encode(p, 0)\n"
            "assert (strips.decode(payload, 16, 512, 0) == p).all()\n"
            "compiled = [n for n in ('_strip_lossless', '_strip_near', '_pair_lossless', '_pair_near')\n"
            "            if getattr(strips, n).signatures]\n"
            "print(compiled, bool(gap._gap_decode_near.signatures), bool(gap._gap_decode.signatures))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.stdout.strip() == "['_pair_lossless'] False False", r.stderr


# --- item 13: --device cuda without CUDA -----------------------------------------------------------
def test_cuda_without_cuda_names_the_fix(tmp_path):
    (tmp_path / "x.gcz").write_bytes(codec.encode(np.dstack([PLANE, PLANE, 255 - PLANE])))
    r = run_cli("decode", tmp_path / "x.gcz", "-o", tmp_path / "x.png", "--device", "cuda",
                env={"CUDA_VISIBLE_DEVICES": ""})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == EXIT_USAGE and len(lines) == 1 and "--device cpu" in lines[0], r.stderr
    assert not (tmp_path / "x.png").exists()


# --- item 15: one CLI ------------------------------------------------------------------------------
COMMANDS = ["encode", "decode", "colorize", "info", "eval", "train", "prepare"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_click_with_help_for_every_option(cli_run, command):
    r = cli_run(command, "--help")
    assert r.exit_code == 0 and r.stdout.startswith("Usage: graycodec " + command)
    options = r.stdout.split("Options:")[1].splitlines()
    rows = [line for line in options if line.startswith("  -")]
    for i, line in enumerate(options):
        if line.startswith("  -"):
            text = line.strip().split("  ", 1)[1].strip() if "  " in line.strip() else ""
            following = options[i + 1] if i + 1 < len(options) else ""
            described = text.replace("[required]", "").strip() and not text.startswith("[default")
            assert described or (following.startswith(" " * 10) and "[default" not in following.strip()[:9]), line
    assert rows


@pytest.mark.parametrize("command", COMMANDS)
def test_one_usage_error_format(cli_run, command):
    r = cli_run(command, "--no-such-option-zq")
    assert r.exit_code == EXIT_USAGE
    assert r.stderr.strip() == (f"graycodec: error: No such option '--no-such-option-zq' "
                                f"(see 'graycodec {command} --help')")


def test_train_options_reach_the_engine_as_argv(cli_run, monkeypatch):
    from graycodec.training import engine, train

    seen = []
    monkeypatch.setattr(train, "main", lambda argv: seen.append(argv) or 0)
    r = cli_run("train", "d1", "d2", "--out", "m/x", "--steps", "3", "--no-bf16", "--hint-loss-weight", "0.5",
                "--val-images", "8")
    assert r.exit_code == 0, r.stderr
    assert seen == [["d1", "d2", "--out", "m/x", "--val-images", "8", "--steps", "3", "--hint-loss-weight", "0.5",
                     "--no-bf16"]]
    engine.build_parser().parse_args(seen[0])  # what the engine parses
    r = cli_run("train", "d", "--out", "m/x", "--steps", "3", "--epochs", "1")
    assert r.exit_code == EXIT_USAGE and "--steps and --epochs cannot be used together" in r.stderr


def test_eval_argparse_checks_use_the_same_format(cli_run):
    r = cli_run("eval", ".", "--hints", "ultra")
    assert r.exit_code == EXIT_USAGE and r.stderr.startswith("graycodec: error:") and "usage:" not in r.stderr


# --- item 17: the CPU build of torch ---------------------------------------------------------------
def test_readme_says_how_to_install_the_cpu_build():
    readme = (ROOT / "README.md").read_text()
    assert "https://download.pytorch.org/whl/cpu" in readme


# --- items 19 and 20: odd images Pillow opens, or does not implement ------------------------------
def test_jpeg_with_broken_exif_resolution_encodes_with_a_warning(cli_run, tmp_path):
    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHI4s", 0x011A, 2, 4, b"abc\0") + bytes(4)
    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "b.jpg", exif=b"Exif\x00\x00" + tiff)
    r = cli_run("encode", tmp_path / "b.jpg", "-o", tmp_path / "b.gcz")
    assert r.exit_code == 0 and "EXIF" in r.stderr and "warning" in r.stderr, r.stderr
    assert read_gcz((tmp_path / "b.gcz").read_bytes()).exif is None


def test_unimplemented_dds_variant_is_bad_input(cli_run, tmp_path):
    header = b"DDS " + struct.pack("<7I", 124, 0x1007, 4, 4, 0, 0, 0) + bytes(44)
    header += struct.pack("<8I", 32, 8, 0, 0, 0, 0, 0, 0) + struct.pack("<5I", 0x1000, 0, 0, 0, 0)
    (tmp_path / "x.dds").write_bytes(header + bytes(64))
    r = cli_run("encode", tmp_path / "x.dds", "-o", tmp_path / "x.gcz")
    assert r.exit_code == EXIT_BAD_INPUT and "unsupported image variant" in r.stderr


# --- smaller items ---------------------------------------------------------------------------------
def test_model_mismatch_warned_for_every_file_of_a_batch(cli_run, tmp_path, fake_predictor):
    colour = np.dstack([PLANE, PLANE, 255 - PLANE])
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.gcz").write_bytes(write_gcz(GczImage(7, 5, read_gcz(codec.encode(colour)).plane,
                                                                  model_id="0123456789abcdef")))
    r = cli_run("decode", *[tmp_path / f"{n}.gcz" for n in "abc"], "-o", tmp_path / "out")
    assert r.exit_code == 0 and r.stderr.count("encoded for model 0123456789abcdef") == 3


def test_animated_gif_says_only_the_first_frame_is_kept(tmp_path):
    frames = [Image.fromarray(PLANE + i, "L") for i in range(3)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        codec.encode(tmp_path / "a.gif")
    assert any("3 frames: only the first is kept" in str(w.message) for w in caught)


def test_hint_chunk_with_junk_after_its_frame_refused():
    from graycodec import hints

    colour = np.dstack([PLANE, PLANE, 255 - PLANE])
    payload = read_gcz(codec.encode(colour, hints="low")).hints
    hints.unpack_hints(payload, 7, 5)
    with pytest.raises(FormatError, match="hINT"):
        hints.unpack_hints(payload + b"junk", 7, 5)


def test_info_takes_max_pixels(cli_run, tmp_path):
    (tmp_path / "x.gcz").write_bytes(codec.encode(PLANE))
    assert cli_run("info", tmp_path / "x.gcz", "--max-pixels", 35).exit_code == 0
    r = cli_run("info", tmp_path / "x.gcz", "--max-pixels", 34)
    assert r.exit_code == EXIT_LIMIT and "limit of 34" in r.stderr


def test_nan_weights_refused_at_load(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    from graycodec.errors import ModelError
    from graycodec.model import ColorUNet, load_model

    state = {k: v.contiguous() for k, v in ColorUNet().state_dict().items()}
    state["bins_head.bias"] = torch.full_like(state["bins_head.bias"], float("nan"))
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(ModelError, match="NaN"):
        load_model(tmp_path / "nan.safetensors")
