"""The HTTP API of `graycodec serve`, in-process with the fake predictor: each endpoint, each bad
input (junk, empty, too large, wrong content type, bad options), limits, and the shared model."""
import http.client
import io
import json
import threading

import numpy as np
import pytest
from PIL import Image

from graycodec import codec, container, server

from conftest import random_rgb


@pytest.fixture
def api(fake_predictor):
    """A running server on a free loopback port: ``api(method, path, body, ctype) -> (status, headers, body)``."""
    app = server.App(max_upload=2_000_000, max_pixels=1_000_000)
    httpd = server.make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = httpd.server_address[1]

    def call(method, path, body=None, ctype=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        hd = dict(headers or {})
        if ctype:
            hd["Content-Type"] = ctype
        conn.request(method, path, body=body, headers=hd)
        r = conn.getresponse()
        out = r.status, dict(r.getheaders()), r.read()
        conn.close()
        return out

    call.app, call.port = app, port
    yield call
    httpd.shutdown()
    httpd.server_close()


def png_bytes(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def error_of(status, body, expect):
    assert status == expect, body
    obj = json.loads(body)
    assert isinstance(obj["error"], str) and "\n" not in obj["error"] and "Traceback" not in obj["error"]
    return obj["error"]


def test_page_and_status(api):
    st, hd, body = api("GET", "/")
    assert st == 200 and hd["Content-Type"].startswith("text/html")
    assert b'type="file"' in body and b"Encode" in body and b"Decode" in body and b"Colorize" in body
    st, hd, body = api("GET", "/api/status")
    s = json.loads(body)
    assert st == 200 and s["model_loaded"] is False and s["limits"]["pixels"] == 1_000_000
    error_of(*api("GET", "/nowhere")[::2], 404)


def test_encode_with_hints_and_figures(api):
    src = png_bytes(random_rgb(30, 40))
    st, hd, body = api("POST", "/api/encode?hints=medium&max_error=2", src, "image/png")
    assert st == 200 and hd["Content-Type"] == "image/x-graycodec" and body.startswith(container.MAGIC)
    d = container.describe_gcz(body)
    assert (d["width"], d["height"], d["max_error"]) == (40, 30, 2)
    assert "hINT" in [c["type"] for c in d["chunks"]]
    assert int(hd["X-Graycodec-Bytes"]) == len(body)
    assert float(hd["X-Graycodec-Bpp"]) == pytest.approx(len(body) * 8 / 1200, abs=1e-4)
    assert float(hd["X-Graycodec-Ratio"]) == pytest.approx(3 * 1200 / len(body), abs=1e-3)
    assert int(hd["X-Graycodec-Input-Bytes"]) == len(src)


def test_decode_equals_codec_decode_and_takes_vividness(api, fake_predictor):
    gcz = codec.encode(random_rgb(20, 24))
    st, hd, body = api("POST", "/api/decode?vividness=0.3", gcz, "image/x-graycodec")
    assert st == 200 and hd["Content-Type"] == "image/png"
    assert fake_predictor.vividness == pytest.approx(0.3)
    want = np.asarray(codec.decode(gcz, predictor=fake_predictor))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(body))), want)
    st, hd, body = api("POST", "/api/decode?gray=1", gcz, "application/octet-stream")
    assert st == 200 and Image.open(io.BytesIO(body)).mode == "L"


def test_colorize_keeps_size_and_uses_one_model(api, fake_predictor):
    src = png_bytes(random_rgb(16, 18)[..., 0])
    for _ in range(3):
        st, hd, body = api("POST", "/api/colorize?vividness=1", src, "image/png")
        assert st == 200 and Image.open(io.BytesIO(body)).size == (18, 16)
    assert fake_predictor.loads == 1 and api.app.model.loaded


@pytest.mark.parametrize("path,ctype", [("/api/encode", "image/png"), ("/api/decode", "image/x-graycodec"),
                                        ("/api/colorize", "image/jpeg")])
@pytest.mark.parametrize("body", [b"", b"junk junk junk" * 50], ids=["empty", "junk"])
def test_junk_and_empty_are_400(api, path, ctype, body):
    error_of(*api("POST", path, body, ctype)[::2], 400)


def test_png_sent_to_decode_is_400(api):
    assert "magic" in error_of(*api("POST", "/api/decode", png_bytes(random_rgb(4, 4)), "image/x-graycodec")[::2], 400)


@pytest.mark.parametrize("path,ctype", [("/api/encode", "text/plain"), ("/api/decode", "image/png"),
                                        ("/api/colorize", "application/json")])
def test_wrong_content_type_is_415(api, path, ctype):
    error_of(*api("POST", path, b"x" * 10, ctype)[::2], 415)


@pytest.mark.parametrize("query,word", [("hints=ultra", "hints"), ("max_error=999", "max_error"),
                                        ("max_error=abc", "not a number")])
def test_bad_options_are_400(api, query, word):
    assert word in error_of(*api("POST", f"/api/encode?{query}", png_bytes(random_rgb(4, 4)), "image/png")[::2], 400)


def test_bad_vividness_is_400(api):
    gcz = codec.encode(random_rgb(4, 4))
    error_of(*api("POST", "/api/decode?vividness=2", gcz, "image/x-graycodec")[::2], 400)


def test_quality_only_where_the_encoder_has_it(api):
    st, hd, body = api("POST", "/api/encode?quality=50", png_bytes(random_rgb(4, 4)), "image/png")
    if server.batch.encoder_has_quality():
        assert st == 200
    else:
        assert "quality" in error_of(st, body, 400)


def test_declared_huge_body_is_413_without_reading_it(api):
    conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=10)
    conn.putrequest("POST", "/api/encode")
    conn.putheader("Content-Type", "image/png")
    conn.putheader("Content-Length", str(10 * 2**30))
    conn.endheaders()
    conn.send(b"\x89PNG" + bytes(60))
    r = conn.getresponse()
    assert r.status == 413 and "limit" in json.loads(r.read())["error"]
    conn.close()


def test_too_many_pixels_is_413(api, tmp_path):
    big = png_bytes(np.zeros((1100, 1000), np.uint8))  # 1.1 MP over the 1 MP limit, small PNG
    error_of(*api("POST", "/api/encode", big, "image/png")[::2], 413)
    error_of(*api("POST", "/api/colorize", big, "image/png")[::2], 413)
    gcz = codec.encode(np.zeros((1100, 1000), np.uint8))
    error_of(*api("POST", "/api/decode", gcz, "image/x-graycodec")[::2], 413)


def test_no_model_is_503(api, monkeypatch):
    from graycodec.errors import ModelError

    def no_model(*a, **k):
        raise ModelError("no trained model")

    monkeypatch.setattr(codec, "load_predictor", no_model)
    api.app.model = server._SharedModel(server.batch.LazyPredictor())
    assert "no trained model" in error_of(*api("POST", "/api/decode", codec.encode(random_rgb(4, 4)),
                                                "image/x-graycodec")[::2], 503)


def test_unexpected_error_is_500_one_line(api, monkeypatch):
    monkeypatch.setattr(codec, "encode", lambda *a, **k: 1 / 0)
    assert "ZeroDivisionError" in error_of(*api("POST", "/api/encode", png_bytes(random_rgb(4, 4)), "image/png")[::2], 500)


def test_concurrent_requests_share_the_model(api, fake_predictor):
    gcz = codec.encode(random_rgb(12, 12))
    results = []

    def one():
        results.append(api("POST", "/api/decode", gcz, "image/x-graycodec")[0])

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6 and fake_predictor.loads == 1


def test_cli_serve_binds_loopback_by_default():
    from graycodec.cli import serve

    host = next(p for p in serve.params if p.name == "host")
    assert host.default == "127.0.0.1"
