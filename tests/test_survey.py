"""The survey kit: building (seeded, balanced, nothing given away) and scoring against rates and
Wilson intervals computed by hand."""
import json
import re

import pytest
from PIL import Image

from graycodec import survey
from graycodec.errors import EXIT_BAD_INPUT

from conftest import random_rgb


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(5):
        Image.fromarray(random_rgb(40, 60, k)).save(folder / f"p{k}.png")
    return folder


def test_plan_is_seeded_balanced_and_neutral():
    a = survey.plan_items([f"s{k}.png" for k in range(6)], 6, seed=1)
    b = survey.plan_items([f"s{k}.png" for k in range(6)], 6, seed=1)
    assert [x.as_dict() for x in a] == [x.as_dict() for x in b]
    assert sorted(x.truth for x in a) == ["colorized"] * 3 + ["real"] * 3
    assert len({x.item for x in a}) == 6 and len({x.source for x in a}) == 6
    assert all(re.fullmatch(r"[0-9a-f]{6}", x.item) for x in a)
    assert [x.as_dict() for x in survey.plan_items([f"s{k}.png" for k in range(6)], 6, seed=2)] != \
        [x.as_dict() for x in a]
    assert sorted(x.truth for x in survey.plan_items(["a", "b"], 5, seed=0)) == ["colorized"] * 3 + ["real"] * 2


def test_build_writes_page_images_and_key(tmp_path, photos, fake_predictor, cli_run):
    out = tmp_path / "s"
    r = cli_run("survey", "build", photos, "-o", out, "--count", 4, "--seed", 3, "--size", 32)
    assert r.exit_code == 0, r.stderr
    key = json.loads((out / "key.json").read_text())
    assert len(key["items"]) == 4 and {i["truth"] for i in key["items"]} == {"real", "colorized"}
    page = (out / "index.html").read_text()
    assert "key.json" not in page and "truth" not in page.lower()
    for it in key["items"]:
        img = out / "img" / f"{it['item']}.jpg"
        assert f'"img/{it["item"]}.jpg"' in page and img.is_file()
        assert max(Image.open(img).size) == 32
    assert fake_predictor.loads == 1 and len(fake_predictor.calls) == 2  # only the colorized ones
    r = cli_run("survey", "build", photos, "-o", out, "--count", 4, "--seed", 3)
    assert r.exit_code == 4 and "already holds a survey" in r.stderr


def _key(tmp_path, truths):
    d = tmp_path / "survey"
    d.mkdir()
    items = [{"item": f"q{k}", "truth": t, "source": f"s{k}.png"} for k, t in enumerate(truths)]
    (d / "key.json").write_text(json.dumps({"items": items}))
    return d


def _answers(tmp_path, name, said):
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps({"answers": [{"item": f"q{k}", "said": s} for k, s in enumerate(said)]}))
    return p


def test_score_by_hand(tmp_path):
    d = _key(tmp_path, ["real", "real", "colorized", "colorized", "colorized"])
    a = _answers(tmp_path, "ann", ["real", "colorized", "real", "real", "colorized"])  # fooled 2/3, wrong 3/5
    b = _answers(tmp_path, "bob", ["real", "real", "colorized", "real", "colorized"])  # fooled 1/3, wrong 1/5
    r = survey.score(d, [a, b])
    assert r["fool_rate"] == pytest.approx(3 / 6) and r["error_rate"] == pytest.approx(4 / 10)
    # Wilson 95 % for 3/6: centre (0.5 + z²/12) / (1 + z²/6) = 0.5, half-width
    # z·sqrt(0.25/6 + z²/144) / (1 + z²/6) = 0.3116 (worked out with z = 1.959964)
    assert r["ci95"] == pytest.approx([0.1876, 0.8124], abs=1e-4)
    # 4/10: centre (0.4 + z²/20)/(1 + z²/10) = 0.4277, half 0.2596 -> [0.1682, 0.6873]
    assert r["error_ci95"] == pytest.approx([0.1682, 0.6873], abs=1e-4)
    people = {p["participant"]: p for p in r["participants"]}
    assert people["ann"]["fool_rate"] == pytest.approx(2 / 3) and people["bob"]["error_rate"] == pytest.approx(0.2)
    items = {i["item"]: i for i in r["items"]}
    assert items["q3"]["fool_rate"] == 1.0 and items["q4"]["fool_rate"] == 0.0
    assert items["q0"]["fool_rate"] is None and items["q0"]["error_rate"] == 0.0


def test_wilson_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 5), (3, 6), (7, 7), (62, 100), (223, 360)]:
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
        assert survey.wilson(k, n) == pytest.approx([ci.low, ci.high], abs=1e-9)
    assert survey.wilson(0, 0) is None


def test_score_cli_text_and_json(tmp_path, cli_run):
    d = _key(tmp_path, ["real", "colorized"])
    a = _answers(tmp_path, "a", ["real", "real"])
    r = cli_run("survey", "score", d, a, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["fool_rate"] == 1.0
    r = cli_run("survey", "score", d, a)
    assert r.exit_code == 0 and "fool rate" in r.stdout and "100.0%" in r.stdout


@pytest.mark.parametrize("content,word", [
    ("{", "not an answer file"),
    ('{"answers": [{"item": "zz", "said": "real"}]}', "not in this survey"),
    ('{"answers": [{"item": "q0", "said": "maybe"}]}', "expected real or colorized"),
    ('{"answers": [{"item": "q0", "said": "real"}, {"item": "q0", "said": "real"}]}', "answered twice"),
])
def test_bad_answer_files_are_one_error(tmp_path, cli_run, content, word):
    d = _key(tmp_path, ["real", "colorized"])
    (tmp_path / "bad.json").write_text(content)
    r = cli_run("survey", "score", d, tmp_path / "bad.json")
    assert r.exit_code == EXIT_BAD_INPUT and word in r.stderr and "Traceback" not in r.stderr


def test_missing_key_is_one_error(tmp_path, cli_run):
    r = cli_run("survey", "score", tmp_path, tmp_path / "a.json")
    assert r.exit_code == EXIT_BAD_INPUT and "no such file" in r.stderr
