"""The evaluation report: results.csv, results.json, summary.md, plots, figures, index.html.

Everything here reads an :class:`~graycodec.evaluation.runner.EvalResults` (records and
their summary) and writes files; nothing is measured again. Tables are built once as
``(title, headers, rows)`` and rendered both as Markdown and as HTML. Plots use
matplotlib's object API (no pyplot, no global backend).
"""
from __future__ import annotations

import csv
import html
import json
import math
import platform
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from graycodec import __version__
from graycodec.errors import OutputError
from graycodec.evaluation.bdrate import bd_rate
from graycodec.evaluation.metrics import FIDELITY_KEYS

# Columns of a result row (one per image × codec/setting), in CSV order.
# role: gcz (graycodec colour) | gray | sweep | equal_size | equal_de94 (see runner.py).
SIZE_KEYS = ("bytes", "bpp", "ratio_raw", "ratio_original", "ratio_png")
RECORD_FIELDS = ("image", "codec", "setting", "role", "quality", *SIZE_KEYS, *FIDELITY_KEYS, "note")

RD_CHART = "rate_distortion.png"
HISTOGRAM = "de94_histogram.png"
IMAGES_DIR = "images"
HEATMAP_MAX = 20.0  # ΔE94 at the top of every heat map's colour scale, so maps compare
FILES = ("results.csv", "results.json", "summary.md", RD_CHART, HISTOGRAM, "index.html")


# --- the folder --------------------------------------------------------------------------
def prepare_dir(outdir: Path, *, force: bool = False) -> None:
    """Create the report folder; refuse a non-empty one unless ``force``."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"{outdir}: exists and is not a folder")
    if outdir.is_dir() and any(outdir.iterdir()) and not force:
        raise OutputError(f"{outdir}: report folder is not empty (use --force to write into it)")
    try:
        (outdir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{outdir}: cannot create the report folder ({e})") from e


def write_report(results, outdir: Path) -> None:
    outdir = Path(outdir)
    write_csv(results, outdir / "results.csv")
    (outdir / "results.json").write_text(json.dumps(results_json(results), indent=1, allow_nan=False), encoding="utf-8")
    (outdir / "summary.md").write_text(summary_markdown(results), encoding="utf-8")
    plot_rate_distortion(results, outdir / RD_CHART)
    plot_histogram(results, outdir / HISTOGRAM)
    (outdir / "index.html").write_text(index_html(results), encoding="utf-8")


# --- data files --------------------------------------------------------------------------
def _clean(x):
    """JSON-safe: non-finite floats become None; numpy scalars become Python numbers."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def write_csv(results, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=RECORD_FIELDS)
        w.writeheader()
        for r in results.records:
            w.writerow({k: "" if v is None else v for k, v in _clean(r).items()})


def _environment() -> dict:
    import PIL
    import skimage

    return {
        "graycodec": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pillow": PIL.__version__,
        "scikit-image": skimage.__version__,
        "machine": f"{platform.machine()} {platform.processor() or platform.system()}",
    }


def summary_json(results) -> dict:
    """What `--json` prints: the per-codec statistics, BD-rates, notes and failures."""
    return _clean({
        "n_images": len(results.images),
        "notes": results.notes,
        "failures": results.failures,
        "bd_rate": getattr(results, "bd_rates", {}),
        "summary": results.summary,
    })


def quality_curve(summary: dict) -> list[tuple[int, float, float]]:
    """graycodec's `--quality` points [(Q, mean bpp, mean ΔE94)] by Q, from the summary."""
    pts = []
    for e in summary.values():
        m = e["mean"]
        if e["role"] == "gcz" and re.fullmatch(r"q\d+", e["setting"]) and "bpp" in m and "de94" in m:
            pts.append((int(e["setting"][1:]), m["bpp"], m["de94"]))
    return sorted(pts)


def bd_rates(summary: dict) -> dict:
    """{baseline: {"bd_rate_pct": x} or {"error": why}}: graycodec's --quality curve against each
    baseline's quality sweep, mean ΔE94 as the distortion (evaluation.bdrate)."""
    ours = [(bpp, de) for _, bpp, de in quality_curve(summary)]
    if not ours:
        return {}
    sweeps: dict[str, list] = {}
    for e in summary.values():
        if e["role"] == "sweep" and "bpp" in e["mean"] and "de94" in e["mean"]:
            sweeps.setdefault(e["codec"], []).append((e["mean"]["bpp"], e["mean"]["de94"]))
    out = {}
    for codec, pts in sweeps.items():
        try:
            out[codec] = {"bd_rate_pct": bd_rate(pts, ours), "distortion": "mean ΔE94"}
        except ValueError as exc:
            out[codec] = {"error": str(exc)}
    return out


def bd_table(results) -> tuple[str, list[str], list[list[str]]]:
    rows = [[codec.upper(), _fmt(v.get("bd_rate_pct"), 1) + " %" if "bd_rate_pct" in v else f"— ({v['error']})"]
            for codec, v in getattr(results, "bd_rates", {}).items()]
    return ("BD-rate of graycodec --quality against each baseline (ΔE94; negative = fewer bits)",
            ["baseline", "BD-rate"], rows)


def results_json(results) -> dict:
    return _clean({
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": _environment(),
        "options": results.options,
        **summary_json(results),
        "images": results.images,
        "figures": results.figures,
        "records": results.records,
    })


# --- tables ------------------------------------------------------------------------------
def _fmt(x, digits=2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def _entries(results, *roles):
    return [e for e in results.summary.values() if e["role"] in roles]


HEADLINE_SWEEP = {"jpeg": (50, 75, 90), "webp": (50, 75, 90), "avif": (50, 75)}  # the points ANCHORS.md lists


def headline_table(results) -> tuple[str, list[str], list[list[str]]]:
    """bpp, ΔE94, CIEDE2000, PSNR: graycodec at each level, gray, and the usual baseline qualities."""
    rows = []
    for e in results.summary.values():
        m = e["mean"]
        if e["role"] == "gcz":
            q = re.fullmatch(r"q(\d+)", e["setting"])
            name = f"graycodec --quality {q.group(1)}" if q else f"graycodec, hints {e['setting']}"
        elif e["role"] == "gray":
            name = "gray (exact L, a = b = 0)"
        elif e["role"] == "sweep" and m.get("quality") in HEADLINE_SWEEP.get(e["codec"], ()):
            name = f"{e['codec'].upper()} q{m['quality']:.0f}"
        else:
            continue
        rows.append([name, _fmt(m.get("bpp"), 3), _fmt(m.get("de94")), _fmt(m.get("de2000")), _fmt(m.get("psnr"))])
    return ("Headline (means over images)", ["codec", "bpp", "ΔE94", "CIEDE2000", "PSNR dB"], rows)


def headline_markdown(results) -> str:
    return _markdown([headline_table(results)])


def tables(results) -> list[tuple[str, list[str], list[list[str]]]]:
    """The report's tables as (title, headers, rows of strings)."""
    out = [headline_table(results)] if results.summary else []
    if getattr(results, "bd_rates", None):
        out.append(bd_table(results))
    imgs = results.images
    if imgs:
        mean = lambda k: float(np.mean([i[k] for i in imgs]))  # noqa: E731
        sizes = Counter(f"{i['width']}×{i['height']}" for i in imgs).most_common()
        sizes = ", ".join(f"{s} ({n})" for s, n in sizes[:3]) + (", …" if len(sizes) > 3 else "")
        out.append((
            "Images",
            ["images", "sizes", "original bpp", "PNG bpp (Pillow, level 6)", "raw RGB bpp"],
            [[str(len(imgs)), sizes, _fmt(mean("original_bpp")),
              _fmt(mean("png_bpp")), "24.00"]],
        ))
    rows = []
    for e in _entries(results, "gcz", "gray"):
        m, md, p = e["mean"], e["median"], e["p95"]
        name = "gray (exact L, a = b = 0)" if e["role"] == "gray" else f"graycodec, hints {e['setting']}"
        rows.append([
            name, _fmt(m.get("bpp"), 3), _fmt(m.get("ratio_raw"), 1), _fmt(m.get("ratio_original"), 1),
            _fmt(m.get("ratio_png"), 1),
            f"{_fmt(m.get('de94'))} / {_fmt(md.get('de94'))} / {_fmt(p.get('de94'))}",
            _fmt(m.get("de2000")), _fmt(m.get("de76")), _fmt(m.get("psnr")), _fmt(m.get("ssim"), 3),
            _fmt(m.get("mse_ab"), 1), _fmt(m.get("mse_rgb"), 1),
            f"{_fmt(m.get('colourfulness'), 1)} / {_fmt(m.get('colourfulness_original'), 1)}",
            _fmt(m.get("colourfulness_ratio")), _fmt(m.get("ab_auc"), 3),
            _fmt(100 * m["de94_over_10"] if "de94_over_10" in m else None, 1),
        ])
    if rows:
        out.append((
            "graycodec and the gray floor (means over images)",
            ["decode", "bpp", "raw/gcz", "original/gcz", "PNG/gcz", "ΔE94 mean / median / p95", "CIEDE2000",
             "ΔE76", "PSNR dB", "SSIM", "MSE a/b", "MSE RGB", "colourfulness M (output / original)",
             "colourfulness ratio (of the means)", "a/b AUC (rebalanced)",
             "% px ΔE94>10"],
            rows,
        ))
    targets = {f"{e['codec']}/{e['setting']}" if e["role"] == "gcz" else e["codec"]: e
               for e in _entries(results, "gcz", "gray")}
    rows = []
    for e in _entries(results, "equal_size"):
        m = e["mean"]
        target = e["setting"].split("=", 1)[1]
        tgt = targets.get(target, {"mean": {}})["mean"]
        rows.append([e["codec"], target, _fmt(tgt.get("bpp"), 3), _fmt(m.get("quality"), 1), _fmt(m.get("bpp"), 3),
                     f"{_fmt(m.get('de94'))} (gcz {_fmt(tgt.get('de94'))})", _fmt(m.get("de2000")),
                     _fmt(m.get("psnr")), _fmt(m.get("ssim"), 3)])
    if rows:
        out.append((
            "Baselines at each .gcz file's size (quality nearest the size, per image)",
            ["codec", "at the size of", ".gcz bpp", "mean quality", "bpp", "ΔE94", "CIEDE2000", "PSNR dB", "SSIM"],
            rows,
        ))
    rows = []
    for e in _entries(results, "equal_de94"):
        m = e["mean"]
        target = e["setting"].split("=", 1)[1]
        tgt = targets.get(target, {"mean": {}})["mean"]
        reached = e["n"] - e["n_missing"]
        bounds = sum(1 for r in results.records if r["codec"] == e["codec"] and r["setting"] == e["setting"]
                     and (r["note"] or "").startswith("upper bound"))
        ratio = m["bpp"] / tgt["bpp"] if m.get("bpp") and tgt.get("bpp") else None
        rows.append([e["codec"], target, _fmt(tgt.get("de94")), _fmt(tgt.get("bpp"), 3), _fmt(m.get("bpp"), 3),
                     _fmt(ratio), f"{reached}/{e['n']}", str(bounds)])
    if rows:
        out.append((
            "Size each baseline needs for the .gcz file's ΔE94 (interpolated in its sweep)",
            ["codec", "ΔE94 of", "target ΔE94", ".gcz bpp", "baseline bpp", "baseline/gcz", "images reached",
             "of which upper bounds (lowest quality already better)"],
            rows,
        ))
    rows = [[e["codec"], e["setting"], _fmt(e["mean"].get("bpp"), 3), _fmt(e["mean"].get("de94")),
             _fmt(e["mean"].get("de2000")), _fmt(e["mean"].get("psnr"))] for e in _entries(results, "sweep")]
    if rows:
        out.append(("Baseline quality sweeps (means)", ["codec", "quality", "bpp", "ΔE94", "CIEDE2000", "PSNR dB"], rows))
    return out


def _markdown(tabs) -> str:
    lines = []
    for title, headers, rows in tabs:
        lines += [f"## {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def summary_markdown(results) -> str:
    lines = ["# Evaluation summary", "", _markdown(tables(results))]
    for title, items in (("Notes", results.notes), ("Failures", [f"{f['image']}: {f['error']}" for f in results.failures])):
        if items:
            lines += [f"## {title}", ""] + [f"- {x}" for x in items] + [""]
    lines.append("bpp = bits per pixel of the whole file; ΔE94 and CIEDE2000 are per-pixel means "
                 "(skimage, original as reference), then averaged over images.")
    return "\n".join(lines) + "\n"


# --- plots -------------------------------------------------------------------------------
def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=fig.dpi, bbox_inches="tight")


def plot_rate_distortion(results, path: Path) -> None:
    """bpp vs ΔE94, CIEDE2000 and RGB MSE: a curve per baseline and for graycodec's --quality,
    a point per hint level, gray as a line."""
    fig = Figure(figsize=(16, 4.2), dpi=100)
    axes = fig.subplots(1, 3)
    for ax, key, title in zip(axes, ("de94", "de2000", "mse_rgb"), ("ΔE94", "CIEDE2000", "MSE (8-bit RGB)")):
        by_codec: dict[str, list] = {}
        for e in _entries(results, "sweep"):
            by_codec.setdefault(e["codec"], []).append((e["mean"].get("bpp"), e["mean"].get(key)))
        for codec, pts in by_codec.items():
            pts = sorted(p for p in pts if None not in p)
            if pts:
                ax.plot(*zip(*pts), marker=".", label=codec.upper())
        curve = [(e["mean"]["bpp"], e["mean"][key]) for e in _entries(results, "gcz")
                 if re.fullmatch(r"q\d+", e["setting"]) and key in e["mean"] and "bpp" in e["mean"]]
        if curve:
            ax.plot(*zip(*sorted(curve)), marker="*", markersize=9, color="black", label="graycodec --quality")
        for e in _entries(results, "gcz"):
            m = e["mean"]
            if key in m and not re.fullmatch(r"q\d+", e["setting"]):
                ax.plot(m["bpp"], m[key], marker="*", markersize=13, linestyle="none", label=f"graycodec {e['setting']}")
        for e in _entries(results, "gray"):
            if key in e["mean"]:
                ax.axhline(e["mean"][key], color="gray", linestyle="--", label="gray (a = b = 0)")
                ax.plot(e["mean"]["bpp"], e["mean"][key], marker="x", color="gray", linestyle="none")
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole file)")
        ax.set_ylabel(f"mean {title}")
        ax.set_title(f"rate vs {title}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    _save(fig, path)


def plot_histogram(results, path: Path) -> None:
    """Per-image mean ΔE94 of graycodec at each hint level and of gray."""
    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.subplots()
    series: dict[str, list] = {}
    for r in results.records:
        if r["role"] in ("gcz", "gray") and r["de94"] is not None:
            series.setdefault("gray" if r["role"] == "gray" else f"graycodec {r['setting']}", []).append(r["de94"])
    if series:
        top = max(max(v) for v in series.values())
        bins = np.linspace(0, max(top, 1e-3) * 1.05, 21)
        for label, vals in series.items():
            ax.hist(vals, bins=bins, histtype="step", linewidth=1.5, label=label,
                    **({"color": "gray", "linestyle": "--"} if label == "gray" else {}))
        ax.legend(fontsize=8)
    ax.set_xlabel("mean ΔE94 of an image")
    ax.set_ylabel("images")
    ax.set_title("per-image ΔE94")
    _save(fig, path)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.rsplit(".", 1)[0]) or "image"


def write_image_figure(outdir: Path, name: str, shown: dict) -> str | None:
    """gray | predicted | original | ΔE94 heat map, one row per colour decode; its relative path.

    Without colour decodes (no model) the gray decode takes the "predicted" place; without
    either (no graycodec at all) there is no figure and the result is None.
    """
    rows = list(shown["colour"])
    if not rows and shown["gray"] is not None:
        rows = [("gray (no colour decode)", *shown["gray"])]
    if not rows:
        return None
    gray = shown["gray"][0] if shown["gray"] is not None else None
    h, w = shown["original"].shape[:2]
    panel = 3.2
    fig = Figure(figsize=(4 * panel + 0.6, len(rows) * (panel * h / w + 0.35) + 0.4), dpi=90, layout="constrained")
    axes = fig.subplots(len(rows), 4, squeeze=False)
    for (label, rgb, de94), ax in zip(rows, axes):
        for a, img, title in ((ax[0], gray, "gray (stored L)"), (ax[1], rgb, label), (ax[2], shown["original"], "original")):
            if img is not None:
                a.imshow(img)
            a.set_title(title, fontsize=9)
        im = ax[3].imshow(de94, cmap="magma", vmin=0, vmax=HEATMAP_MAX)
        ax[3].set_title(f"ΔE94, mean {float(de94.mean()):.2f}", fontsize=9)
        fig.colorbar(im, ax=ax[3], shrink=0.9)
        for a in ax:
            a.set_axis_off()
    fig.suptitle(name, fontsize=10)
    rel = f"{IMAGES_DIR}/{_slug(name)}.png"
    _save(fig, Path(outdir) / rel)
    return rel


def _image_caption(results, name: str) -> str:
    """One image's graycodec and gray figures, e.g. "graycodec/none 4.27 bpp, ΔE94 8.10; …"."""
    return "; ".join(
        f"{'gray' if r['role'] == 'gray' else r['codec'] + '/' + r['setting']} {_fmt(r['bpp'])} bpp, "
        f"ΔE94 {_fmt(r['de94'])}, CIEDE2000 {_fmt(r['de2000'])}, PSNR {_fmt(r['psnr'])} dB"
        for r in results.records if r["image"] == name and r["role"] in ("gcz", "gray")
    )


# --- index.html --------------------------------------------------------------------------
def index_html(results) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>graycodec evaluation</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
        "td:first-child{text-align:left}img{max-width:100%}.pair{display:flex;gap:1em;flex-wrap:wrap}</style>",
        "</head><body><h1>graycodec evaluation</h1>",
        f"<p>{len(results.images)} images. Data: <a href='results.csv'>results.csv</a>, "
        "<a href='results.json'>results.json</a>, <a href='summary.md'>summary.md</a>.</p>",
    ]
    if results.notes or results.failures:
        items = results.notes + [f"failed: {f['image']}: {f['error']}" for f in results.failures]
        parts.append("<ul>" + "".join(f"<li>{e(x)}</li>" for x in items) + "</ul>")
    parts.append(f"<div class='pair'><img src='{RD_CHART}' alt='rate-distortion'><img src='{HISTOGRAM}' alt='histogram'></div>")
    for title, headers, rows in tables(results):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        parts.append("</table>")
    parts.append("<h2>Images: gray | predicted | original | ΔE94</h2>")
    for name, rel in results.figures.items():
        parts.append(f"<figure><img loading='lazy' src='{e(rel)}' alt='{e(name)}'>"
                     f"<figcaption><b>{e(name)}</b>: {e(_image_caption(results, name))}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
