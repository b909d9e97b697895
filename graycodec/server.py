"""``graycodec serve``: a local web page and the HTTP API under it (standard library only).

::

    GET  /                         the page (graycodec/web/index.html)
    GET  /api/status               {"version", "model_loaded", "quality", "limits": {...}}
    POST /api/encode?hints=H&max_error=K[&quality=Q]   body: an image  -> .gcz (image/x-graycodec)
    POST /api/decode?vividness=V[&gray=1]              body: a .gcz    -> PNG
    POST /api/colorize?vividness=V                     body: an image  -> PNG

Every failure is a 4xx/5xx status with ``{"error": "<one line>"}``: 400 bad input or options,
411 no Content-Length, 413 over the upload or pixel limit (a declared size over the limit is
refused before reading the body), 415 wrong Content-Type, 503 no usable model. The server
binds to loopback unless told otherwise; ``http.server``'s ThreadingHTTPServer serves the
requests, at most ``WORKERS`` of them do image work at once, the model is loaded once (on the
first colour request) and one request at a time runs it, so memory stays that of one inference.
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from . import __version__, batch, codec, imageio
from .errors import FormatError, ImageInputError, ImageTooLargeError, ModelError
from .hints import LEVELS
from .lplane import MAX_ERROR_LIMIT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_UPLOAD = 64 * 2**20  # bytes of one request body
DEFAULT_MAX_PIXELS = 40_000_000  # per image: a 40 MP photo needs ~2 GB while it is coloured
WORKERS = 2  # requests doing image work at once (the others wait): bounds memory, not connections

GCZ_TYPE = "image/x-graycodec"
# Content-Types each endpoint takes; none at all is taken too (curl --data-binary sends a form type,
# which is refused: it usually means the file was sent as text).
IMAGE_TYPES = ("image/", "application/octet-stream")
GCZ_TYPES = (GCZ_TYPE, "application/x-graycodec", "application/octet-stream")


class ApiError(Exception):
    """A request that fails: the status and the one-line message the client gets as JSON."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def status_of(exc: BaseException) -> int:
    """HTTP status for an error raised while doing the work."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, ImageTooLargeError):
        return HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    if isinstance(exc, ModelError):
        return HTTPStatus.SERVICE_UNAVAILABLE
    if isinstance(exc, (FormatError, ImageInputError, batch.UsageError, ValueError)):
        return HTTPStatus.BAD_REQUEST
    return HTTPStatus.INTERNAL_SERVER_ERROR


class _SharedModel:
    """The one predictor of the server: loaded once, run by one request at a time."""

    def __init__(self, lazy: batch.LazyPredictor):
        self._lazy, self._lock = lazy, threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._lazy.loaded

    @property
    def model_id(self) -> str:
        return self._lazy.model_id

    def predict_ab(self, lstar, hints, vividness=0.0):
        with self._lock:
            return self._lazy.predict_ab(lstar, hints, vividness)


class App:
    """What the endpoints do, apart from HTTP: bytes and query in, (bytes, content type, headers) out."""

    def __init__(self, *, model: str | None = None, device: str = "auto",
                 max_upload: int = DEFAULT_MAX_UPLOAD, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.model = _SharedModel(batch.LazyPredictor(model, device))
        self.max_upload, self.max_pixels = max_upload, max_pixels
        self.workers = threading.BoundedSemaphore(WORKERS)

    def run(self, name: str, body: bytes, query: dict):
        """The endpoint ``name`` on a body, at most WORKERS at a time."""
        with self.workers:
            return getattr(self, name)(body, query)

    def status(self) -> dict:
        return {"version": __version__, "model_loaded": self.model.loaded, "quality": batch.encoder_has_quality(),
                "hints": list(LEVELS), "max_error": MAX_ERROR_LIMIT,
                "limits": {"upload_bytes": self.max_upload, "pixels": self.max_pixels}}

    def encode(self, body: bytes, q: dict):
        # quality goes to the encoder only where it has one (batch.encode_options says so)
        options = batch.encode_options(
            quality=_number(q, "quality", int, None, 0, 100),
            hints=_choice(q, "hints", list(LEVELS), "none"),
            max_error=_number(q, "max_error", int, 0, 0, MAX_ERROR_LIMIT),
            keep_metadata=_choice(q, "strip_metadata", ["0", "1"], "0") == "0",
        )
        src = imageio.read_image(_nonempty(body), max_pixels=self.max_pixels)
        data = codec.encode(src, max_pixels=self.max_pixels, **options)
        pixels = src.width * src.height
        headers = {"X-Graycodec-Width": src.width, "X-Graycodec-Height": src.height,
                   "X-Graycodec-Bytes": len(data), "X-Graycodec-Bpp": f"{len(data) * 8 / pixels:.4f}",
                   # against uncompressed 24-bit RGB, as `graycodec info`'s compression_ratio
                   "X-Graycodec-Ratio": f"{3 * pixels / len(data):.3f}",
                   "X-Graycodec-Input-Bytes": len(body),
                   "Content-Disposition": 'attachment; filename="image.gcz"'}
        return data, GCZ_TYPE, headers

    def decode(self, body: bytes, q: dict):
        gray = _choice(q, "gray", ["0", "1"], "0") == "1"
        vividness = _number(q, "vividness", float, codec.DECODE_VIVIDNESS, 0.0, 1.0)
        im = codec.decode(_nonempty(body), gray=gray, predictor=None if gray else self.model,
                          max_pixels=self.max_pixels, vividness=vividness)
        return self._png(im, "decoded.png")

    def colorize(self, body: bytes, q: dict):
        vividness = _number(q, "vividness", float, codec.COLORIZE_VIVIDNESS, 0.0, 1.0)
        im = codec.colorize(_nonempty(body), predictor=self.model, max_pixels=self.max_pixels, vividness=vividness)
        return self._png(im, "colorized.png")

    @staticmethod
    def _png(im, name):
        data = imageio.image_bytes(im, "PNG")
        return data, "image/png", {"X-Graycodec-Width": im.width, "X-Graycodec-Height": im.height,
                                   "Content-Disposition": f'attachment; filename="{name}"'}


def _nonempty(body: bytes) -> bytes:
    if not body:
        raise ApiError(HTTPStatus.BAD_REQUEST, "empty body: send the file's bytes as the request body")
    return body


def _one(q: dict, name: str):
    values = q.get(name)
    return None if not values else values[-1]


def _choice(q: dict, name: str, allowed: list, default: str) -> str:
    value = _one(q, name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}={value!r}: choose one of {', '.join(allowed)}")
    return value


def _number(q: dict, name: str, kind, default, lo, hi):
    value = _one(q, name)
    if value is None or value == "":
        return default
    try:
        number = kind(value)
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}={value!r} is not a number") from None
    if not lo <= number <= hi:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name}={value} is outside {lo}..{hi}")
    return number


ROUTES = {"/api/encode": ("encode", IMAGE_TYPES), "/api/decode": ("decode", GCZ_TYPES),
          "/api/colorize": ("colorize", IMAGE_TYPES)}


def page() -> bytes:
    return resources.files("graycodec").joinpath("web/index.html").read_bytes()


class Handler(BaseHTTPRequestHandler):
    server_version = f"graycodec/{__version__}"
    protocol_version = "HTTP/1.1"
    app: App  # set by make_server

    def do_GET(self):
        path = urlsplit(self.path).path
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, page(), "text/html; charset=utf-8")
        elif path == "/api/status":
            self._send_json(HTTPStatus.OK, self.app.status())
        else:
            self._send_error(HTTPStatus.NOT_FOUND, f"no page {path}")

    def do_POST(self):
        url = urlsplit(self.path)
        route = ROUTES.get(url.path)
        if route is None:
            self._send_error(HTTPStatus.NOT_FOUND, f"no endpoint {url.path} (try {', '.join(ROUTES)})")
            return
        name, types = route
        try:
            body = self._read_body(types)
            data, ctype, headers = self.app.run(name, body, parse_qs(url.query, keep_blank_values=True))
        except Exception as exc:  # noqa: BLE001 - every failure is one JSON line, never a traceback
            status = status_of(exc)
            message = " ".join(str(exc).split()) or type(exc).__name__
            if status == HTTPStatus.INTERNAL_SERVER_ERROR:
                message = f"unexpected {type(exc).__name__}: {message}"
                sys.stderr.write(f"graycodec serve: error: {self.path}: {message}\n")
            self._send_error(status, message)
            return
        self._send(HTTPStatus.OK, data, ctype, headers)

    def _read_body(self, types) -> bytes:
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype and not ctype.startswith(types):
            self.close_connection = True
            raise ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                           f"Content-Type {ctype} not taken here (send {' or '.join(t + '*' if t.endswith('/') else t for t in types)})")
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding") or length is None:
            self.close_connection = True
            raise ApiError(HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length")
        try:
            n = int(length)
            assert n >= 0
        except (ValueError, AssertionError):
            self.close_connection = True
            raise ApiError(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length!r}") from None
        if n > self.app.max_upload:  # refused before reading: the client may be sending gigabytes
            self.close_connection = True
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"body of {n} bytes is over the limit of {self.app.max_upload} bytes")
        body = self.rfile.read(n)
        if len(body) != n:
            self.close_connection = True
            raise ApiError(HTTPStatus.BAD_REQUEST, f"body ended after {len(body)} of {n} bytes")
        return body

    def _send_error(self, status: int, message: str) -> None:
        self._send_json(status, {"error": message, "status": int(status)})

    def _send_json(self, status: int, obj: dict) -> None:
        self._send(status, json.dumps(obj).encode() + b"\n", "application/json")

    def _send(self, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if self.close_connection:
            self._drain()

    def _drain(self) -> None:
        """Read what the client already sent before closing: closing on unread data resets the
        connection, and a reset can drop the answer before the client reads it."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and self.connection.recv(1 << 16):
                pass
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        sys.stderr.write(f"graycodec serve: {self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, ipv6=False):
        self.address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        super().__init__(address, handler)


def make_server(app: App, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Server:
    handler = type("AppHandler", (Handler,), {"app": app})
    return Server((host, port), handler, ipv6=":" in host)
