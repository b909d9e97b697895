"""Fuzz the .gcz reader with mutated files: only graycodec's own error types may come out.

    python benchmarks/fuzz_container.py --cases 20000 [--seed 0] [--save failures/]

Seed files (gray with its gRAY chunk, colour, alpha, hints, ICC/EXIF, near-lossless, all
three plane coding modes, and planes tall enough for 2 and 4 mode 3 strips) are made with
``graycodec.encode`` and ``container.write_gcz``, so every chunk type and the strip table occur. Half the cases apply 1–4 raw mutations to the bytes (bit flips, byte
overwrites, "interesting" 32-bit values, truncation, insertion, deletion, duplication,
splicing two files), which the CRCs mostly catch; the other half mutate the *structure* and
re-seal every checksum with the container's own helpers (``pack_header``, ``pack_chunk``):
header fields set to odd values, chunk payloads mutated (anywhere, or within the first bytes,
where the stream and strip tables are), chunks dropped, duplicated, moved or swapped with
another file's — so the plane, alpha, hint and metadata decoders see damaged
data behind valid checksums. Each case runs ``container.describe_gcz``, ``decode(gray=True)`` and a colour ``decode`` through a
zero-a/b predictor (so the hint chunk is parsed too). Anything but a ``GraycodecError`` — or a
case slower than ``--slow`` seconds — is a failure; the exit status is 1 if any occurred.
The last line gives the rate and how often each decoder was reached (``reached``: mode 3 strip
tables read, ALPH planes, hINT, iCCP and eXIf chunks parsed).
A short run is part of the test suite (tests/test_codec.py::test_fuzz_container_short).
"""
from __future__ import annotations

import argparse
import io
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from graycodec import codec, container, hints
from graycodec.errors import GraycodecError
from graycodec.lplane import MODE_GAP, MODE_MED, strips

MAX_PIXELS = 1 << 22  # keeps a mutated-but-valid huge header from allocating gigabytes
INTERESTING32 = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


class ZeroPredictor:
    """a/b = 0 everywhere: exercises the colour path without a model."""

    model_id = ""

    def predict_ab(self, lstar, hints=None, vividness=0.0):
        return np.zeros(lstar.shape + (2,), dtype=np.float32)


@dataclass
class Failure:
    case: int
    data: bytes
    error: str


def seed_files() -> list[bytes]:
    """Small valid .gcz files covering every optional chunk."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 31, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x010F] = "fuzz"
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", exif=exif.tobytes(), icc_profile=b"\0" * 16 + b"RGB " + b"\0" * 108)
    tall = (np.add.outer(np.arange(520), np.arange(6) * 3) % 256).astype(np.uint8)  # 4 strips of 130 rows
    tall_rgb = np.dstack([tall, 255 - tall, tall // 2, tall])[:300]  # 2 strips; RGBA
    plane = rng.integers(0, 256, (20, 9), dtype=np.uint8)
    return [
        codec.encode(np.zeros((1, 1), np.uint8)),
        codec.encode(rgb[:17, :23], hints="low"),
        codec.encode(np.dstack([rgb, rgb[..., 0]]), hints="high", max_error=2),
        codec.encode(buf.getvalue(), hints="medium"),
        codec.encode(rng.integers(0, 256, (48, 64), dtype=np.uint8)),
        codec.encode(tall),  # gRAY, mode 3 with a strip table of 3 rows
        codec.encode(tall_rgb, hints="high", max_error=1),  # alpha, hints, near-lossless, 2 strips
        container.write_gcz(container.GczImage(9, 20, plane, coding=MODE_MED, max_error=3, alpha=plane,
                                               icc=b"icc", exif=b"Exif\0\0MM", gray_source=True)),
        container.write_gcz(container.GczImage(9, 20, plane, coding=MODE_GAP, hints=None)),
        codec.encode(rgb, quality=10),  # qLTY, half-size lightness (mode 4), hint payload v2 (F:S)
        codec.encode(rgb, quality=80),  # qLTY, near-lossless full size, 1/4 hints of step 2
        codec.encode(rgb, lightness_mode=5, max_error=12, hints="8:2"),  # wavelet lightness (mode 5)
        codec.encode(np.add.outer(np.arange(70), np.arange(90)).astype(np.uint8), lightness_mode=5,
                     max_error=3),  # mode 5, 2 levels, escapes
    ]


def mutate(data: bytes, rnd: random.Random, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(9)
        pos = rnd.randrange(len(b) + 1)
        if op == 0 and b:  # flip one bit
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:  # overwrite a byte
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif op == 2 and len(b) >= 4:  # an interesting 32-bit value, either byte order
            i = rnd.randrange(len(b) - 3)
            b[i : i + 4] = rnd.choice(INTERESTING32).to_bytes(4, rnd.choice(["big", "little"]))
        elif op == 3:  # truncate
            del b[pos:]
        elif op == 4:  # insert random bytes
            b[pos:pos] = rnd.randbytes(rnd.randint(1, 16))
        elif op == 5 and b:  # delete a range
            del b[pos : pos + rnd.randint(1, 32)]
        elif op == 6 and b:  # duplicate a range
            n = rnd.randint(1, 64)
            b[pos:pos] = b[pos : pos + n]
        elif op == 7:  # splice: head of this file, tail of another
            other = rnd.choice(seeds)
            b = b[:pos] + other[rnd.randrange(len(other) + 1) :]
        else:  # append junk
            b += rnd.randbytes(rnd.randint(1, 8))
    return bytes(b)


# The container's own layouts (docs/FORMAT.md): header fields, chunk head (type, length).
_HEADER_FIELDS = container._HEADER
_CHUNK_HEAD = container._CHUNK_HEAD


def split(blob: bytes) -> tuple[list, list[tuple[bytes, bytes]]]:
    """A valid .gcz as (header field values, [(chunk type, payload), ...])."""
    fields = list(_HEADER_FIELDS.unpack_from(blob, len(container.MAGIC)))
    chunks, pos = [], container.HEADER_SIZE
    while pos < len(blob):
        ctype, length = _CHUNK_HEAD.unpack_from(blob, pos)
        start = pos + _CHUNK_HEAD.size
        chunks.append((ctype, blob[start : start + length]))
        pos = start + length + 4
    return fields, chunks


def join(fields: list, chunks: list[tuple[bytes, bytes]]) -> bytes:
    major, minor, w, h, lightness, coding, max_error, flags, model = fields
    head = container.pack_header(w, h, coding, max_error, flags=flags, model_id=model, lightness=lightness,
                                 version=(major, minor))
    return head + b"".join(container.pack_chunk(t, d) for t, d in chunks)


def mutate_structure(blob: bytes, rnd: random.Random, seeds: list[bytes]) -> bytes:
    """Mutate header fields or chunks, then re-seal every CRC (reaches the decoders)."""
    fields, chunks = split(blob)
    for _ in range(rnd.randint(1, 3)):
        op = rnd.randrange(6)
        if op == 0:  # a header field to an odd value
            i = rnd.choice([0, 1, 2, 3, 4, 5, 6, 7])
            limit = 0xFFFFFFFF if i in (2, 3) else 0xFF
            fields[i] = rnd.choice([0, 1, 2, 3, fields[i] + 1, max(0, fields[i] - 1), rnd.randrange(limit + 1), limit])
            fields[i] = min(fields[i], limit)
        elif op == 1 and chunks:  # mutate one chunk's payload: anywhere, or in its first bytes (tables)
            k = rnd.randrange(len(chunks))
            ctype, payload = chunks[k]
            if not payload:
                payload = rnd.randbytes(rnd.randint(1, 8))
            elif rnd.random() < 0.5:
                cut = min(len(payload), rnd.choice([8, 40, 120]))
                payload = mutate(payload[:cut], rnd, [payload[:cut]]) + payload[cut:]
            else:
                payload = mutate(payload, rnd, [payload])
            chunks[k] = (ctype, payload)
        elif op == 2 and chunks:  # drop a chunk
            del chunks[rnd.randrange(len(chunks))]
        elif op == 3 and chunks:  # duplicate or move a chunk
            c = chunks.pop(rnd.randrange(len(chunks))) if rnd.random() < 0.5 else chunks[rnd.randrange(len(chunks))]
            chunks.insert(rnd.randrange(len(chunks) + 1), c)
        elif op == 4:  # a chunk from another file (different size or coding)
            _, other = split(rnd.choice(seeds))
            c = rnd.choice(other)
            same = [k for k, (t, _) in enumerate(chunks) if t == c[0]]
            if same:
                chunks[same[0]] = c
            else:
                chunks.insert(rnd.randrange(len(chunks) + 1), c)
        else:  # an unknown chunk, ancillary or critical
            ctype = rnd.choice([b"zzZz", b"Zzzz", b"teXt"])
            chunks.insert(rnd.randrange(len(chunks) + 1), (ctype, rnd.randbytes(rnd.randint(0, 16))))
    return join(fields, chunks)


def check(data: bytes) -> None:
    """Run every reader on ``data``; let only GraycodecError through silently."""
    for run in (
        lambda: container.describe_gcz(data, max_pixels=MAX_PIXELS),
        lambda: codec.decode(data, gray=True, max_pixels=MAX_PIXELS),
        lambda: codec.decode(data, predictor=ZeroPredictor(), max_pixels=MAX_PIXELS),
    ):
        try:
            run()
        except GraycodecError:
            pass


class _Reached:
    """Counts calls of the decoders a case may reach, by patching their module attributes."""

    def __init__(self):
        self.counts = Counter()
        self._undo = []

    def _wrap(self, module, name, label):
        real = getattr(module, name)

        def counted(*args, **kwargs):
            key = label(*args) if callable(label) else label
            if key:
                self.counts[key] += 1
            return real(*args, **kwargs)

        setattr(module, name, counted)
        self._undo.append((module, name, real))

    def __enter__(self):
        self._wrap(strips, "get_varint_array", lambda data, pos, n, what: "strip table" if n else None)
        self._wrap(container, "_decode_plane", lambda mode, payload, p, name, d: name)
        self._wrap(container, "_unpack_metadata", lambda payload, what: what)
        self._wrap(hints, "unpack_hints", "hINT")
        return self.counts

    def __exit__(self, *exc):
        for module, name, real in reversed(self._undo):
            setattr(module, name, real)


def fuzz(cases: int, seed: int = 0, slow: float = 5.0, log=None, reached: Counter | None = None
         ) -> tuple[list[Failure], Counter]:
    """Run ``cases`` mutated files; return the failures and a count of outcomes by error type.
    ``reached``, when given, receives how often each decoder ran (see _Reached)."""
    with _Reached() as counts:
        result = _fuzz(cases, seed, slow, log)
    if reached is not None:
        reached.update(counts)
    return result


def warm_up() -> None:
    """Compile every plane decoder variant before timing cases (numba compiles each on first
    use, which is no case's fault): modes 2 and 3, lossless and near-lossless, one strip and two."""
    plane = (np.add.outer(np.arange(520), np.arange(6) * 3) % 256).astype(np.uint8)
    threads = strips._threads
    try:
        strips.set_num_threads(2)
        for d in (0, 1):
            for rows in (130, 260):  # 4 strips: decoded in pairs on 2 threads; 2 strips: one by one
                strips.decode(strips.encode(plane, d, rows), 6, 520, d)
            container.read_gcz(container.write_gcz(container.GczImage(6, 520, plane, max_error=d, coding=MODE_GAP)))
    finally:
        strips.set_num_threads(threads)


def _fuzz(cases: int, seed: int, slow: float, log) -> tuple[list[Failure], Counter]:
    warm_up()
    seeds = seed_files()
    for s in seeds:  # the seeds themselves must decode, and split / join must be exact
        container.read_gcz(s)
        assert join(*split(s)) == s
    rnd = random.Random(seed)
    failures, outcomes = [], Counter()
    for case in range(cases):
        blob = rnd.choice(seeds)
        data = mutate(blob, rnd, seeds) if case % 2 else mutate_structure(blob, rnd, seeds)
        start = time.perf_counter()
        try:
            container.read_gcz(data, max_pixels=MAX_PIXELS)
            outcomes["accepted"] += 1
        except GraycodecError as exc:
            outcomes[type(exc).__name__] += 1
        except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
            failures.append(Failure(case, data, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            outcomes["FAILED"] += 1
            continue
        try:
            check(data)
        except Exception as exc:  # noqa: BLE001
            failures.append(Failure(case, data, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
            outcomes["FAILED"] += 1
            continue
        elapsed = time.perf_counter() - start
        if elapsed > slow:
            failures.append(Failure(case, data, f"slow: {elapsed:.1f} s"))
        if log and (case + 1) % 1000 == 0:
            log(f"{case + 1} cases, {len(failures)} failures")
    return failures, outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=5000, help="number of mutated files (default 5000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", type=float, default=5.0, help="seconds after which a case is a failure")
    parser.add_argument("--save", type=Path, default=None, help="folder to save failing inputs in")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    reached = Counter()
    failures, outcomes = fuzz(args.cases, args.seed, args.slow, log=lambda m: print(m, file=sys.stderr),
                              reached=reached)
    for f in failures[:10]:
        print(f"case {f.case}: {f.error}", file=sys.stderr)
    if args.save and failures:
        args.save.mkdir(parents=True, exist_ok=True)
        for f in failures:
            (args.save / f"case{f.case}.gcz").write_bytes(f.data)
    rate = args.cases / (time.perf_counter() - start)
    print(f"{args.cases} cases ({rate:.0f}/s): {dict(outcomes)}; reached {dict(reached)}; {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
