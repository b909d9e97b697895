"""The full-resolution hint refiner: its identity start, strips, the decoder path, training."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import cut_short
from graycodec import hints
from graycodec.model import ColorUNet, load_model, save_model
from graycodec.predictor import Predictor, thumbnail_tensor
from graycodec.refiner import HintRefiner, refine, refine_size
from graycodec.training import refine as refine_training
from graycodec.training.data import build_cache, find_images, is_validation
from graycodec.upsampling import guided_hint_plane, match_hint_means

torch.set_num_threads(1)


def noisy_refiner(seed: int = 0) -> HintRefiner:
    """A refiner whose every weight is random (the last layer too), so each input matters."""
    torch.manual_seed(seed)
    net = HintRefiner()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    return net.eval()


def planes(h=70, w=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    lstar = torch.rand(1, 1, h, w, generator=g) * 100
    thumb = (torch.randn(1, 2, max(1, h // 16), max(1, w // 16), generator=g) * 20).round()
    return lstar, thumb


def test_an_untrained_refiner_returns_the_l_guided_plane():
    lstar, thumb = planes()
    out = refine(HintRefiner(), lstar, thumb)
    assert torch.equal(out, guided_hint_plane(lstar, thumb))


def test_strips_give_the_same_result_as_one_pass():
    net = noisy_refiner()
    lstar, thumb = planes(h=300, w=40)
    whole = refine(net, lstar, thumb, strip_rows=1000)
    strips = refine(net, lstar, thumb, strip_rows=37)
    assert not torch.equal(whole, guided_hint_plane(lstar, thumb))  # the net does change it
    assert torch.allclose(whole, strips, atol=1e-4)


@pytest.mark.parametrize("h,w,expect", [(512, 768, (512, 768)), (3000, 4000, (1024, 1365)),
                                        (100, 20000, (20, 4096))])
def test_refine_size_keeps_small_photos_and_caps_large_ones(h, w, expect):
    assert refine_size(h, w) == expect


def test_a_model_file_with_a_refiner_round_trips_and_hints_take_the_refiner(tmp_path):
    net = ColorUNet(refiner=True)
    net.refiner = noisy_refiner()
    path = save_model(net, tmp_path, "with-refiner", {})
    loaded, card = load_model(path)
    assert loaded.refiner is not None and "HintRefiner" in card["architecture"]
    pred = Predictor(loaded, card, torch.device("cpu"))
    rng = np.random.default_rng(0)
    lstar = rng.uniform(0, 100, (64, 48)).astype(np.float32)
    thumb = hints.make_hints(rng.uniform(-30, 30, (64, 48, 2)), "medium")
    got = pred.predict_ab(lstar, thumb)
    # What the refiner path is: the refiner at full size, then the block means pulled back.
    L = torch.from_numpy(lstar)[None, None]
    T = thumbnail_tensor(thumb)
    want = match_hint_means(L, refine(loaded.refiner, L, T), T)[0].permute(1, 2, 0).numpy()
    assert np.allclose(got, want, atol=1e-4)
    # Without hints the U-Net answers, as before; the batch path agrees with one at a time.
    batch = pred.predict_ab_batch([lstar, lstar], [thumb, None])
    assert np.allclose(batch[0].permute(1, 2, 0).numpy(), got, atol=1e-4)
    assert np.allclose(batch[1].permute(1, 2, 0).numpy(), pred.predict_ab(lstar), atol=1e-3)


def test_a_model_without_refiner_keeps_the_working_size_path(tmp_path):
    path = save_model(ColorUNet(), tmp_path, "plain", {})
    loaded, _ = load_model(path)
    assert loaded.refiner is None


def photo(h, w, seed):
    """Colour that follows lightness, with sharp edges: what a refiner can learn quickly."""
    r = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    stripes = ((x // r.integers(5, 12) + y // r.integers(5, 12)) % 2).astype(float)
    v = 0.3 + 0.5 * stripes
    return (np.stack([v, v * (0.4 + 0.5 * stripes), 0.4 * v], -1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def cache_path(tmp_path_factory):
    """A .npy cache of 10 photos, 2 of them on the validation side of the hash split."""
    root = tmp_path_factory.mktemp("refiner")
    names = [f"p{i}" for i in range(400)]
    chosen = [n for n in names if is_validation(n + ".png")][:2] + [n for n in names if not is_validation(n + ".png")][:8]
    (root / "data").mkdir()
    for i, name in enumerate(chosen):
        Image.fromarray(photo(64, 80, i)).save(root / "data" / f"{name}.png")
    cache, _ = build_cache(find_images([root / "data"]), short_side=64)
    cache.save(root / "c.npy")
    return root / "c.npy"


def test_train_refiner_lowers_the_validation_error_and_keeps_the_unet(cache_path, tmp_path, cli_run):
    base = save_model(ColorUNet(), tmp_path / "base", "base", {"working_short_side": 64})
    out = tmp_path / "models" / "refined"
    res = cli_run("train-refiner", str(cache_path), "--out", str(out), "--model", str(base),
                  "--workdir", str(tmp_path / "run"), "--steps", "30", "--val-every", "10",
                  "--batch-size", "4", "--crop", "32", "--lr", "3e-3", "--threads", "1")
    assert res.exit_code == 0, res.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    scored = [r for r in log if "val_l1" in r]
    assert [r["step"] for r in scored] == [10, 20, 30]
    assert min(r["val_l1"] for r in scored) < scored[0]["val_l1_input"]  # beats its own input
    (path,) = (tmp_path / "models").glob("refined-*.safetensors")
    net, card = load_model(path)
    base_net, _ = load_model(base)
    assert net.refiner is not None
    for name, tensor in base_net.state_dict().items():  # the U-Net is the base model's
        assert torch.equal(net.state_dict()[name], tensor), name
    assert card["working_short_side"] == 64
    assert card["refiner_training"]["steps"] == 30 and card["refiner_training"]["base_model"] == base.name


def test_train_refiner_resumes_from_its_checkpoint_and_refuses_to_release_nothing(cache_path, tmp_path, cli_run):
    base = save_model(ColorUNet(), tmp_path / "base", "base", {})
    common = [str(cache_path), "--model", str(base), "--val-every", "10", "--batch-size", "2",
              "--crop", "24", "--threads", "1", "--out", str(tmp_path / "m"), "--workdir", str(tmp_path / "w")]
    nothing = cli_run("train-refiner", *common, "--minutes", "0")  # stops before a validated step
    assert nothing.exit_code != 0 and "no validated refiner" in nothing.output
    assert not list(tmp_path.glob("m-*.safetensors"))
    assert cli_run("train-refiner", *common, "--steps", "10").exit_code == 0
    before = torch.load(tmp_path / "w" / "last.ckpt", weights_only=True)
    res = cli_run("train-refiner", *common, "--steps", "20", "--resume", str(tmp_path / "w" / "last.ckpt"))
    assert res.exit_code == 0 and "resumed from" in res.output
    after = torch.load(tmp_path / "w" / "last.ckpt", weights_only=True)
    assert before["step"] == 10 and after["step"] == 20
    assert after["best"]["val_l1"] <= before["best"]["val_l1"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "w" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 21))  # continued at 11, not started over


def test_train_refiner_refuses_a_folder_with_one_line(tmp_path, cli_run):
    res = cli_run("train-refiner", str(tmp_path), "--out", str(tmp_path / "m"))
    assert res.exit_code != 0 and "not a .npy cache" in res.output and "Traceback" not in res.output


def test_train_refiner_init_takes_the_refiner_of_a_released_file(cache_path, tmp_path, cli_run):
    from graycodec.training.refine import init_state

    donor = ColorUNet(refiner=True)
    torch.nn.init.normal_(donor.refiner.out.weight, std=0.01)  # not the zero start of a fresh refiner
    donor_file = save_model(donor, tmp_path / "donor", "donor", {})
    state = init_state(donor_file)
    for name, tensor in donor.refiner.state_dict().items():
        torch.testing.assert_close(state[name], tensor.half().float())
    plain = save_model(ColorUNet(), tmp_path / "plain", "plain", {})
    res = cli_run("train-refiner", str(cache_path), "--model", str(plain), "--init", str(plain),
                  "--out", str(tmp_path / "m"), "--workdir", str(tmp_path / "w"), "--steps", "1")
    assert res.exit_code != 0 and "has no refiner" in res.output and "Traceback" not in res.output


def test_steps_0_puts_a_released_refiner_as_it_is_on_a_new_unet(cache_path, tmp_path, cli_run):
    # A newly trained U-Net takes the shipped refiner unchanged (the refiner never reads the
    # U-Net), and the card keeps how that refiner was trained.
    donor = ColorUNet(refiner=True)
    torch.nn.init.normal_(donor.refiner.out.weight, std=0.01)
    donor_file = save_model(donor, tmp_path / "donor", "donor", {"refiner_training": {"steps": 123}})
    torch.manual_seed(1)
    unet_file = save_model(ColorUNet(), tmp_path / "unet", "unet", {"working_short_side": 64})
    common = [str(cache_path), "--model", str(unet_file), "--out", str(tmp_path / "m" / "joined"),
              "--workdir", str(tmp_path / "w"), "--batch-size", "2", "--crop", "24", "--threads", "1", "--steps", "0"]
    refused = cli_run("train-refiner", *common)
    assert refused.exit_code != 0 and "pass --init" in refused.output and "Traceback" not in refused.output
    res = cli_run("train-refiner", *common, "--init", str(donor_file))
    assert res.exit_code == 0, res.output
    (path,) = (tmp_path / "m").glob("joined-*.safetensors")
    net, card = load_model(path)
    donor_net, _ = load_model(donor_file)
    unet_net, _ = load_model(unet_file)
    for name, tensor in donor_net.refiner.state_dict().items():
        assert torch.equal(net.refiner.state_dict()[name], tensor), name
    for name, tensor in unet_net.state_dict().items():
        assert torch.equal(net.state_dict()[name], tensor), name
    record = card["refiner_training"]
    assert record["steps"] == 0 and record["best_step"] == 0 and record["init_training"] == {"steps": 123}
    assert record["validation_l1"] > 0


def test_the_de94_loss_is_skimages_delta_e94_at_equal_lightness():
    from skimage.color import deltaE_ciede94

    from graycodec.training.refine import delta_e94_ab

    rng = np.random.default_rng(3)
    ref = np.stack([rng.uniform(20, 80, (6, 7)), rng.normal(0, 30, (6, 7)), rng.normal(0, 30, (6, 7))], -1)
    pred = ref.copy()
    pred[..., 1:] += rng.normal(0, 6, (6, 7, 2))
    pred[0, 0, 1:] = ref[0, 0, 1:]  # an exact pixel: ΔE 0, and a finite gradient
    as_tensor = lambda lab: torch.tensor(lab[..., 1:]).permute(2, 0, 1)[None].requires_grad_()  # noqa: E731
    p, r = as_tensor(pred), as_tensor(ref)
    ours = delta_e94_ab(p, r, eps=0)[0].detach().numpy()
    np.testing.assert_allclose(ours, deltaE_ciede94(ref, pred), atol=1e-9)
    delta_e94_ab(p, r).mean().backward()
    assert torch.isfinite(p.grad).all()
    # The same a/b error weighs more near gray than in a saturated colour (its reason to exist).
    near_gray, saturated = torch.tensor([[2.0], [0.0]]), torch.tensor([[60.0], [0.0]])
    shift = torch.tensor([[0.0], [5.0]])
    e_gray = delta_e94_ab((near_gray + shift)[None, :, :, None], near_gray[None, :, :, None]).item()
    e_sat = delta_e94_ab((saturated + shift)[None, :, :, None], saturated[None, :, :, None]).item()
    assert e_gray > 1.5 * e_sat


def test_train_refiner_with_the_de94_loss_selects_on_de94(cache_path, tmp_path, cli_run):
    base = save_model(ColorUNet(), tmp_path / "base", "base", {"working_short_side": 64})
    res = cli_run("train-refiner", str(cache_path), "--out", str(tmp_path / "m" / "r"), "--model", str(base),
                  "--workdir", str(tmp_path / "run"), "--steps", "30", "--val-every", "10", "--loss", "de94",
                  "--batch-size", "4", "--crop", "32", "--lr", "3e-3", "--threads", "1")
    assert res.exit_code == 0, res.output
    scored = [r for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if "val_de94" in r]
    assert [r["step"] for r in scored] == [10, 20, 30]
    best = min(scored, key=lambda r: r["val_de94"])
    assert best["val_de94"] < best["val_de94_input"]  # the loss it trained on, below its input's
    (path,) = (tmp_path / "m").glob("r-*.safetensors")
    record = load_model(path)[1]["refiner_training"]
    assert record["loss"] == "de94" and record["best_step"] == best["step"]
    assert record["validation_de94"] == pytest.approx(best["val_de94"])


def test_max_downscale_shrinks_crops_and_is_bounded(cache_path, tmp_path, cli_run):
    from graycodec.training.data import ImageCache
    from graycodec.training.refine import make_batch

    cache = ImageCache.load(cache_path)
    # The same generator state picks the same photos; shrinking blends the stripes' edges, so
    # the lightness of shrunk crops takes values between the two stripe levels more often.
    native = make_batch(cache, 8, 24, np.random.default_rng(5))[0]
    shrunk = make_batch(cache, 8, 24, np.random.default_rng(5), max_downscale=4.0)[0]
    assert native.shape == shrunk.shape == (8, 1, 24, 24)
    levels = lambda L: len(torch.unique(L.round()))  # noqa: E731
    assert levels(shrunk) > levels(native)
    res = cli_run("train-refiner", str(cache_path), "--out", str(tmp_path / "m"), "--max-downscale", "0.5")
    assert res.exit_code != 0 and "--max-downscale 1..8" in res.output and "Traceback" not in res.output


# --- the context branch (--context) ---------------------------------------------------------

def noisy_context_refiner(seed: int = 0, channels: int = 6) -> HintRefiner:
    torch.manual_seed(seed)
    net = HintRefiner(context_channels=channels)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.05)
    return net.eval()


def test_a_context_branch_starts_at_zero_so_the_refiner_is_unchanged():
    plain = noisy_refiner()
    grown = HintRefiner(context_channels=8)
    grown.load_state_dict(plain.state_dict(), strict=False)
    lstar, thumb = planes(h=61, w=45)
    torch.testing.assert_close(refine(grown.eval(), lstar, thumb), refine(plain, lstar, thumb))
    with torch.no_grad():  # once trained, the branch does change the output
        torch.nn.init.normal_(grown.context.out.weight, std=0.05)
    assert not torch.allclose(refine(grown, lstar, thumb), refine(plain, lstar, thumb), atol=1e-3)


@pytest.mark.parametrize("h,w", [(300, 41), (257, 64), (9, 7)])
def test_context_strips_give_the_same_result_as_one_pass(h, w):
    # The context features are computed once and each strip upsamples only its own rows; sides
    # that are not multiples of the pooling must not shift anything.
    net = noisy_context_refiner()
    lstar, thumb = planes(h=h, w=w)
    whole = refine(net, lstar, thumb, strip_rows=1000)
    strips = refine(net, lstar, thumb, strip_rows=37)
    from graycodec.refiner import refiner_inputs

    one_call = net(lstar, *refiner_inputs(lstar, thumb))  # the forward pass training uses
    assert torch.allclose(whole, strips, atol=1e-4)
    assert torch.allclose(whole, one_call, atol=1e-4)


def test_upsample_context_of_rows_is_a_slice_of_the_whole_upsampling():
    from graycodec.refiner import upsample_context

    features = torch.randn(1, 3, 13, 5)
    whole = F.interpolate(features, scale_factor=4, mode="bilinear", align_corners=False)[..., :50, :19]
    for a, b in [(0, 50), (7, 21), (30, 50), (49, 50), (4, 8)]:
        torch.testing.assert_close(upsample_context(features, (a, b), 19), whole[..., a:b, :])


def test_a_model_file_with_a_context_refiner_round_trips(tmp_path):
    net = ColorUNet(refiner=True)
    net.refiner = noisy_context_refiner(channels=5)
    loaded, _ = load_model(save_model(net, tmp_path, "ctx", {}))
    assert loaded.refiner.context is not None and loaded.refiner.context.inp.out_channels == 5
    lstar, thumb = planes()
    torch.testing.assert_close(refine(loaded.refiner, lstar, thumb), refine(net.refiner.half().float(), lstar, thumb),
                               atol=2e-3, rtol=0)


def _donor_file(tmp_path):
    donor = ColorUNet(refiner=True)
    torch.nn.init.normal_(donor.refiner.out.weight, std=0.01)
    return save_model(donor, tmp_path / "donor", "donor", {"working_short_side": 64})


def _log(workdir):
    return [json.loads(line) for line in (workdir / "log.jsonl").read_text().splitlines()]


def test_train_refiner_grows_a_context_branch_on_a_released_refiner(cache_path, tmp_path, cli_run):
    donor_file = _donor_file(tmp_path)
    common = [str(cache_path), "--model", str(donor_file), "--init", str(donor_file), "--batch-size", "2",
              "--crop", "32", "--threads", "1", "--val-every", "5"]
    res = cli_run("train-refiner", *common, "--context", "4", "--steps", "5",
                  "--out", str(tmp_path / "m" / "ctx"), "--workdir", str(tmp_path / "w"))
    assert res.exit_code == 0, res.output
    (path,) = (tmp_path / "m").glob("ctx-*.safetensors")
    net, card = load_model(path)
    assert net.refiner.context.inp.out_channels == 4 and card["refiner_training"]["context_channels"] == 4
    # A context refiner cannot start a plain one: the shapes must fit, said in one line.
    res = cli_run("train-refiner", *common, "--steps", "1", "--init", str(path),
                  "--out", str(tmp_path / "m2" / "p"), "--workdir", str(tmp_path / "w2"))
    assert res.exit_code != 0 and "does not fit" in res.output and "Traceback" not in res.output


def test_validation_crops_do_not_depend_on_the_training_seed(cache_path, tmp_path, cli_run):
    donor_file = _donor_file(tmp_path)
    scores = []
    for seed in ("0", "3"):
        res = cli_run("train-refiner", str(cache_path), "--model", str(donor_file), "--init", str(donor_file),
                      "--steps", "0", "--batch-size", "2", "--crop", "24", "--threads", "1", "--seed", seed,
                      "--out", str(tmp_path / f"m{seed}" / "x"), "--workdir", str(tmp_path / f"w{seed}"))
        assert res.exit_code == 0, res.output
        (record,) = _log(tmp_path / f"w{seed}")
        scores.append({k: v for k, v in record.items() if k.startswith("val_")})
    assert scores[0] == scores[1] and scores[0]["val_de94"] > 0


def test_a_run_from_init_scores_it_first_and_never_releases_worse(cache_path, tmp_path, cli_run):
    donor_file = _donor_file(tmp_path)
    res = cli_run("train-refiner", str(cache_path), "--model", str(donor_file), "--init", str(donor_file),
                  "--steps", "4", "--val-every", "2", "--lr", "10", "--batch-size", "2", "--crop", "24",
                  "--threads", "1", "--out", str(tmp_path / "m" / "x"), "--workdir", str(tmp_path / "w"))
    assert res.exit_code == 0, res.output
    scored = [r for r in _log(tmp_path / "w") if "val_de94" in r]
    assert [r["step"] for r in scored] == [0, 2, 4]
    assert all(r["val_de94"] > scored[0]["val_de94"] for r in scored[1:])  # lr 10 only makes it worse
    (path,) = (tmp_path / "m").glob("x-*.safetensors")
    net, card = load_model(path)
    donor, _ = load_model(donor_file)
    assert card["refiner_training"]["best_step"] == 0
    for name, tensor in donor.refiner.state_dict().items():  # the release is the --init refiner
        assert torch.equal(net.refiner.state_dict()[name], tensor), name


def test_ema_keeps_the_average_as_best_and_resumes_it(cache_path, tmp_path, cli_run, monkeypatch):
    base = save_model(ColorUNet(), tmp_path / "base", "base", {})

    def argv(name, *extra):
        return [str(cache_path), "--model", str(base), "--val-every", "5", "--batch-size", "2", "--crop", "24",
                "--lr", "3e-3", "--threads", "1", "--ema", "0.8", "--steps", "10",
                "--out", str(tmp_path / name / "x"), "--workdir", str(tmp_path / f"w_{name}"), *extra]

    # Interrupted in step 7 (last checkpoint: step 5), then resumed.
    cut_short(monkeypatch, refine_training, "lr_at", 7, lambda: refine_training.main(argv("cut")))
    at_5 = torch.load(tmp_path / "w_cut" / "last.ckpt", weights_only=True)
    assert refine_training.main(argv("cut", "--resume", str(tmp_path / "w_cut" / "last.ckpt"))) == 0
    resumed = torch.load(tmp_path / "w_cut" / "last.ckpt", weights_only=True)

    assert cli_run("train-refiner", *argv("whole")).exit_code == 0
    whole = torch.load(tmp_path / "w_whole" / "last.ckpt", weights_only=True)
    for key in whole["ema"]:  # the average came back with the checkpoint and went on to the bit
        assert torch.equal(resumed["ema"][key], whole["ema"][key]), key
    name = "out.weight" if "out.weight" in whole["ema"] else next(iter(whole["ema"]))
    assert not torch.equal(whole["ema"][name], whole["refiner"][name])
    # best.pt holds the average that won the validation, not that step's raw weights.
    kept = torch.load(tmp_path / "w_whole" / "best.pt", weights_only=True)[name]
    assert torch.equal(kept, (at_5 if whole["best"]["step"] == 5 else whole)["ema"][name])


CHANNELS_WIDE = 32  # wider than the shipped refiners' 24


def test_widening_keeps_what_the_refiner_computes_and_lets_the_new_channels_learn():
    from graycodec.refiner import widen_state

    narrow = noisy_context_refiner(channels=6)  # every weight random: each channel matters
    wide = HintRefiner(channels=CHANNELS_WIDE, context_channels=6)
    wide.load_state_dict(widen_state(narrow.state_dict(), wide))
    lstar, thumb = planes(h=61, w=45)
    torch.testing.assert_close(refine(wide.eval(), lstar, thumb), refine(narrow, lstar, thumb))
    # The new channels start without a say in the output but with a gradient, so training uses them.
    from graycodec.refiner import refiner_inputs

    wide.train()
    wide(lstar, *refiner_inputs(lstar, thumb)).square().mean().backward()
    old = narrow.inp.out_channels
    assert wide.out.weight[:, old:].abs().max() == 0
    assert wide.out.weight.grad[:, old:].abs().max() > 0
    assert wide.body[0].weight.grad[:old, old:].abs().max() > 0


def test_a_model_file_with_a_wider_refiner_round_trips(tmp_path):
    net = ColorUNet(refiner=True)
    torch.manual_seed(1)
    net.refiner = HintRefiner(channels=CHANNELS_WIDE)
    torch.nn.init.normal_(net.refiner.out.weight, std=0.01)
    loaded, _ = load_model(save_model(net, tmp_path, "wide", {}))
    assert loaded.refiner.inp.out_channels == CHANNELS_WIDE
    lstar, thumb = planes()
    torch.testing.assert_close(refine(loaded.refiner, lstar, thumb), refine(net.refiner.half().float().eval(), lstar, thumb),
                               atol=2e-3, rtol=0)


def test_train_refiner_widens_a_released_refiner_and_refuses_to_narrow_one(cache_path, tmp_path, cli_run):
    donor_file = _donor_file(tmp_path)
    common = [str(cache_path), "--model", str(donor_file), "--batch-size", "2", "--crop", "32", "--threads", "1",
              "--val-every", "5"]
    res = cli_run("train-refiner", *common, "--init", str(donor_file), "--width", "32", "--steps", "5",
                  "--out", str(tmp_path / "m" / "wide"), "--workdir", str(tmp_path / "w"))
    assert res.exit_code == 0, res.output
    log = _log(tmp_path / "w")
    (path,) = (tmp_path / "m").glob("wide-*.safetensors")
    net, card = load_model(path)
    assert net.refiner.inp.out_channels == 32 and card["refiner_training"]["channels"] == 32
    # Step 0 scores the widened start: exactly the donor's own score on the same crops.
    res = cli_run("train-refiner", *common, "--init", str(donor_file), "--steps", "0",
                  "--out", str(tmp_path / "m0" / "same"), "--workdir", str(tmp_path / "w0"))
    assert res.exit_code == 0, res.output
    assert log[0]["step"] == 0 and log[0]["val_de94"] == pytest.approx(_log(tmp_path / "w0")[0]["val_de94"], abs=1e-5)
    # Without --width, a released refiner goes on at its own width (the shipped one is 32 wide).
    res = cli_run("train-refiner", *common, "--init", str(path), "--steps", "0",
                  "--out", str(tmp_path / "m1" / "same"), "--workdir", str(tmp_path / "w1"))
    assert res.exit_code == 0, res.output
    (same,) = (tmp_path / "m1").glob("same-*.safetensors")
    assert load_model(same)[0].refiner.inp.out_channels == 32
    # A wider refiner cannot start a narrower one: said in one line.
    res = cli_run("train-refiner", *common, "--init", str(path), "--width", "24", "--steps", "1",
                  "--out", str(tmp_path / "m2" / "n"), "--workdir", str(tmp_path / "w2"))
    assert res.exit_code != 0 and "does not fit" in res.output and "--width 24" in res.output
    assert "Traceback" not in res.output
