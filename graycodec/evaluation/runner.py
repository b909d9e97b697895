"""`graycodec eval`: encode/decode every image with each codec, measure, report.

    images ──load──▶ Reference (RGB, Lab, colourfulness; PNG and raw sizes)
           ──graycodec at each hint level, gray baseline──▶ full figures  (targets)
           ──each Pillow baseline: quality sweep (no SSIM)──▶ sweep rows
                 └─ per target: quality nearest the .gcz size (full figures)
                               bytes the sweep needs for the target's ΔE94 (interpolated)
           ──▶ EvalResults (records, per-image info, summary) ──report──▶ files

``main(argv)`` is the click-independent entry point (also ``python -m
graycodec.evaluation.runner``); ``evaluate(EvalOptions)`` returns the results for callers
that want them as objects. Tests inject codecs through ``evaluate(opts, codecs=...)``.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from graycodec import batch
from graycodec.errors import EXIT_FAILED, EXIT_OK, GraycodecError, ImageInputError
from graycodec.evaluation import report
from graycodec.evaluation.codecs import (
    BASELINES,
    DEFAULT_GCZ_QUALITIES,
    DEFAULT_HINTS,
    DEFAULT_QUALITIES,
    HINT_LEVELS,
    QUALITY_RANGE,
    Codec,
    PillowCodec,
    build_codecs,
)
from graycodec.evaluation.metrics import FIDELITY_KEYS, Reference, fidelity
from graycodec.evaluation.report import RECORD_FIELDS, SIZE_KEYS
from graycodec import imageio
from graycodec.container import DEFAULT_MAX_PIXELS
from graycodec.imageio import IMAGE_EXTENSIONS


@dataclass
class EvalOptions:
    """Everything `graycodec eval` takes; the CLI builds one of these (or calls main(argv))."""

    inputs: Sequence[Path]
    hints: Sequence[str] = DEFAULT_HINTS
    baselines: Sequence[str] = tuple(BASELINES)
    qualities: Sequence[int] = DEFAULT_QUALITIES
    report: Path | None = None
    force: bool = False
    json: bool = False
    model: str | None = None
    device: str = "auto"
    max_images: int | None = None
    max_error: int = 0
    progress: bool = True
    gcz_qualities: Sequence[int] = DEFAULT_GCZ_QUALITIES  # graycodec `encode --quality` sweep

    def __post_init__(self):
        self.inputs = [Path(p) for p in ([self.inputs] if isinstance(self.inputs, (str, Path)) else self.inputs)]
        self.hints = (self.hints,) if isinstance(self.hints, str) else self.hints
        self.baselines = (self.baselines,) if isinstance(self.baselines, str) else self.baselines
        bad = [h for h in self.hints if h not in HINT_LEVELS]
        if bad:
            raise ValueError(f"unknown hint level {bad[0]!r} (levels: {', '.join(HINT_LEVELS)})")
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ValueError(f"unknown baseline {bad[0]!r} (known: {', '.join(BASELINES)})")
        self.hints = tuple(dict.fromkeys(self.hints))
        self.baselines = tuple(dict.fromkeys(self.baselines))
        self.qualities = tuple(sorted(set(int(q) for q in self.qualities)))
        lo, hi = QUALITY_RANGE
        if any(not lo <= q <= hi for q in self.qualities) or (self.baselines and not self.qualities):
            raise ValueError(f"baseline qualities must be one or more of {lo}..{hi}")
        self.gcz_qualities = tuple(sorted(set(int(q) for q in self.gcz_qualities)))
        if any(not 0 <= q <= 100 for q in self.gcz_qualities):
            raise ValueError("graycodec qualities must be in 0..100")
        if self.max_images is not None and self.max_images < 1:
            raise ValueError("--max-images must be at least 1")
        if self.report is not None:
            self.report = Path(self.report)


@dataclass
class ImageInfo:
    name: str
    path: str
    width: int
    height: int
    original_bytes: int
    png_bytes: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def raw_bytes(self) -> int:
        return 3 * self.pixels

    def as_dict(self) -> dict:
        bpp = lambda n: 8.0 * n / self.pixels  # noqa: E731
        return {
            **asdict(self),
            "raw_bytes": self.raw_bytes,
            "original_bpp": bpp(self.original_bytes),
            "png_bpp": bpp(self.png_bytes),
        }


@dataclass
class EvalResults:
    options: dict
    images: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    figures: dict[str, str] = field(default_factory=dict)  # image name -> figure path in the report
    summary: dict = field(default_factory=dict)
    bd_rates: dict = field(default_factory=dict)  # baseline -> BD-rate of graycodec's --quality curve


# --- inputs ------------------------------------------------------------------------------
def find_images(inputs: Sequence[Path], max_images: int | None = None) -> list[tuple[str, Path]]:
    """(name, path) of every image under ``inputs``, by the rule of every command (batch.find_images)."""
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    for root in map(Path, inputs):
        if not root.exists():
            raise ImageInputError(f"{root}: no such file or folder")
        for src, rel in batch.find_images([root], IMAGE_EXTENSIONS):
            name = rel.as_posix() if rel is not None else root.name
            if name in seen:
                name = f"{root.name}/{name}"
            seen.add(name)
            found.append((name, Path(src)))
    if not found:
        raise ImageInputError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(map(str, inputs))}")
    return found[:max_images] if max_images else found


def load_rgb(path: Path) -> np.ndarray:
    """The image as the viewer sees it: EXIF orientation applied, 8-bit RGB."""
    try:
        im = imageio.open_image(path, max_pixels=DEFAULT_MAX_PIXELS)
    except GraycodecError as e:
        raise type(e)(f"{path}: {e}") from None
    return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8)


def png_size(rgb: np.ndarray) -> int:
    return len(imageio.image_bytes(Image.fromarray(rgb), "PNG"))


# --- one image ---------------------------------------------------------------------------
def _record(info: ImageInfo, codec: str, setting: str, role: str, nbytes, figures=None, **extra) -> dict:
    rec = dict.fromkeys(RECORD_FIELDS)
    rec.update(image=info.name, codec=codec, setting=setting, role=role, bytes=nbytes)
    if nbytes:
        rec.update(
            bpp=8.0 * nbytes / info.pixels,
            ratio_raw=info.raw_bytes / nbytes,
            ratio_original=info.original_bytes / nbytes,
            ratio_png=info.png_bytes / nbytes,
        )
    rec.update(figures or {})
    rec.update(extra)
    return rec


def bytes_for_de94(sweep: list[dict], target: float) -> tuple[float | None, float | None, str]:
    """Bytes (and quality) a swept codec needs for mean ΔE94 ``target``, interpolated linearly.

    Walks the sweep by size to the first point at or below the target. Returns
    ``(bytes, quality, note)``; bytes is None when even the largest swept file misses it.
    """
    pts = sorted(sweep, key=lambda r: r["bytes"])
    if pts[0]["de94"] <= target:
        return float(pts[0]["bytes"]), float(pts[0]["quality"]), f"upper bound: q{pts[0]['quality']} already reaches it"
    for prev, cur in zip(pts, pts[1:]):
        if cur["de94"] <= target:
            t = (prev["de94"] - target) / (prev["de94"] - cur["de94"])
            b = prev["bytes"] + t * (cur["bytes"] - prev["bytes"])
            q = prev["quality"] + t * (cur["quality"] - prev["quality"])
            return b, q, f"interpolated between q{prev['quality']} and q{cur['quality']}"
    return None, None, f"not reached by q{pts[-1]['quality']}"


def evaluate_image(name: str, path: Path, codecs: Sequence[Codec]) -> tuple[ImageInfo, list[dict], dict]:
    """Every record of one image, and the decoded pictures the report's figure shows."""
    rgb = load_rgb(path)
    h, w = rgb.shape[:2]
    info = ImageInfo(name, str(path), w, h, path.stat().st_size, png_size(rgb))
    ref = Reference.of(rgb)
    records: list[dict] = []
    shown = {"original": rgb, "gray": None, "colour": []}  # colour: [(label, rgb, de94 map)]

    targets = []
    for codec in (c for c in codecs if c.role in ("gcz", "gray")):
        for setting in codec.settings:
            coded = codec.run(rgb, setting)
            figures, de94_map = fidelity(ref, coded.rgb)
            rec = _record(info, codec.name, codec.setting_name(setting), codec.role, len(coded.data), figures)
            records.append(rec)
            targets.append((codec.label(setting), rec))
            if codec.role == "gray":
                shown["gray"] = (coded.rgb, de94_map)
            else:
                shown["colour"].append((codec.label(setting), coded.rgb, de94_map))

    for codec in (c for c in codecs if c.role == "baseline"):
        records.extend(_baseline_records(info, ref, codec, targets))
    return info, records, shown


def _baseline_records(info: ImageInfo, ref: Reference, codec: PillowCodec, targets) -> list[dict]:
    """The sweep of one baseline, then per target: the point at its size and the size at its ΔE94."""
    sweep = []
    for q in codec.settings:
        coded = codec.run(ref.rgb, q)
        figures, _ = fidelity(ref, coded.rgb, full=False)
        sweep.append(_record(info, codec.name, codec.setting_name(q), "sweep", len(coded.data), figures, quality=q))
    rows = list(sweep)
    full: dict[int, dict] = {}  # quality -> full figures, shared by targets landing on one quality
    # gray decodes the very file of graycodec/none: one size match serves both
    gray_is_none = any(t["role"] == "gcz" and t["setting"] == "none" for _, t in targets)
    for label, target in targets:
        if not (target["role"] == "gray" and gray_is_none):
            rows.append(_equal_size_record(info, ref, codec, label, target["bytes"], full))
        b, q, note = bytes_for_de94(sweep, target["de94"])
        rows.append(_record(info, codec.name, f"de94={label}", "equal_de94", b, {"de94": target["de94"]}, quality=q, note=note))
    return rows


def _equal_size_record(info, ref, codec: PillowCodec, label: str, target: int, full: dict) -> dict:
    q = codec.quality_for_size(ref.rgb, target)
    if q not in full:
        full[q] = fidelity(ref, codec.run(ref.rgb, q).rgb)[0]
    nbytes = len(codec.encode(ref.rgb, q))
    at_end = (q == max(codec.settings) and nbytes < target) or (q == min(codec.settings) and nbytes > target)
    note = f"beyond the sweep: q{q} is its nearest end" if at_end else f"quality nearest {target} B"
    return _record(info, codec.name, f"size={label}", "equal_size", nbytes, full[q], quality=q, note=note)


# --- the whole run -----------------------------------------------------------------------
def summarize(records: list[dict]) -> dict:
    """Mean, median and 95th percentile of every number, per codec/setting (first-seen order).

    Missing and non-finite values (the PSNR of an identical decode) are left out; ``n`` counts
    the rows, ``n_missing`` those without a size (a ΔE94 the sweep never reached).
    """
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(f"{r['codec']}/{r['setting']}", []).append(r)
    out = {}
    for key, rows in groups.items():
        entry = {"codec": rows[0]["codec"], "setting": rows[0]["setting"], "role": rows[0]["role"], "n": len(rows)}
        for stat in ("mean", "median", "p95"):
            entry[stat] = {}
        for k in ("quality", *SIZE_KEYS, *FIDELITY_KEYS):
            vals = np.array([r[k] for r in rows if r[k] is not None], dtype=np.float64)
            vals = vals[np.isfinite(vals)]
            if len(vals):
                entry["mean"][k] = float(vals.mean())
                entry["median"][k] = float(np.median(vals))
                entry["p95"][k] = float(np.percentile(vals, 95))
        _ratio_of_mean_colourfulness(entry, rows)
        entry["n_missing"] = sum(r["bytes"] is None for r in rows)
        out[key] = entry
    return out


def _ratio_of_mean_colourfulness(entry: dict, rows: list[dict]) -> None:
    """The mean colourfulness ratio as mean M of the outputs over mean M of the originals.

    A mean of per-image ratios lets a near-gray original (M of 2, say) with a tinted output
    weigh as much as a vivid photo; the ratio of means is what issue 12's bars and the
    training validation report. Median and p95 stay per-image.
    """
    pairs = [(r["colourfulness"], r["colourfulness_original"]) for r in rows
             if r.get("colourfulness") is not None and r.get("colourfulness_original") is not None]
    original = sum(o for _, o in pairs)
    if original > 1e-6:  # all originals colourless: no ratio, as for one such image
        entry["mean"]["colourfulness_ratio"] = sum(c for c, _ in pairs) / original


def evaluate(opts: EvalOptions, *, codecs: Sequence[Codec] | None = None, notes: Sequence[str] = ()) -> EvalResults:
    """Run the evaluation; write the report when ``opts.report`` is set."""
    files = find_images(opts.inputs, opts.max_images)
    if opts.report is not None:
        report.prepare_dir(opts.report, force=opts.force)  # refuse before the long part
    notes = list(notes)
    if codecs is None:
        codecs, built_notes = build_codecs(
            opts.hints, opts.baselines, opts.qualities,
            model=opts.model, device=opts.device, max_error=opts.max_error, gcz_qualities=opts.gcz_qualities,
        )
        notes += built_notes
    results = EvalResults(options=_jsonable(asdict(opts)), notes=notes)
    bar = tqdm(files, desc="eval", unit="img", file=sys.stderr, disable=not opts.progress)
    for name, path in bar:
        bar.set_postfix_str(name, refresh=False)
        try:
            info, records, shown = evaluate_image(name, path, codecs)
        except (GraycodecError, OSError, ValueError) as e:
            results.failures.append({"image": name, "error": str(e)})
            continue
        results.images.append(info.as_dict())
        results.records.extend(records)
        figure = report.write_image_figure(opts.report, name, shown) if opts.report is not None else None
        if figure:
            results.figures[name] = figure
    results.summary = summarize(results.records)
    results.bd_rates = report.bd_rates(results.summary)
    if opts.report is not None:
        report.write_report(results, opts.report)
    return results


def _jsonable(x):
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


# --- command line ------------------------------------------------------------------------
def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for s in values or [] for v in s.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="graycodec eval", description="Evaluate graycodec against the gray floor and standard codecs.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="DIR", help="image folders (recursive) or files")
    p.add_argument("--hints", action="append", metavar="LEVEL",
                   help=f"hint level(s) to evaluate, repeatable or comma-separated; 'all' = {','.join(HINT_LEVELS)} (default: {','.join(DEFAULT_HINTS)})")
    p.add_argument("--baselines", default=",".join(BASELINES),
                   help="comma-separated baseline codecs, or 'none' (default: %(default)s)")
    p.add_argument("--qualities", default=",".join(map(str, DEFAULT_QUALITIES)), help="baseline quality sweep (default: %(default)s)")
    p.add_argument("--gcz-qualities", default=",".join(map(str, DEFAULT_GCZ_QUALITIES)),
                   help="graycodec `encode --quality` sweep, or 'none' (default: %(default)s)")
    p.add_argument("--report", type=Path, metavar="OUTDIR", help="write CSV, JSON, summary.md, plots and index.html here")
    p.add_argument("--force", action="store_true", help="write into a non-empty report folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--model", metavar="PATH", help="model weights (default: the shipped model)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: %(default)s)")
    p.add_argument("--max-images", type=int, metavar="N", help="evaluate at most N images")
    p.add_argument("--max-error", type=int, default=0, metavar="N", help="lightness plane max error (default: lossless)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar on stderr")
    return p


def options_from_args(args: argparse.Namespace) -> EvalOptions:
    hints = _split(args.hints) or list(DEFAULT_HINTS)
    if "all" in hints:
        hints = list(HINT_LEVELS)
    baselines = [b for b in _split([args.baselines]) if b != "none"]
    return EvalOptions(
        inputs=args.inputs, hints=hints, baselines=baselines, qualities=[int(q) for q in _split([args.qualities])],
        report=args.report, force=args.force, json=args.json, model=args.model, device=args.device,
        max_images=args.max_images, max_error=args.max_error, progress=args.progress,
        gcz_qualities=[int(q) for q in _split([args.gcz_qualities]) if q != "none"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`graycodec eval` without click: parse ``argv``, evaluate, print; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        opts = options_from_args(args)
    except ValueError as e:
        parser.error(str(e))  # exits 2, like click's usage errors
    return run(opts)


def run(opts: EvalOptions) -> int:
    """Evaluate with ``opts``, print the summary (table, or JSON with ``opts.json``); exit code."""
    try:
        results = evaluate(opts)
    except GraycodecError as e:
        print(f"graycodec: error: {e}", file=sys.stderr)
        return e.exit_code
    for note in results.notes:
        print(f"note: {note}", file=sys.stderr)
    for f in results.failures:
        print(f"failed: {f['image']}: {f['error']}", file=sys.stderr)
    if opts.json:
        json.dump(report.summary_json(results), sys.stdout, indent=2, allow_nan=False)
        print()
    else:
        print(report.summary_markdown(results))
    if opts.report is not None:
        print(f"report: {opts.report / 'index.html'}", file=sys.stderr)
    return EXIT_FAILED if results.failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
