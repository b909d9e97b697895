"""The batch layer (graycodec/batch.py) on its own: image finding, planning, per-file errors,
progress, the summary, and the model loaded once — without click."""
import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from graycodec import batch, codec
from graycodec.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_MODEL, EXIT_OK, EXIT_OUTPUT, ImageInputError, ModelError

from conftest import random_rgb


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in ["b.png", "sub/a.JPG", ".secret.png", ".hidden/c.png", "notes.txt"]:
        (root / rel).write_bytes(b"x")


def test_find_images_one_rule(tmp_path):
    _tree(tmp_path / "in")
    (tmp_path / "direct.txt").write_text("given directly: taken as it is")
    found = batch.find_images([tmp_path / "in", tmp_path / "direct.txt"])
    assert [(Path(p).name, rel and rel.as_posix()) for p, rel in found] == [
        ("b.png", "b.png"), ("a.JPG", "sub/a.JPG"), ("direct.txt", None)]
    warned = []
    (tmp_path / "empty").mkdir()
    assert batch.find_images([tmp_path / "empty"], warn=warned.append) == []
    assert len(warned) == 1 and "empty" in warned[0]


def test_eval_and_training_find_the_same_images(tmp_path):
    from graycodec.evaluation.runner import find_images as eval_find
    from graycodec.training.data import find_images as train_find

    _tree(tmp_path / "in")
    cli = sorted(Path(p) for p, _ in batch.find_images([tmp_path / "in"]))
    assert sorted(p for _, p in eval_find([tmp_path / "in"])) == cli
    assert train_find([tmp_path / "in"]) == cli


def test_plan_folder_input_mirrors_tree(tmp_path):
    _tree(tmp_path / "in")
    jobs = batch.plan_jobs([str(tmp_path / "in")], str(tmp_path / "out"), suffixes=(".png", ".jpg"),
                           out_suffix=".gcz", default_dest=lambda p: p)
    assert [Path(j.dest).relative_to(tmp_path).as_posix() for j in jobs] == ["out/b.gcz", "out/sub/a.gcz"]
    assert all(j.in_output_dir for j in jobs) and (tmp_path / "out").is_dir()


def test_plan_single_file_and_defaults(tmp_path):
    jobs = batch.plan_jobs([str(tmp_path / "x.png")], None, suffixes=(".png",), out_suffix=".gcz",
                           default_dest=lambda p: p.with_suffix(".gcz"))
    assert jobs == [batch.Job(str(tmp_path / "x.png"), str(tmp_path / "x.gcz"))]
    assert batch.plan_jobs(["-"], None, suffixes=(".png",), out_suffix=".gcz", default_dest=lambda p: p)[0].dest == "-"


@pytest.mark.parametrize("inputs,output", [(["-", "a.png"], None), (["a.png", "b.png"], "-")])
def test_plan_usage_errors(inputs, output):
    with pytest.raises(batch.UsageError):
        batch.plan_jobs(inputs, output, suffixes=(".png",), out_suffix=".gcz", default_dest=lambda p: p)


def test_plan_empty_folder_is_bad_input(tmp_path):
    with pytest.raises(ImageInputError, match="no input files"):
        batch.plan_jobs([str(tmp_path)], None, suffixes=(".png",), out_suffix=".gcz", default_dest=lambda p: p)


def _encode_jobs(tmp_path, names):
    for n in names:
        if n.startswith("bad"):
            (tmp_path / n).write_bytes(b"not an image")
        elif not n.startswith("missing"):
            Image.fromarray(random_rgb(8, 10)).save(tmp_path / n)
    return [batch.Job(str(tmp_path / n), str(tmp_path / (Path(n).stem + ".gcz"))) for n in names]


def test_run_jobs_per_file_errors_progress_and_summary(tmp_path):
    jobs = _encode_jobs(tmp_path, ["a.png", "bad.png", "missing.png", "b.png"])
    errors, ticks = [], []
    work = batch.encode_work(batch.Streams(), force=False, max_pixels=None)
    report = batch.run_jobs("encode", jobs, work, on_error=lambda j, e: errors.append((Path(j.src).name, e)),
                            progress=lambda done, total, src: ticks.append((done, total)))
    assert [n for n, _ in errors] == ["bad.png", "missing.png"]
    assert all(isinstance(e, ImageInputError) for _, e in errors)
    assert ticks == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert report.exit_code == EXIT_FAILED and len(report.failed) == 2
    t = report.totals()
    assert (t["files"], t["ok"], t["failed"]) == (4, 2, 2)
    assert t["input_bytes"] == sum((tmp_path / n).stat().st_size for n in ["a.png", "b.png"])
    assert t["output_bytes"] == sum((tmp_path / n).stat().st_size for n in ["a.gcz", "b.gcz"])
    line = report.summary_line()
    assert line.startswith("encode: 4 files, 2 ok, 2 failed, ") and "→" in line
    d = report.as_dict()
    assert d["ok"] == 2 and [r["ok"] for r in d["results"]] == [True, False, False, True]
    assert d["results"][1]["exit_code"] == EXIT_BAD_INPUT


def test_single_file_keeps_its_own_exit_code(tmp_path):
    jobs = _encode_jobs(tmp_path, ["bad.png"])
    report = batch.run_jobs("encode", jobs, batch.encode_work(batch.Streams(), force=False, max_pixels=None))
    assert report.exit_code == EXIT_BAD_INPUT


def test_output_exists_error_names_the_output(tmp_path):
    jobs = _encode_jobs(tmp_path, ["a.png"])
    (tmp_path / "a.gcz").write_bytes(b"in the way")
    report = batch.run_jobs("encode", jobs, batch.encode_work(batch.Streams(), force=False, max_pixels=None))
    assert report.exit_code == EXIT_OUTPUT
    assert str(tmp_path / "a.gcz") in str(report.failed[0].error) and "exists" in str(report.failed[0].error)
    assert (tmp_path / "a.gcz").read_bytes() == b"in the way"


def test_streams_read_and_write_stdio():
    out = io.BytesIO()
    s = batch.Streams(io.BytesIO(b"abc"), out)
    assert s.read(batch.Job("-", "-")) == b"abc"
    s.write(batch.Job("x", "-"), b"xyz", force=False)
    assert out.getvalue() == b"xyz"


def test_model_error_stops_the_batch(tmp_path, monkeypatch):
    def no_model(model=None, device="auto"):
        raise ModelError("no trained model")

    monkeypatch.setattr(codec, "load_predictor", no_model)
    gczs = []
    for k in range(3):
        gczs.append(tmp_path / f"{k}.gcz")
        gczs[-1].write_bytes(codec.encode(random_rgb(6, 7, k)))
    jobs = [batch.Job(str(g), str(g.with_suffix(".png"))) for g in gczs]
    work = batch.decode_work(batch.Streams(), force=False, max_pixels=None, gray=False,
                             predictor=batch.LazyPredictor(), vividness=0.0)
    report = batch.run_jobs("decode", jobs, work)
    assert report.fatal and len(report.results) == 1 and report.exit_code == EXIT_MODEL
    assert report.totals()["skipped"] == 2
    assert "2 skipped (stopped: no usable model)" in report.summary_line()


def test_lazy_predictor_loads_once_across_threads(fake_predictor):
    told = []
    lazy = batch.LazyPredictor(on_load=lambda: told.append(1))
    assert not lazy.loaded
    threads = [threading.Thread(target=lazy.get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_predictor.loads == 1 and told == [1] and lazy.model_id == fake_predictor.model_id


def test_encode_options_quality_only_where_the_encoder_has_it(monkeypatch):
    assert batch.encode_options(hints="low") == {"hints": "low"}
    if not batch.encoder_has_quality():
        with pytest.raises(batch.UsageError, match="quality"):
            batch.encode_options(quality=50)
    monkeypatch.setattr(codec, "encode", lambda image, *, quality=None, **kw: b"")
    assert batch.encode_options(quality=50) == {"quality": 50}


def test_cli_prints_one_summary_line(cli_run, tmp_path, rgb_png, gray_png):
    r = cli_run("encode", rgb_png, gray_png, "-o", tmp_path / "out")
    assert r.exit_code == EXIT_OK
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("graycodec: encode: 2 files, 2 ok, 0 failed, ")


def test_cli_output_exists_names_the_output(cli_run, tmp_path, rgb_png):
    out = tmp_path / "x.gcz"
    out.write_bytes(b"x")
    r = cli_run("encode", rgb_png, "-o", out)
    err = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert r.exit_code == EXIT_OUTPUT and str(out) in err[0] and str(rgb_png) in err[0]


def test_cli_single_failure_ends_with_its_error_line(cli_run, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    r = cli_run("encode", bad, "-o", tmp_path / "bad.gcz")
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.exit_code == EXIT_BAD_INPUT and len(lines) == 1 and lines[0].startswith("graycodec: error:")
