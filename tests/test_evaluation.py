"""graycodec.evaluation: metrics on known pairs, baseline codecs, the report end to end.

The graycodec codec is injected (a fake public API and a fake predictor), so these tests
need neither a trained model nor ../shared.
"""
from __future__ import annotations

import csv
import json
import struct
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor
from skimage import data as skdata

from conftest import KODAK, FakePredictor
from graycodec import color
from graycodec.errors import EXIT_OUTPUT, ModelError, OutputError
from graycodec.evaluation import codecs as codecs_mod
from graycodec.evaluation import metrics, report, runner
from graycodec.evaluation.codecs import GczEncoder, GrayBaseline, GraycodecCodec, PillowCodec, build_codecs
from graycodec.evaluation.runner import EvalOptions, bytes_for_de94, evaluate

# Sharma, Wu & Dalal (2005), Table 1: L1 a1 b1, L2 a2 b2, CIEDE2000.
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


# --- a fake of the public codec API (the predictor is conftest's FakePredictor) ----------
class FakeApi:
    """``encode``/``decode`` with the public signatures: the plane zlib'd, a 'hint' = mean a/b."""

    @staticmethod
    def encode(image, *, hints="none", max_error=0):
        rgb = np.asarray(image.convert("RGB"))
        h, w = rgb.shape[:2]
        ab = color.rgb_to_lab(rgb)[..., 1:].reshape(-1, 2).mean(0) if hints != "none" else (np.nan, np.nan)
        return struct.pack(">HHff", w, h, *ab) + zlib.compress(color.rgb_to_plane(rgb).tobytes(), 9)

    @staticmethod
    def decode(data, *, gray=False, predictor=None):
        w, h, a, b = struct.unpack(">HHff", data[:12])
        plane = np.frombuffer(zlib.decompress(data[12:]), np.uint8).reshape(h, w)
        if gray:
            return Image.fromarray(plane, "L")
        lstar = color.plane_to_lstar(plane)
        hint = None if np.isnan(a) else SimpleNamespace(ab=np.full((2, 2, 2), (a, b), np.float32))
        ab = predictor.predict_ab(lstar, hint)
        return Image.fromarray(color.lab_to_rgb8(lstar, ab))


def fake_codecs(hints=("none", "medium"), baselines=("jpeg", "webp"), qualities=(10, 50, 90)):
    return build_codecs(hints, baselines, qualities, api=FakeApi(), predictor=FakePredictor())


@pytest.fixture
def three_images(tmp_path):
    d = tmp_path / "imgs"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(skdata.astronaut()[100:196:2, 150:278:2]).save(d / "astronaut.png")
    Image.fromarray(skdata.coffee()[100:164, 200:296]).save(d / "sub" / "coffee.png")
    Image.fromarray(skdata.chelsea()[50:130, 100:180]).save(d / "chelsea.jpg", quality=90)
    (d / "notes.txt").write_text("not an image")
    return d


# --- metrics -----------------------------------------------------------------------------
def test_identical_images_score_perfect():
    rgb = skdata.astronaut()[:64, :64]
    figs, de94 = metrics.fidelity(metrics.Reference.of(rgb), rgb.copy())
    assert figs["de94"] == figs["de76"] == figs["de94_over_10"] == 0
    assert figs["de2000"] == pytest.approx(0, abs=1e-6)  # skimage's hue terms round to ~1e-8
    assert figs["mse_ab"] == figs["mse_rgb"] == 0
    assert figs["psnr"] == float("inf") and figs["ssim"] == pytest.approx(1.0)
    assert figs["colourfulness_ratio"] == pytest.approx(1.0)
    assert de94.shape == (64, 64) and not de94.any()


def test_ciede2000_sharma_pairs():
    """The CIEDE2000 that fidelity() uses (skimage's), on the published test pairs."""
    assert metrics.deltaE_ciede2000 is skcolor.deltaE_ciede2000
    t = np.array(SHARMA)
    got = skcolor.deltaE_ciede2000(t[:, :3], t[:, 3:6])
    np.testing.assert_allclose(got, t[:, 6], atol=1e-4)
    # symmetric: the reference does not matter for CIEDE2000
    np.testing.assert_allclose(skcolor.deltaE_ciede2000(t[:, 3:6], t[:, :3]), t[:, 6], atol=1e-4)


@pytest.mark.parametrize("noise", [1, 25, 255])
def test_lab_and_de94_agree_with_skimage(noise):
    rng = np.random.default_rng(noise)
    a = skdata.coffee()[:80, :120]
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
    np.testing.assert_allclose(color.rgb_to_lab(a), skcolor.rgb2lab(a), atol=1e-3)
    la, lb = skcolor.rgb2lab(a), skcolor.rgb2lab(b)
    figs, de94 = metrics.fidelity(metrics.Reference.of(a), b)
    np.testing.assert_allclose(de94, skcolor.deltaE_ciede94(la, lb), atol=1e-3)
    assert figs["de94"] == pytest.approx(skcolor.deltaE_ciede94(la, lb).mean(), abs=1e-4)
    assert figs["de2000"] == pytest.approx(skcolor.deltaE_ciede2000(la, lb).mean(), abs=1e-4)
    assert figs["de76"] == pytest.approx(skcolor.deltaE_cie76(la, lb).mean(), abs=1e-4)
    assert figs["mse_ab"] == pytest.approx(np.mean((la[..., 1:] - lb[..., 1:]) ** 2), rel=1e-4)


def test_psnr_of_known_noise():
    a = np.full((32, 32, 3), 128, np.uint8)
    b = a.copy()
    b[::2] += 10
    b[1::2] -= 10  # every value off by 10: MSE 100
    assert metrics.mse(a, b) == 100
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 100))


def test_colourfulness():
    gray = np.repeat(skdata.camera()[:40, :40, None], 3, axis=2)
    assert metrics.colourfulness(gray) == 0
    assert metrics.colourfulness(skdata.astronaut()) > 20
    figs, _ = metrics.fidelity(metrics.Reference.of(gray), gray, full=False)
    assert figs["colourfulness_ratio"] is None and figs["ssim"] is None  # no colour to compare; no SSIM asked


def test_summary_colourfulness_ratio_is_a_ratio_of_means():
    """Two images: a vivid one rendered at half its colour, a dull one rendered twice as colourful.

    The mean of per-image ratios would be (0.5 + 2) / 2 = 1.25; the summary's mean must be
    mean M(outputs) / mean M(originals), as issue 12's bars count it, and the median stays
    per-image.
    """
    def record(image, m_out, m_orig):
        return dict.fromkeys(report.RECORD_FIELDS) | {
            "image": image, "codec": "graycodec", "setting": "none", "role": "gcz", "bytes": 100,
            "colourfulness": m_out, "colourfulness_original": m_orig,
            "colourfulness_ratio": m_out / m_orig if m_orig else None}
    summary = runner.summarize([record("vivid", 20.0, 40.0), record("dull", 4.0, 2.0)])
    entry = summary["graycodec/none"]
    assert entry["mean"]["colourfulness_ratio"] == pytest.approx(24.0 / 42.0)
    assert entry["mean"]["colourfulness"] == pytest.approx(12.0)
    assert entry["median"]["colourfulness_ratio"] == pytest.approx(1.25)
    gray_originals = runner.summarize([record("a", 0.0, 0.0)])
    assert "colourfulness_ratio" not in gray_originals["graycodec/none"]["mean"]


# --- codecs ------------------------------------------------------------------------------
def test_gray_baseline_is_exact_lightness_without_colour():
    rgb = skdata.astronaut()[::8, ::8]
    enc = GczEncoder(FakeApi())
    out = GrayBaseline(enc).run(rgb, "none").rgb
    lab = color.rgb_to_lab(out)
    assert np.abs(lab[..., 1:]).max() < 0.01  # sRGB neutral grays: a, b ~ 0 (D65 rounding)
    assert np.abs(lab[..., 0] - color.rgb_to_lab(rgb)[..., 0]).max() < 0.26
    # the gray baseline and graycodec at hints none share one encode
    assert GraycodecCodec(enc, ["none"], FakePredictor()).encode(rgb, "none") is enc(rgb, "none")


def test_quality_for_size_picks_the_nearest_file():
    rgb = skdata.coffee()[:96, :128]
    jpeg = PillowCodec("jpeg", (10, 50, 90))
    for target in (1200, 2000, 2800):
        q = jpeg.quality_for_size(rgb, target)
        assert 10 < q < 90
        sizes = {k: len(jpeg.encode(rgb, k)) for k in (q - 1, q, q + 1)}
        assert abs(sizes[q] - target) == min(abs(s - target) for s in sizes.values())
    # beyond the sweep: its nearest end
    assert jpeg.quality_for_size(rgb, 1) == 10 and jpeg.quality_for_size(rgb, 10**9) == 90


def test_bytes_for_de94_interpolates_and_says_when_it_cannot():
    sweep = [dict(bytes=b, de94=d, quality=q) for b, d, q in ((100, 6.0, 10), (200, 4.0, 50), (400, 2.0, 90))]
    b, q, note = bytes_for_de94(sweep, 3.0)
    assert (b, q) == (300, 70) and "interpolated" in note
    assert bytes_for_de94(sweep, 7.0)[0] == 100  # already reached at the lowest quality: an upper bound
    assert bytes_for_de94(sweep, 1.0)[0] is None


def test_missing_pillow_feature_is_skipped_with_a_note(monkeypatch, three_images, tmp_path):
    monkeypatch.setattr(codecs_mod, "pillow_supports", lambda feature: feature != "avif")
    codecs, notes = build_codecs(["none"], ["jpeg", "avif"], (50,), api=FakeApi(), predictor=FakePredictor())
    assert [c.name for c in codecs] == ["graycodec", "gray", "jpeg"]
    assert any("avif" in n and "skipped" in n for n in notes)
    res = evaluate(EvalOptions([three_images], hints=["none"], baselines=["jpeg", "avif"], qualities=[50], progress=False),
                   codecs=codecs, notes=notes)
    assert {r["codec"] for r in res.records} == {"graycodec", "gray", "jpeg"} and res.notes == notes


def test_no_model_leaves_gray_and_baselines(monkeypatch):
    from graycodec import predictor

    def no_model(*a, **k):
        raise ModelError("no trained model is shipped")

    monkeypatch.setattr(predictor.Predictor, "load", classmethod(no_model))
    codecs, notes = build_codecs(["none", "medium"], ["jpeg"], (50,))  # the real codec API
    assert [c.name for c in codecs] == ["gray", "jpeg"]
    assert len(notes) == 1 and "colour rows unavailable" in notes[0] and "\n" not in notes[0]


# --- the report --------------------------------------------------------------------------
def test_report_has_every_file_and_csv_matches_json(three_images, tmp_path):
    out = tmp_path / "rep"
    codecs, notes = fake_codecs()
    res = evaluate(EvalOptions([three_images], report=out, progress=False), codecs=codecs, notes=notes)
    assert not res.failures and len(res.images) == 3
    for f in report.FILES:
        assert (out / f).stat().st_size > 0, f
    figures = sorted(p.name for p in (out / report.IMAGES_DIR).glob("*.png"))
    assert figures == ["astronaut.png", "chelsea.png", "sub_coffee.png"]

    js = json.loads((out / "results.json").read_text())
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    # per image: 2 hint levels + gray, and per baseline 3 sweep points, a size match for each
    # level (gray shares the hints-none file) and a ΔE94 match for each level and gray
    assert len(rows) == len(js["records"]) == 3 * (2 + 1 + 2 * (3 + 2 + 3))
    for row, rec in zip(rows, js["records"]):
        for k, v in rec.items():
            if isinstance(v, float):
                assert float(row[k]) == pytest.approx(v, rel=1e-12), k
            else:
                assert row[k] == ("" if v is None else str(v)), k
    s = js["summary"]
    roles = {e["role"] for e in s.values()}
    assert roles == {"gcz", "gray", "sweep", "equal_size", "equal_de94"}
    gcz = [r for r in js["records"] if r["codec"] == "graycodec" and r["setting"] == "none"]
    assert s["graycodec/none"]["mean"]["de94"] == pytest.approx(np.mean([r["de94"] for r in gcz]))
    assert s["graycodec/none"]["n"] == 3
    # hints help: the true mean a/b (fake medium) beats a fixed tint on these photos
    assert s["graycodec/medium"]["mean"]["de94"] < s["graycodec/none"]["mean"]["de94"]
    assert "graycodec, hints none" in (out / "summary.md").read_text()
    html = (out / "index.html").read_text()
    assert "images/sub_coffee.png" in html and "http" not in html
    coffee = next(r for r in js["records"] if r["image"] == "sub/coffee.png" and r["codec"] == "gray")
    assert f"gray {coffee['bpp']:.2f} bpp, ΔE94 {coffee['de94']:.2f}" in html


def test_report_refuses_a_non_empty_folder(three_images, tmp_path, monkeypatch, capsys):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputError):
        evaluate(EvalOptions([three_images], report=out, progress=False), codecs=[])
    monkeypatch.setattr(runner, "build_codecs", lambda *a, **k: fake_codecs(("none",), ("jpeg",), (50,)))
    assert runner.main([str(three_images), "--report", str(out), "--no-progress"]) == EXIT_OUTPUT
    assert "not empty" in capsys.readouterr().err
    assert runner.main([str(three_images), "--report", str(out), "--force", "--no-progress", "--qualities", "50"]) == 0
    assert (out / "index.html").exists() and (out / "keep.txt").exists()


def test_main_json_prints_the_summary(three_images, monkeypatch, capsys):
    seen = {}

    def fake_build(hints, baselines, qualities, **kw):
        seen.update(hints=hints, baselines=baselines, qualities=qualities, **kw)
        return fake_codecs(hints, baselines, qualities)

    monkeypatch.setattr(runner, "build_codecs", fake_build)
    argv = [str(three_images), "--hints", "none", "--hints", "low,high", "--baselines", "jpeg",
            "--qualities", "20,60", "--json", "--max-images", "2", "--no-progress"]
    assert runner.main(argv) == 0
    js = json.loads(capsys.readouterr().out)
    assert seen["hints"] == ("none", "low", "high") and seen["baselines"] == ("jpeg",)
    assert js["n_images"] == 2 and "graycodec/high" in js["summary"] and "jpeg/q60" in js["summary"]


def test_options_reject_unknown_levels_and_codecs():
    with pytest.raises(ValueError, match="hint level"):
        EvalOptions(["."], hints=["ultra"])
    with pytest.raises(ValueError, match="baseline"):
        EvalOptions(["."], baselines=["jxl"])
    with pytest.raises(SystemExit):
        runner.main([".", "--hints", "ultra"])


# --- with the real codec -----------------------------------------------------------------
def test_real_codec_gray_baseline_and_fake_predictor(three_images):
    api = pytest.importorskip("graycodec.codec", exc_type=ImportError)
    codecs, _ = build_codecs(["none"], [], api=api, predictor=FakePredictor())
    res = evaluate(EvalOptions([three_images], hints=["none"], baselines=[], progress=False), codecs=codecs)
    assert not res.failures
    gray = {r["image"]: r for r in res.records if r["codec"] == "gray"}
    for name, g in gray.items():
        rgb = np.asarray(Image.open(three_images / name).convert("RGB"))
        plane = color.rgb_to_plane(rgb)  # the floor: exact stored L, a = b = 0
        expect = skcolor.deltaE_ciede94(skcolor.rgb2lab(rgb), skcolor.rgb2lab(np.repeat(plane[..., None], 3, 2))).mean()
        assert g["de94"] == pytest.approx(expect, abs=1e-3)


@pytest.mark.shared
def test_kodak_gray_floor_matches_the_anchor():
    """ANCHORS.md: gray (exact L, a = b = 0) has ΔE94 8.24 on all of Kodak; kodim03 alone is checked here."""
    rgb = np.asarray(Image.open(KODAK / "kodim03.png").convert("RGB"))
    gray = np.repeat(color.rgb_to_plane(rgb)[..., None], 3, 2)
    figs, _ = metrics.fidelity(metrics.Reference.of(rgb), gray, full=False)
    assert 0 < figs["de94"] < 20 and figs["colourfulness_ratio"] == pytest.approx(0, abs=1e-6)


def test_unreadable_image_is_a_failure_not_a_crash(three_images, monkeypatch, capsys):
    (three_images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    monkeypatch.setattr(runner, "build_codecs", lambda *a, **k: fake_codecs(("none",), (), ()))
    assert runner.main([str(three_images), "--baselines", "none", "--hints", "none", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "failed: broken.png" in err


def test_image_figure_rows(tmp_path):
    rgb = skdata.chelsea()[::8, ::8]
    gray = np.repeat(color.rgb_to_plane(rgb)[..., None], 3, 2)
    de94 = np.full(rgb.shape[:2], 5.0, np.float32)
    shown = {"original": rgb, "gray": (gray, de94), "colour": []}
    out = tmp_path / "rep"
    report.prepare_dir(out)
    assert report.write_image_figure(out, "a/cat.png", shown) == "images/a_cat.png"  # gray row only
    assert (out / "images" / "a_cat.png").stat().st_size > 0
    assert report.write_image_figure(out, "x.png", {"original": rgb, "gray": None, "colour": []}) is None


def test_ab_accuracy_auc_hand_computed_and_rebalanced():
    ref = np.zeros((4, 2), np.float32)
    ref[3] = (60, 0)  # one saturated pixel among three gray ones
    exact = metrics.ab_accuracy_auc(ref, ref)
    assert exact == 1.0
    # Output gray everywhere: the gray pixels are right at every threshold, the saturated one
    # (60 away) from t = 60 on: 91 of the 151 thresholds.
    gray = np.zeros_like(ref)
    assert metrics.ab_accuracy_auc(ref, gray, rebalanced=False) == pytest.approx((3 + 91 / 151) / 4)
    # Rebalanced, the two colour classes weigh the same: (1 + 91/151) / 2.
    assert metrics.ab_accuracy_auc(ref, gray) == pytest.approx((1 + 91 / 151) / 2)
    far = np.full_like(ref, 200.0)
    assert metrics.ab_accuracy_auc(ref, far) == 0.0


# --- issue 13: graycodec's --quality curve and the BD-rate against each baseline ---------------
from graycodec.evaluation import bdrate, report as _report  # noqa: E402


def test_bd_rate_known_answers():
    d = np.linspace(1.0, 5.0, 9)
    line = lambda x: np.exp(1.5 - 0.8 * x)  # noqa: E731
    a = list(zip(line(d), d))
    assert bdrate.bd_rate(a, list(zip(0.8 * line(d), d))) == pytest.approx(-20.0)
    assert bdrate.bd_rate(a, list(zip(1.25 * line(d[1:]), d[1:]))) == pytest.approx(25.0)
    assert bdrate.bd_rate(a, a + [(99.0, 3.0)]) == pytest.approx(0.0)  # a dominated point changes nothing
    with pytest.raises(ValueError):
        bdrate.bd_rate(a, list(zip(line(d), d + 10)))


def _entry(codec, setting, role, bpp, de94):
    return {"codec": codec, "setting": setting, "role": role, "mean": {"bpp": bpp, "de94": de94}}


def test_bd_rates_read_the_quality_curve_from_the_summary():
    d = np.linspace(1.5, 3.5, 6)
    summary = {f"jpeg/q{i}": _entry("jpeg", f"q{i}", "sweep", float(np.exp(2 - d[i])), float(d[i])) for i in range(6)}
    summary.update({f"graycodec/q{10 * i}": _entry("graycodec", f"q{10 * i}", "gcz", float(0.5 * np.exp(2 - d[i])), float(d[i]))
                    for i in range(6)})
    summary["graycodec/high"] = _entry("graycodec", "high", "gcz", 9.0, 1.0)  # a hint level: not on the curve
    assert [q for q, _, _ in _report.quality_curve(summary)] == [0, 10, 20, 30, 40, 50]
    assert _report.bd_rates(summary)["jpeg"]["bd_rate_pct"] == pytest.approx(-50.0)
    summary["webp/q1"] = _entry("webp", "q1", "sweep", 1.0, 9.0)
    assert "error" in _report.bd_rates(summary)["webp"]  # one point: no curve, said so


def test_real_codec_quality_sweep_reports_bd_rates(three_images, tmp_path):
    api = pytest.importorskip("graycodec.codec", exc_type=ImportError)
    from graycodec.model import ColorUNet
    from graycodec.predictor import Predictor

    untrained = Predictor(ColorUNet(), {}, torch.device("cpu"))  # with hints: the L-guided upsampling
    codecs, _ = build_codecs([], ["jpeg"], (10, 30, 50, 70, 90, 95), api=api, predictor=untrained,
                             gcz_qualities=(10, 50, 95))
    out = tmp_path / "rep"
    res = evaluate(EvalOptions([three_images], hints=[], baselines=["jpeg"], qualities=(10, 30, 50, 70, 90, 95),
                               gcz_qualities=(10, 50, 95), report=out, progress=False), codecs=codecs)
    assert not res.failures
    curve = _report.quality_curve(res.summary)
    assert [q for q, _, _ in curve] == [10, 50, 95]
    assert curve[0][1] < curve[1][1] < curve[2][1]  # more Q, more bits
    js = json.loads((out / "results.json").read_text())
    assert set(js["bd_rate"]) == {"jpeg"} and ("bd_rate_pct" in js["bd_rate"]["jpeg"] or "error" in js["bd_rate"]["jpeg"])
    assert "BD-rate of graycodec --quality" in (out / "summary.md").read_text()
    assert "graycodec --quality 50" in (out / "summary.md").read_text()
