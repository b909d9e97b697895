"""Training: data discovery and cache, the training loop, resume, backbone weights, release.

Everything runs on a tiny generated data set (8 colour photos of 48×64, 2 validation images
of 40×48) with 32-pixel crops and batches of 4, on one CPU thread. The DDP test lives in
test_training_ddp.py.
"""
from __future__ import annotations

import json
import re
import shlex
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import cut_short
from graycodec.errors import GraycodecError, ModelError
from graycodec.model import ColorUNet, load_model
from graycodec.training import backbone, engine, export, prepare
from graycodec.training.data import ImageCache, build_cache, find_images, is_validation
from graycodec.training.plots import read_log

torch.set_num_threads(1)


def colour_photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth orange-ish photo whose colour follows its lightness: quick to learn."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    v = (r.uniform(0.3, 0.7) + 0.3 * np.sin(r.uniform(3, 12) * x + r.uniform(0, 6)) * np.cos(5 * y)).clip(0, 1)
    return (np.stack([v, 0.6 * v, 0.3 * v], -1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Folders ``data`` (8 photos, PNG and JPEG) and ``val`` (2 PNGs)."""
    root = tmp_path_factory.mktemp("tiny")
    (root / "data" / "sub").mkdir(parents=True)
    (root / "val").mkdir()
    for i in range(8):
        Image.fromarray(colour_photo(48, 64, i)).save(root / "data" / ("sub" if i % 2 else "") / f"p{i}.png")
    for i in range(2):
        Image.fromarray(colour_photo(40, 48, 100 + i)).save(root / "val" / f"v{i}.png")
    return root


def train_args(tiny, name, *extra):
    return [str(tiny / "data"), "--val", str(tiny / "val"), "--out", str(tiny / "models" / name),
            "--workdir", str(tiny / "runs" / name), "--batch-size", "4", "--size", "32",
            "--threads", "1", *map(str, extra)]


def step_losses(workdir: Path) -> dict:
    return {s: rec["loss"] for s, rec in read_log(workdir / "log.jsonl")[0].items()}


# --- data ------------------------------------------------------------------------------------
def test_find_images_accepts_the_mirflickr_layout(tmp_path):
    for rel in ["mirflickr/im1.jpg", "mirflickr/im2.jpg", "mirflickr/im10.JPG", "mirflickr/sub/im3.png",
                "meta/tags/tags1.txt", "meta/exif/exif1.txt", "meta/thumb.jpg", "doc/README.txt",
                "doc/figure.png", "mirflickr/license.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = [p.relative_to(tmp_path).as_posix() for p in find_images([tmp_path])]
    assert found == ["mirflickr/im1.jpg", "mirflickr/im10.JPG", "mirflickr/im2.jpg", "mirflickr/sub/im3.png"]
    assert find_images([tmp_path / "mirflickr" / "im1.jpg"]) == [tmp_path / "mirflickr" / "im1.jpg"]


def test_cache_skips_gray_counts_unreadable_and_round_trips(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        Image.fromarray(colour_photo(60, 90, i)).save(src / f"c{i}.jpg", quality=95)
    gray = colour_photo(60, 90, 7)[..., :1].repeat(3, axis=-1)
    Image.fromarray(gray).save(src / "gray_rgb.jpg")  # an RGB file holding a gray photo
    Image.fromarray(gray[..., 0]).save(src / "gray_l.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (src / "empty.png").write_bytes(b"")
    cache, stats = build_cache(find_images([src]), short_side=40)
    assert (stats.kept, stats.grayscale, stats.unreadable) == (3, 2, 2)
    assert [Path(n).name for n in cache.names] == ["c0.jpg", "c1.jpg", "c2.jpg"]
    assert all(min(cache.image(i).shape[:2]) == 40 for i in range(3))

    cache.save(tmp_path / "cache.npy")
    back = ImageCache.load(tmp_path / "cache.npy")
    assert len(back) == 3 and back.names == cache.names and back.meta["stats"]["unreadable"] == 2
    for i in range(3):
        assert np.array_equal(back.image(i), cache.image(i))
    assert len(back.head(2)) == 2 and np.array_equal(back.head(2).image(1), cache.image(1))


def test_prepare_command_writes_a_cache_and_prints_the_counts(tiny, tmp_path, cli_run):
    (tmp_path / "junk.png").write_bytes(b"not an image")
    result = cli_run("prepare", tiny / "data", tmp_path / "junk.png", "--out", tmp_path / "c.npy",
                     "--short-side", "32", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "found 9 image files" in result.output
    assert "kept 8 colour photos; skipped 0 grayscale and 1 unreadable" in result.output
    cache = ImageCache.load(tmp_path / "c.npy")
    assert len(cache) == 8 and cache.image(0).shape == (32, 43, 3)


def test_min_downscale_shrinks_every_photo_at_least_that_much(tmp_path, cli_run):
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(colour_photo(60, 90, 1)).save(src / "small.jpg", quality=95)  # below --short-side
    Image.fromarray(colour_photo(200, 300, 2)).save(src / "large.png")  # above it
    plain, _ = build_cache(find_images([src]), short_side=80)
    assert [plain.image(i).shape[:2] for i in range(2)] == [(80, 120), (60, 90)]  # large, small
    assert "min_downscale" not in plain.meta
    result = cli_run("prepare", src, "--out", tmp_path / "c.npy", "--short-side", "80",
                     "--min-downscale", "2", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "each shrunk at least 2x" in result.output
    cache = ImageCache.load(tmp_path / "c.npy")
    # large: 200 / 2 = 100 is above 80, so 80 wins; small: 60 / 2 = 30 (it was kept at 60 before).
    assert [cache.image(i).shape[:2] for i in range(2)] == [(80, 120), (30, 45)]
    assert cache.meta["min_downscale"] == 2.0
    bad = cli_run("prepare", src, "--out", tmp_path / "d.npy", "--min-downscale", "0.5", "--no-progress")
    assert bad.exit_code != 0 and "--min-downscale 0.5: must be between 1 and 16" in bad.output
    assert not (tmp_path / "d.npy").exists()


def test_validation_split_is_fixed_by_name_and_disjoint_from_training(tmp_path):
    names = [f"caltech101/cat{i % 7}/image_{i:04d}.jpg" for i in range(400)]
    chosen = {n for n in names if is_validation(n)}
    assert 5 <= len(chosen) <= 40  # 5 % of 400, give or take the hash
    # The same photos, elsewhere on disk and in another order: the same split.
    moved = [f"/elsewhere/data/{n}" for n in reversed(names)]
    assert {n[len("/elsewhere/data/"):] for n in moved if is_validation(n)} == chosen
    blob = np.zeros(400 * 3, np.uint8)
    index = np.array([[3 * i, 1, 1] for i in range(400)], np.int64)
    train, val = ImageCache(blob, index, names).split()
    assert set(val.names) == chosen and not set(train.names) & chosen
    assert len(train) + len(val) == 400
    assert np.array_equal(val.index[0], index[names.index(val.names[0])])


def test_without_val_the_hash_split_is_held_out_and_too_few_photos_say_so(tiny):
    cache, _ = build_cache(find_images([tiny / "data"]), short_side=48)
    args = engine.build_parser().parse_args(["x", "--out", "m/x"])
    outside = [n for n in (f"d/q{i}.png" for i in range(100)) if not is_validation(n)][:8]
    with pytest.raises(GraycodecError, match="validation split"):
        engine.split_val(args, ImageCache(cache.blob, cache.index, outside, cache.meta))  # none held out
    many = ImageCache(cache.blob, np.repeat(cache.index, 50, axis=0),
                      [f"d/p{i}.png" for i in range(400)], cache.meta)
    train, val = engine.split_val(args, many)
    assert len(val) == sum(is_validation(f"d/p{i}.png") for i in range(400)) and len(train) + len(val) == 400


# --- training, resume, release ---------------------------------------------------------------
@pytest.fixture(scope="module")
def full_run(tiny):
    """16 uninterrupted steps: the reference for the loss and resume tests."""
    argv = train_args(tiny, "full", "--steps", 16, "--val-every", 8, "--ckpt-every", 5,
                      "--warmup", 1, "--lr", "2e-3")
    assert engine.main(argv) == 0
    return tiny / "runs" / "full", tiny / "models"


def test_training_reduces_the_loss_and_writes_log_plot_and_validation(full_run):
    workdir, _ = full_run
    losses = step_losses(workdir)
    assert sorted(losses) == list(range(1, 17))
    first, last = np.mean([losses[s] for s in (1, 2, 3, 4)]), np.mean([losses[s] for s in (13, 14, 15, 16)])
    assert last < 0.7 * first, (first, last)
    val = read_log(workdir / "log.jsonl")[1]
    assert sorted(val) == [8, 16]
    for setting in ("none", "vivid", "medium"):
        assert set(val[16]["val"][setting]) == {"de94", "de2000", "mse_ab", "ab_auc", "colourfulness_ratio"}
    assert set(val[16]["baselines"]) == {"gray", "bilinear_medium", "guided_medium"}
    # The untrained network's output with hints is its input, the L-guided hint plane.
    assert val[16]["baselines"]["guided_medium"]["de94"] < val[16]["baselines"]["bilinear_medium"]["de94"] + 0.5
    assert (workdir / "loss.png").stat().st_size > 1000


def test_release_file_is_hash_named_with_a_card_and_loads(full_run):
    workdir, models = full_run
    [path] = models.glob("full-*.safetensors")
    assert re.fullmatch(r"full-[0-9a-f]{8}\.safetensors", path.name)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["training"]["command"].startswith("graycodec train ")
    assert "--steps 16" in card["training"]["command"]
    assert card["training"]["best_step"] in (8, 16) and card["training"]["images"] == 8
    assert set(card["validation"]["predictor"]) == {"none", "vivid", "medium"}
    model, loaded_card = load_model(path)
    assert isinstance(model, ColorUNet) and loaded_card["model_id"] == card["model_id"]


def test_export_releases_the_best_weights_of_a_run_with_an_equivalent_command(full_run, tiny):
    workdir, models = full_run
    assert export.main([str(workdir), "--out", str(tiny / "exported" / "full")]) == 0
    [path] = (tiny / "exported").glob("full-*.safetensors")
    assert path.name == next(models.glob("full-*.safetensors")).name  # the same weights, the same hash
    card = json.loads(path.with_suffix(".json").read_text())
    original = json.loads(next(models.glob("full-*.json")).read_text())
    assert card["training"]["best_step"] == original["training"]["best_step"]
    assert card["validation"] == original["validation"]
    argv = shlex.split(card["training"]["command"])[2:]
    assert vars(engine.build_parser().parse_args(argv)) == original["training"]["args"]


def test_export_last_releases_the_checkpoint_weights_with_that_steps_validation(full_run, tiny):
    workdir, _ = full_run
    assert export.main([str(workdir), "--out", str(tiny / "exported_last" / "full"), "--weights", "last"]) == 0
    [path] = (tiny / "exported_last").glob("full-*.safetensors")
    ck = torch.load(workdir / "last.ckpt", map_location="cpu", weights_only=True)
    model, card = load_model(path)
    assert ck["step"] == 16 and card["training"]["best_step"] == 16 and card["training"]["weights"] == "last"
    assert card["validation"]["predictor"] == read_log(workdir / "log.jsonl")[1][16]["val"]
    for name, tensor in model.state_dict().items():  # release files hold fp16
        saved = ck["model"][name]
        assert torch.equal(tensor, saved.half().float() if saved.is_floating_point() else saved), name


def test_resume_continues_exactly(full_run, tiny, monkeypatch):
    """Interrupt at step 13 (last checkpoint: step 10), resume: same losses, same weights."""
    argv = train_args(tiny, "cut", "--steps", 16, "--val-every", 8, "--ckpt-every", 5,
                      "--warmup", 1, "--lr", "2e-3")
    cut_short(monkeypatch, engine, "train_step", 13, lambda: engine.main(argv))
    workdir = tiny / "runs" / "cut"
    assert torch.load(workdir / "last.ckpt", weights_only=True)["step"] == 10

    assert engine.main(argv + ["--resume", str(workdir / "last.ckpt")]) == 0
    ref, got = step_losses(full_run[0]), step_losses(workdir)  # later lines win: steps 11-12 rerun
    assert got.keys() == ref.keys()
    for s in range(1, 17):
        assert got[s] == pytest.approx(ref[s], rel=1e-6, abs=1e-9), s
    # Same best step, same weights: the release files have the same content hash.
    ref_file = next(full_run[1].glob("full-*.safetensors")).name.split("-")[1]
    assert next((tiny / "models").glob("cut-*.safetensors")).name.split("-")[1] == ref_file


def test_weight_average_follows_the_closed_form_with_its_ramp():
    net = torch.nn.Linear(2, 1)
    torch.nn.init.zeros_(net.weight), torch.nn.init.zeros_(net.bias)
    average = engine.WeightAverage(net, 0.9)
    expected = torch.zeros(1, 2)
    for step, value in enumerate((1.0, 2.0, 3.0, 4.0), start=1):
        net.weight.data.fill_(value)
        average.update(net, step)
        keep = min(0.9, (1 + step) / (10 + step))  # the ramp: early weights do not dominate
        expected = keep * expected + (1 - keep) * value
    assert torch.allclose(average.net.weight, expected) and not torch.equal(average.net.weight, net.weight)
    assert not average.net.weight.requires_grad
    with pytest.raises(GraycodecError, match="--ema 1.0"):
        engine.WeightAverage(net, 1.0)


def test_ema_validates_and_releases_the_average_and_resumes_exactly(tiny, monkeypatch):
    argv = train_args(tiny, "ema", "--steps", 8, "--val-every", 8, "--ckpt-every", 5,
                      "--warmup", 1, "--lr", "2e-3", "--ema", "0.8")
    assert engine.main(argv) == 0
    workdir = tiny / "runs" / "ema"
    ck = torch.load(workdir / "last.ckpt", weights_only=True)
    best = torch.load(workdir / "best.pt", weights_only=True)
    name = "stem.0.weight"
    assert not torch.equal(ck["ema"][name], ck["model"][name])
    assert torch.equal(best[name], ck["ema"][name])  # the average is what was validated and kept
    [released] = (tiny / "models").glob("ema-*.safetensors")
    assert torch.equal(load_model(released)[0].state_dict()[name], ck["ema"][name].half().float())

    cut = train_args(tiny, "ema_cut", "--steps", 8, "--val-every", 8, "--ckpt-every", 5,
                     "--warmup", 1, "--lr", "2e-3", "--ema", "0.8")
    cut_short(monkeypatch, engine, "train_step", 7, lambda: engine.main(cut))  # last checkpoint: step 5
    assert engine.main(cut + ["--resume", str(tiny / "runs" / "ema_cut" / "last.ckpt")]) == 0
    # The average came back with the checkpoint: the same release, to the hash.
    assert next((tiny / "models").glob("ema_cut-*.safetensors")).name.split("-")[-1] == released.name.split("-")[-1]


def test_prefetch_trains_on_the_same_batches(full_run, tiny):
    argv = train_args(tiny, "pre", "--steps", 16, "--val-every", 8, "--ckpt-every", 5,
                      "--warmup", 1, "--lr", "2e-3", "--prefetch")
    assert engine.main(argv) == 0
    got, ref = step_losses(tiny / "runs" / "pre"), step_losses(full_run[0])
    assert sorted(got) == sorted(ref) == list(range(1, 17))
    for s in ref:
        assert got[s] == pytest.approx(ref[s], rel=1e-6, abs=1e-9), s


def test_epochs_sets_the_number_of_steps_on_a_prepared_cache(tiny):
    cache = tiny / "prepared" / "c.npy"
    assert prepare.main([str(tiny / "data"), "--out", str(cache), "--short-side", "40", "--no-progress"]) == 0
    # 8 photos, batches of 4: one epoch is 2 steps, 1.5 epochs round up to 3.
    argv = train_args(tiny, "ep", "--epochs", 1.5, "--val-every", 100)
    argv[0] = str(cache)
    assert engine.main(argv) == 0
    assert sorted(step_losses(tiny / "runs" / "ep")) == [1, 2, 3]
    assert not list((tiny / "runs" / "ep").glob("cache-*"))  # the given cache was used
    with pytest.raises(SystemExit):
        engine.build_parser().parse_args(["d", "--out", "m/x", "--steps", "3", "--epochs", "1"])


def test_init_takes_a_released_weight_file(full_run):
    released = next(full_run[1].glob("full-*.safetensors"))
    net = ColorUNet()
    summary = engine.init_from(net, released)
    assert summary.startswith(f"initialised {len(net.state_dict())} of {len(net.state_dict())} tensors")
    want, _ = load_model(released)
    for name, value in want.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value.float())


def test_minutes_stops_early_and_still_validates_checkpoints_and_releases(tiny):
    # A budget spent after the first step: the run stops there, not at step 50.
    assert engine.main(train_args(tiny, "short", "--steps", 50, "--val-every", 40, "--minutes", 1e-9)) == 0
    workdir = tiny / "runs" / "short"
    log, vals = read_log(workdir / "log.jsonl")
    assert sorted(log) == [1] and sorted(vals) == [1]  # validated at the step it stopped
    assert torch.load(workdir / "last.ckpt", weights_only=False)["step"] == 1
    card = json.loads(next((tiny / "models").glob("short-*.json")).read_text())
    assert card["training"]["last_step"] == 1 and card["training"]["best_step"] == 1
    assert "--minutes" in card["training"]["command"]


def test_a_run_without_hinted_samples_is_validated_and_selected_without_hints(tiny):
    # --hint-fraction 0 trains a U-Net for a model whose hints go through the refiner: its
    # own hint path is not learned, so it must not count in the choice of the best step.
    assert engine.main(train_args(tiny, "nohint", "--steps", 2, "--val-every", 2, "--hint-fraction", 0)) == 0
    val = read_log(tiny / "runs" / "nohint" / "log.jsonl")[1]
    assert set(val[2]["val"]) == {"none", "vivid"}
    assert val[2]["score"] == pytest.approx(
        val[2]["val"]["none"]["de2000"] / val[2]["baselines"]["gray"]["de2000"]
        + max(0.0, 0.60 - val[2]["val"]["none"]["colourfulness_ratio"]))


# --- backbone weights ------------------------------------------------------------------------
def test_imagenet_backbone_offline_is_one_clear_error(tiny, monkeypatch, cli_run):
    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ModelError, match="--backbone-weights imagenet: cannot get"):
        engine.main(train_args(tiny, "offline", "--steps", 1, "--backbone-weights", "imagenet"))
    result = cli_run("train", *train_args(tiny, "offline", "--steps", 1, "--backbone-weights", "imagenet"))
    assert result.exit_code == ModelError.exit_code
    assert "--backbone-weights none" in result.output and "Traceback" not in result.output
    assert not (tiny / "runs" / "offline" / "log.jsonl").exists()  # failed before any training


def test_imagenet_backbone_fills_the_encoder_with_conv1_adapted(monkeypatch):
    from torchvision.models import resnet18

    torch.manual_seed(1)
    fake = resnet18(weights=None).state_dict()
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **k: fake)
    net = ColorUNet()
    backbone.load_backbone(net, "imagenet")
    conv1 = net.stem[0].weight
    assert torch.allclose(conv1[:, 0], fake["conv1.weight"].sum(dim=1))
    assert not conv1[:, 1:].any()  # hint a, hint b, mask start ignored
    assert torch.equal(net.layer4[1].conv2.weight, fake["layer4.1.conv2.weight"])
    assert torch.equal(net.layer1[1][0].bn1.weight, fake["layer1.0.bn1.weight"])  # GroupNorm: affine only
    bn_net = ColorUNet("batch")
    backbone.load_backbone(bn_net, "imagenet")
    assert torch.equal(bn_net.layer1[1][0].bn1.running_var, fake["layer1.0.bn1.running_var"])


def test_group_norm_treats_each_sample_alone_and_init_copies_a_batch_norm_run(tmp_path):
    """With GroupNorm a sample's output does not depend on the others in its batch (hinted
    and unhinted samples share batches); --init copies a BatchNorm run's weights that fit."""
    torch.manual_seed(2)
    net = ColorUNet("group").train()
    x = torch.rand(2, 1, 32, 32) * 100
    hint, mask = torch.zeros(2, 2, 32, 32), torch.zeros(2, 1, 32, 32)
    hint[1], mask[1] = 30.0, 1.0
    with torch.no_grad():
        both = net(x, hint, mask).logits[0]
        alone = net(x[:1], hint[:1], mask[:1]).logits[0]
    torch.testing.assert_close(both, alone)
    bn = ColorUNet("batch")
    torch.save({"model": bn.state_dict()}, tmp_path / "last.ckpt")
    message = engine.init_from(net, tmp_path / "last.ckpt")
    assert message.startswith(f"initialised {len(net.state_dict())} of {len(net.state_dict())}")
    assert torch.equal(net.layer2[0].conv1.weight, bn.layer2[0].conv1.weight)
    with pytest.raises(GraycodecError, match="no such file"):
        engine.init_from(net, tmp_path / "missing.ckpt")
    assert not net.head.weight.any()  # the untrained model still returns its hint


def test_pack_keeps_the_split_names_and_shrinks(tmp_path):
    from graycodec.training import pack

    src = tmp_path / "photos" / "cat"
    src.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(colour_photo(120, 90, i)).save(src / f"image_{i}.jpg", quality=95)
    out = tmp_path / "packed"
    assert pack.main([str(tmp_path / "photos"), "--out", str(out), "--short-side", "45"]) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert written == [f"cat/image_{i}.jpg" for i in range(3)]  # what the hash split reads
    for p in out.rglob("*.jpg"):
        with Image.open(p) as im:
            assert min(im.size) == 45 and im.format == "JPEG"
    assert [is_validation(str(p)) for p in sorted(out.rglob("*.jpg"))] == \
        [is_validation(str(p)) for p in sorted(src.glob("*.jpg"))]
    assert pack.main([str(tmp_path / "photos"), "--out", str(out)]) == 2  # never over an existing folder
    assert pack.main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "p2")]) == 2
    (tmp_path / "empty").mkdir()
    assert pack.main([str(tmp_path / "empty"), "--out", str(tmp_path / "p3")]) == 2
    assert not (tmp_path / "p2").exists() and not (tmp_path / "p3").exists()


def test_make_inputs_hints_each_chosen_sample_with_its_own_thumbnail():
    """Samples are hinted in groups of one thumbnail size; each must get what it gets alone."""
    import math

    from graycodec.training import batches

    lab = torch.rand(24, 3, 40, 48) * torch.tensor([100.0, 80.0, 80.0])[:, None, None] - torch.tensor([0.0, 40.0, 40.0])[:, None, None]
    L, hint, mask, ab = batches.make_inputs(lab, 0.5, np.random.default_rng(7))
    rng = np.random.default_rng(7)  # replay the draws: which samples, and each one's cell size
    chosen = np.flatnonzero(rng.random(24) < 0.5)
    assert 0 < len(chosen) < 24 and torch.equal(mask[:, 0, 0, 0] > 0, torch.isin(torch.arange(24), torch.as_tensor(chosen)))
    sizes = set()
    for k in chosen:
        cell = math.exp(rng.uniform(*np.log(batches.HINT_CELL_RANGE)))
        thumb_hw = (max(1, round(40 / cell)), max(1, round(48 / cell)))
        sizes.add(thumb_hw)
        torch.testing.assert_close(hint[k : k + 1], batches.hint_plane(L[k : k + 1], ab[k : k + 1], thumb_hw))
    assert len(sizes) > 1  # several groups were exercised
    unhinted = [k for k in range(24) if k not in set(chosen)]
    assert not hint[unhinted].any() and torch.equal(L, lab[:, :1]) and torch.equal(ab, lab[:, 1:])
