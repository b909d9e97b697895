"""The colorization Turing test, made repeatable: ``graycodec survey build`` and ``score``.

::

    build:  photos ──seeded choice──▶ items (half real, half colorized; neutral random ids)
            ──resize, colorize the "colorized" ones──▶ DIR/img/<id>.jpg
            ──▶ DIR/index.html (static; shows the items in a random order, asks "real or
                colorized?", gives the answers as JSON)  +  DIR/key.json (the answer key,
                which the page never loads)
    score:  key + answer files ──▶ fool rate (colorized items judged real: Zhang et al.'s
            measure) and error rate (all answers that were wrong: the original's 62 %), each with
            a 95 % Wilson interval, per participant, per item and overall

Both kinds of item go through the same resize and the same JPEG encoder, so neither file size
nor format tells them apart. The intervals treat answers as independent trials; answers of one
participant are correlated, so with few participants the overall interval is optimistic.
"""
from __future__ import annotations

import html
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from . import batch, codec, imageio
from .errors import GraycodecError, ImageInputError, OutputError

REAL, COLORIZED = "real", "colorized"
TRUTHS = (REAL, COLORIZED)
KEY_FILE = "key.json"
PAGE_FILE = "index.html"
IMAGE_DIR = "img"
DEFAULT_SIZE = 512  # long side of the shown photos
JPEG_QUALITY = 92
Z95 = 1.959963984540054  # two-sided 95 % normal quantile


class SurveyError(GraycodecError, ValueError):
    """A survey folder, key or answer file that cannot be used."""

    exit_code = 3


# --- build ------------------------------------------------------------------------------------
@dataclass
class Item:
    item: str
    truth: str
    source: str

    def as_dict(self) -> dict:
        return {"item": self.item, "truth": self.truth, "source": self.source}


def plan_items(sources: list[str], count: int, seed: int) -> list[Item]:
    """``count`` items from ``sources``, half of them colorized (the odd one real), seeded.

    Each source is used once while there are enough; ids are random hex, telling nothing.
    """
    if count < 2:
        raise SurveyError("--count must be at least 2 (one real and one colorized item)")
    if not sources:
        raise ImageInputError("no images to build a survey from")
    rng = random.Random(seed)
    order = list(sources)
    rng.shuffle(order)
    picked = [order[k % len(order)] for k in range(count)]
    truths = [COLORIZED] * (count - count // 2) + [REAL] * (count // 2)
    rng.shuffle(truths)
    ids: list[str] = []
    while len(ids) < count:
        new = f"{rng.getrandbits(24):06x}"
        if new not in ids:
            ids.append(new)
    return [Item(i, t, s) for i, t, s in zip(ids, truths, picked)]


def shown_image(source: str, truth: str, predictor, size: int, vividness: float) -> Image.Image:
    """The photo as the participant sees it: at most ``size`` pixels long, colorized or not."""
    im = imageio.open_image(source, max_pixels=codec.DEFAULT_MAX_PIXELS)
    im = ImageOps.exif_transpose(im).convert("RGB")
    im.thumbnail((size, size), Image.Resampling.LANCZOS)
    if truth == COLORIZED:
        im = codec.colorize(im, predictor=predictor, vividness=vividness).convert("RGB")
    return im


def build(inputs, out_dir, *, count: int, seed: int, size: int = DEFAULT_SIZE, predictor=None,
          vividness: float = codec.COLORIZE_VIVIDNESS, force: bool = False, progress=None) -> list[Item]:
    """Write the survey page, its images and the key; returns the items."""
    sources = [src for src, _ in batch.find_images(inputs, imageio.IMAGE_EXTENSIONS)]
    items = plan_items(sources, count, seed)
    out = Path(out_dir)
    key = out / KEY_FILE
    if key.exists() and not force:
        raise OutputError(f"{out} already holds a survey ({KEY_FILE}); use --force to replace it")
    try:
        (out / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create ({exc.strerror or exc})") from None
    predictor = predictor or batch.LazyPredictor()
    shown = []
    for k, it in enumerate(items):
        try:
            im = shown_image(it.source, it.truth, predictor, size, vividness)
        except GraycodecError as exc:
            raise type(exc)(f"{it.source}: {exc}") from None
        name = f"{IMAGE_DIR}/{it.item}.jpg"
        imageio.write_atomic(out / name, imageio.image_bytes(im, "JPEG"), force=True)
        shown.append({"item": it.item, "src": name, "width": im.width, "height": im.height})
        if progress:
            progress(k + 1, len(items), it.source)
    imageio.write_atomic(out / PAGE_FILE, page(shown).encode(), force=True)
    imageio.write_atomic(key, json.dumps({"items": [i.as_dict() for i in items], "seed": seed, "count": count},
                                         indent=2).encode(), force=True)
    return items


def page(shown: list[dict]) -> str:
    """The static survey page: the items (ids and image paths only), the order shuffled per visit."""
    data = json.dumps(shown).replace("</", "<\\/")
    return PAGE_TEMPLATE.replace("__ITEMS__", data).replace("__COUNT__", html.escape(str(len(shown))))


PAGE_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Real or colorized? A photo survey</title>
<style>
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; color: #1d2433; background: #f6f7f9; }
  main { max-width: 760px; margin: 0 auto; padding: 24px; text-align: center; }
  #photo { max-width: 100%; max-height: 70vh; border-radius: 6px; box-shadow: 0 1px 6px rgba(0,0,0,.2); }
  button { font: inherit; font-weight: 600; padding: 10px 28px; margin: 14px 8px; border-radius: 8px;
           border: 1px solid #2f6fde; background: #2f6fde; color: #fff; cursor: pointer; }
  button.alt { background: #fff; color: #2f6fde; }
  #progress { color: #5b6475; }
  [hidden] { display: none !important; }
</style>
</head>
<body>
<main>
  <h1>Real or colorized?</h1>
  <section id="intro">
    <p>You will see __COUNT__ photos, one at a time. Some are real colour photos; others were black-and-white
       and a computer added the colours. For each photo, say whether you think it is <b>real</b> or
       <b>colorized</b>. Go with your first impression; there is no going back.</p>
    <button id="start">Start</button>
  </section>
  <section id="ask" hidden>
    <p id="progress"></p>
    <img id="photo" alt="survey photo">
    <p>Is this photo real or colorized?</p>
    <button id="say-real">Real</button><button id="say-colorized" class="alt">Colorized</button>
  </section>
  <section id="done" hidden>
    <p>Thank you! Please download your answers and send the file to the person running the survey.</p>
    <p><label>Your name or a nickname (optional): <input id="who" autocomplete="off"></label></p>
    <button id="download">Download my answers</button>
    <pre id="summary"></pre>
  </section>
</main>
<script>
"use strict";
const ITEMS = __ITEMS__;
const $ = (id) => document.getElementById(id);
const order = ITEMS.slice();
for (let i = order.length - 1; i > 0; i--) {  // a new random order for every participant
  const j = Math.floor(Math.random() * (i + 1)); [order[i], order[j]] = [order[j], order[i]];
}
const answers = [];
let at = 0;
function show() {
  $("progress").textContent = `Photo ${at + 1} of ${order.length}`;
  $("photo").src = order[at].src;
}
function answer(said) {
  answers.push({ item: order[at].item, said });
  at += 1;
  if (at < order.length) { show(); return; }
  $("ask").hidden = true; $("done").hidden = false;
  $("summary").textContent = `${answers.length} answers recorded.`;
}
$("start").onclick = () => { $("intro").hidden = true; $("ask").hidden = false; show(); };
$("say-real").onclick = () => answer("real");
$("say-colorized").onclick = () => answer("colorized");
$("download").onclick = () => {
  const who = $("who").value.trim();
  const doc = { participant: who || null, finished: new Date().toISOString(), answers };
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([JSON.stringify(doc, null, 1)], { type: "application/json" }));
  a.download = "answers" + (who ? "-" + who.replace(/[^\\w-]+/g, "_") : "") + ".json";
  document.body.appendChild(a); a.click(); a.remove();
};
</script>
</body>
</html>
"""


# --- score ------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = Z95) -> list[float] | None:
    """Wilson score interval of the proportion k/n (None for n = 0)."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def load_key(folder) -> dict[str, dict]:
    path = Path(folder)
    path = path / KEY_FILE if path.is_dir() else path
    try:
        items = json.loads(path.read_text())["items"]
        key = {str(i["item"]): {"truth": i["truth"], "source": i.get("source")} for i in items}
    except FileNotFoundError:
        raise SurveyError(f"{path}: no such file (is {folder} a survey built by 'graycodec survey build'?)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SurveyError(f"{path}: not a survey key ({type(exc).__name__}: {exc})") from None
    bad = [k for k, v in key.items() if v["truth"] not in TRUTHS]
    if bad:
        raise SurveyError(f"{path}: item {bad[0]} has no real/colorized answer")
    return key


def load_answers(path, key: dict) -> tuple[str, list[tuple[str, str]]]:
    """(participant, [(item, said)]) of one answer file, checked against the key."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        answers = [(str(a["item"]), a["said"]) for a in doc["answers"]]
    except FileNotFoundError:
        raise SurveyError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SurveyError(f"{path}: not an answer file {{\"answers\": [...]}} ({type(exc).__name__})") from None
    seen = set()
    for item, said in answers:
        if item not in key:
            raise SurveyError(f"{path}: item {item} is not in this survey")
        if said not in TRUTHS:
            raise SurveyError(f"{path}: item {item}: said {said!r}, expected real or colorized")
        if item in seen:
            raise SurveyError(f"{path}: item {item} answered twice")
        seen.add(item)
    who = doc.get("participant") if isinstance(doc, dict) else None
    return str(who or path.stem), answers


class _Tally:
    def __init__(self):
        self.answers = self.wrong = self.on_colorized = self.fooled = 0

    def add(self, truth: str, said: str) -> None:
        self.answers += 1
        self.wrong += said != truth
        if truth == COLORIZED:
            self.on_colorized += 1
            self.fooled += said == REAL

    def as_dict(self) -> dict:
        rate = (lambda k, n: k / n if n else None)
        return {"fool_rate": rate(self.fooled, self.on_colorized), "ci95": wilson(self.fooled, self.on_colorized),
                "error_rate": rate(self.wrong, self.answers), "error_ci95": wilson(self.wrong, self.answers),
                "answers": self.answers, "colorized_answers": self.on_colorized, "fooled": self.fooled,
                "wrong": self.wrong}


def score(folder, answer_files) -> dict:
    """Fool and error rates with 95 % intervals: overall, per participant, per item."""
    key = load_key(folder)
    overall, people, items = _Tally(), {}, {k: _Tally() for k in key}
    for f in answer_files:
        who, answers = load_answers(f, key)
        name = who
        n = 2
        while name in people:  # two files with the same participant name stay apart
            name, n = f"{who} ({n})", n + 1
        people[name] = _Tally()
        for item, said in answers:
            truth = key[item]["truth"]
            for t in (overall, people[name], items[item]):
                t.add(truth, said)
    return {**overall.as_dict(), "participants": [{"participant": p, **t.as_dict()} for p, t in people.items()],
            "items": [{"item": k, "truth": key[k]["truth"], "source": key[k]["source"], **t.as_dict()}
                      for k, t in items.items()]}


def format_report(result: dict) -> str:
    """The score as a small text table."""
    def pct(x):
        return "   —  " if x is None else f"{100 * x:5.1f}%"

    def ci(c):
        return "" if c is None else f"[{100 * c[0]:.1f}, {100 * c[1]:.1f}]"

    lines = [f"{'':24} {'fool rate':>9} {'95% CI':>14}  {'error rate':>10} {'95% CI':>14}  answers"]

    def row(label, r):
        lines.append(f"{label[:24]:24} {pct(r['fool_rate']):>9} {ci(r['ci95']):>14}  {pct(r['error_rate']):>10} "
                     f"{ci(r['error_ci95']):>14}  {r['answers']}")
    row("overall", result)
    lines.append("participants:")
    for r in result["participants"]:
        row("  " + r["participant"], r)
    lines.append("items:")
    for r in result["items"]:
        row(f"  {r['item']} ({r['truth']})", r)
    lines.append("fool rate: share of colorized photos judged real; error rate: share of all answers that were wrong.")
    return "\n".join(lines)
