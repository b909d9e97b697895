"""The Pillow plugin: registration, lazy open, colour and gray loads, save, damaged files."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import graycodec.pillow as gp
from graycodec import codec, container

from conftest import random_rgb


@pytest.fixture
def gcz_file(tmp_path):
    path = tmp_path / "x.gcz"
    path.write_bytes(codec.encode(random_rgb(24, 40), hints="low"))  # 40 wide, 24 high
    return path


@pytest.fixture(autouse=True)
def fresh_model(monkeypatch):
    """Each test starts with the plugin's shared model not yet loaded."""
    monkeypatch.setattr(gp, "_PREDICTOR", gp.batch.LazyPredictor())


def test_registered():
    assert "GCZ" in Image.OPEN and "GCZ" in Image.SAVE
    assert Image.MIME["GCZ"] == "image/x-graycodec" and Image.registered_extensions()[".gcz"] == "GCZ"


def test_open_reads_the_header_only(gcz_file, monkeypatch, fake_predictor):
    calls = []
    real = codec.decode
    monkeypatch.setattr(codec, "decode", lambda *a, **k: calls.append(1) or real(*a, **k))
    with Image.open(gcz_file) as im:
        assert (im.format, im.size, im.mode) == ("GCZ", (40, 24), "RGB")
        assert im.info["lossless"] is True and im.info["model_id"] == codec.default_model_id()
        assert calls == [] and fake_predictor.loads == 0
        im.load()
        assert calls == [1] and fake_predictor.loads == 1


def test_load_equals_decode(gcz_file, fake_predictor):
    with Image.open(gcz_file) as im:
        got = np.asarray(im.convert("RGB"))
    want = np.asarray(codec.decode(gcz_file.read_bytes(), predictor=fake_predictor))
    np.testing.assert_array_equal(got, want)


def test_draft_gray_needs_no_model(gcz_file, monkeypatch):
    def no_model(*a, **k):
        raise AssertionError("a gray load must not load the model")

    monkeypatch.setattr(codec, "load_predictor", no_model)
    with Image.open(gcz_file) as im:
        assert im.draft("L", im.size) == ("L", (0, 0, 40, 24))
        im.load()
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), container.read_gcz(gcz_file.read_bytes()).plane)


def test_alpha_opens_as_rgba(tmp_path, fake_predictor):
    rgba = np.dstack([random_rgb(8, 9), np.full((8, 9), 77, np.uint8)])
    path = tmp_path / "a.gcz"
    path.write_bytes(codec.encode(rgba))
    with Image.open(path) as im:
        assert im.mode == "RGBA"
        assert np.asarray(im)[..., 3].tolist() == [[77] * 9] * 8


def test_save_with_options(tmp_path):
    src = Image.fromarray(random_rgb(30, 20))
    src.save(tmp_path / "h.gcz", hints="medium", max_error=2)
    d = container.describe_gcz((tmp_path / "h.gcz").read_bytes())
    assert (d["width"], d["height"], d["max_error"]) == (20, 30, 2)
    assert "hINT" in [c["type"] for c in d["chunks"]]
    buf = io.BytesIO()
    src.save(buf, format="GCZ")
    assert buf.getvalue().startswith(container.MAGIC)
    with pytest.raises(ValueError):
        src.save(tmp_path / "bad.gcz", hints="ultra")


def test_save_quality_only_with_an_encoder_that_has_it(tmp_path):
    if gp.batch.encoder_has_quality():
        Image.fromarray(random_rgb(8, 8)).save(tmp_path / "q.gcz", quality=50)
    else:
        with pytest.raises(ValueError, match="quality"):
            Image.fromarray(random_rgb(8, 8)).save(tmp_path / "q.gcz", quality=50)


def _damaged(blob):
    flip = bytearray(blob)
    flip[12] ^= 1
    flip2 = bytearray(blob)
    flip2[len(blob) // 2] ^= 0xFF
    junk = np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8).tobytes()
    return {"empty": b"", "junk": junk, "magic": container.MAGIC, "cut-header": blob[:20],
            "cut-half": blob[: len(blob) // 2], "magic+junk": container.MAGIC + junk,
            "header-flip": bytes(flip), "payload-flip": bytes(flip2), "trailing": blob + b"\0",
            "zeroed-payload": _zero_lpln(blob)}


def _zero_lpln(blob):
    """Sound structure (CRCs recomputed), undecodable lightness plane."""
    out, pos = bytearray(blob[:34]), 34
    while pos < len(blob):
        ctype, n = struct.unpack_from("<4sI", blob, pos)
        data = bytes(n) if ctype == b"LPLN" else blob[pos + 8: pos + 8 + n]
        out += container.pack_chunk(ctype, data)
        pos += 12 + n
    return bytes(out)


DAMAGES = ["empty", "junk", "magic", "cut-header", "cut-half", "magic+junk", "header-flip", "payload-flip",
           "trailing", "zeroed-payload"]


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("gray", [False, True])
def test_damaged_files_raise_oserror_only(tmp_path, gcz_file, kind, gray, fake_predictor):
    path = tmp_path / "bad.gcz"
    path.write_bytes(_damaged(gcz_file.read_bytes())[kind])
    with pytest.raises(OSError):
        with Image.open(path) as im:
            if gray:
                im.draft("L", im.size)
            im.load()


def test_decompression_bomb_refused_before_decoding(gcz_file, monkeypatch):
    blob = bytearray(gcz_file.read_bytes())
    struct.pack_into("<II", blob, 10, 100_000, 100_000)
    struct.pack_into("<I", blob, 30, zlib.crc32(bytes(blob[8:30])))
    monkeypatch.setattr(codec, "decode", lambda *a, **k: pytest.fail("decoded a bomb"))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bytes(blob)))


def test_no_model_is_an_oserror(gcz_file, monkeypatch):
    from graycodec.errors import ModelError

    def no_model(*a, **k):
        raise ModelError("no trained model")

    monkeypatch.setattr(codec, "load_predictor", no_model)
    with Image.open(gcz_file) as im, pytest.raises(OSError, match="no trained model"):
        im.load()
