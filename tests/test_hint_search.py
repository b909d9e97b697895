"""The encoder-side hint search (graycodec/hint_search.py) and its options in encode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data, transform

from graycodec import codec, color, container, hint_search, hints
from graycodec.errors import ModelError
from graycodec.refiner import HintRefiner
from graycodec.zoo import find_default_model

needs_model = pytest.mark.skipif(find_default_model() is None, reason="no shipped model installed")


def _photo(h: int = 96, w: int = 128) -> np.ndarray:
    return (transform.resize(data.astronaut(), (h, w), anti_aliasing=True) * 255).round().astype(np.uint8)


def _planes(rgb: np.ndarray):
    lab = color.rgb_to_lab(rgb)
    lstar = color.plane_to_lstar(color.rgb_to_plane(rgb))
    return lstar, lab[..., 1:].astype(np.float32)


def _random_refiner(seed: int = 0) -> HintRefiner:
    """A small refiner whose output layer is not zero, so it changes what it is given."""
    torch.manual_seed(seed)
    refiner = HintRefiner(channels=8, context_channels=4).eval()
    with torch.no_grad():
        for conv in (refiner.out, refiner.context.out):
            conv.weight.normal_(0, 0.05)
    for p in refiner.parameters():
        p.requires_grad_(False)
    return refiner


def _error(refiner, lstar, ab, thumb) -> float:
    l_ref, ab_ref = hint_search._at_refine_size(lstar, ab, "cpu")
    values = torch.from_numpy(thumb.ab.astype(np.float32)).permute(2, 0, 1)[None]
    return float(hint_search.decoded_error(refiner, l_ref, ab_ref, values))


def test_de94_is_zero_for_equal_planes_and_matches_skimage():
    from skimage.color import deltaE_ciede94

    rng = np.random.default_rng(0)
    lab1 = np.dstack([rng.uniform(20, 80, (8, 8)), rng.uniform(-40, 40, (8, 8, 2))])
    lab2 = lab1.copy()
    lab2[..., 1:] += rng.normal(0, 3, (8, 8, 2))
    t = lambda lab: torch.from_numpy(lab[..., 1:].astype(np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    assert float(hint_search.de94(t(lab1), t(lab1))) == pytest.approx(0.01, abs=1e-3)  # the 1e-4 under the root
    assert float(hint_search.de94(t(lab2), t(lab1))) == pytest.approx(deltaE_ciede94(lab1, lab2).mean(), rel=1e-3)


def test_gradient_in_row_strips_equals_the_one_pass_gradient():
    refiner = _random_refiner()
    lstar, ab = _planes(_photo(100, 72))
    thumb = hints.make_hints(ab, "medium")
    l_ref, ab_ref = hint_search._at_refine_size(lstar, ab, "cpu")
    grads, errors = [], []
    for rows in (None, 24):  # 100 rows: one pass, then 5 strips with halos
        values = torch.from_numpy(thumb.ab.astype(np.float32)).permute(2, 0, 1)[None].requires_grad_(True)
        errors.append(float(hint_search.decoded_error(refiner, l_ref, ab_ref, values, strip_rows=rows)))
        grads.append(values.grad)
    assert errors[0] == pytest.approx(errors[1], rel=1e-6)
    assert grads[0].abs().max() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-7)


def test_search_lowers_the_decoded_error_and_keeps_the_grid():
    refiner = _random_refiner()
    lstar, ab = _planes(_photo())
    for spec in ("medium", "12:2"):
        thumb = hints.make_hints(ab, spec)
        found = hint_search.search(refiner, lstar, ab, thumb, steps=10)
        assert (found.factor, found.step, found.ab.shape) == (thumb.factor, thumb.step, thumb.ab.shape)
        assert np.all(found.ab % thumb.step == 0)
        assert not np.array_equal(found.ab, thumb.ab)
        assert _error(refiner, lstar, ab, found) < 0.97 * _error(refiner, lstar, ab, thumb)


def test_zero_steps_keep_the_block_means():
    thumb = hints.make_hints(_planes(_photo())[1], "medium")
    assert hint_search.search(_random_refiner(), *_planes(_photo()), thumb, steps=0) is thumb


def test_large_images_are_searched_at_the_refiner_size(monkeypatch):
    monkeypatch.setattr(hint_search, "refine_size", lambda h, w: (h // 2, w // 2))
    lstar, ab = _planes(_photo(96, 128))
    l_ref, ab_ref = hint_search._at_refine_size(lstar, ab, "cpu")
    assert l_ref.shape == (1, 1, 48, 64) and ab_ref.shape == (1, 2, 48, 64)
    assert float(l_ref.mean()) == pytest.approx(float(lstar.mean()), rel=1e-4)  # area-averaged


def _encode_hints(rgb: np.ndarray, **options) -> hints.HintThumbnail:
    img = container.read_gcz(codec.encode(rgb, hints="medium", **options))
    return hints.unpack_hints(img.hints, img.width, img.height)


def test_encode_without_search_stores_the_block_means():
    rgb = _photo()
    plain = hints.make_hints(color.rgb_to_lab(rgb)[..., 1:], "medium")
    assert np.array_equal(_encode_hints(rgb, hint_search=0).ab, plain.ab)


def test_encode_refuses_negative_steps():
    with pytest.raises(ValueError, match="hint_search"):
        codec.encode(_photo(), hints="medium", hint_search=-1)


def test_search_with_a_model_without_a_refiner_is_a_model_error(monkeypatch):
    monkeypatch.setattr(hint_search, "load_refiner", lambda model=None, device="auto": (None, torch.device("cpu")))
    with pytest.raises(ModelError, match="hint refiner"):
        codec.encode(_photo(), hints="medium", hint_search=3)


def test_the_default_stores_block_means_without_loading_a_model(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("loaded a model to encode")

    monkeypatch.setattr(hint_search, "load_refiner", fail)
    plain = hints.make_hints(color.rgb_to_lab(_photo())[..., 1:], "medium")
    assert np.array_equal(_encode_hints(_photo()).ab, plain.ab)


def test_search_uses_the_lossy_plane_the_decoder_sees():
    rgb = _photo()
    gcz = container.read_gcz(codec.encode(rgb, max_error=6, hint_search=0))
    src = container.GczImage(width=gcz.width, height=gcz.height, plane=color.rgb_to_plane(rgb), max_error=6)
    assert np.array_equal(codec._stored_lstar(src), color.plane_to_lstar(gcz.plane))
    assert not np.array_equal(gcz.plane, src.plane)  # the check above would be empty otherwise
    exact = container.GczImage(width=gcz.width, height=gcz.height, plane=src.plane)
    assert np.array_equal(codec._stored_lstar(exact), color.plane_to_lstar(src.plane))


def test_gray_sources_are_not_searched(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("searched a gray image")

    monkeypatch.setattr(hint_search, "search", fail)
    gray = np.repeat(_photo()[..., :1], 3, axis=2)
    assert np.all(_encode_hints(gray, hint_search=5).ab == 0)


@needs_model
def test_shipped_model_search_decodes_closer_to_the_original():
    rgb = _photo(128, 160)
    ref_lab = color.rgb_to_lab(rgb)
    predictor = codec.load_predictor(device="cpu")

    def de94(data: bytes) -> float:
        from skimage.color import deltaE_ciede94

        out = np.asarray(codec.decode(data, predictor=predictor).convert("RGB"))
        return float(deltaE_ciede94(ref_lab, color.rgb_to_lab(out)).mean())

    plain = codec.encode(rgb, hints="medium", hint_search=0)
    searched = codec.encode(rgb, hints="medium", hint_search=hint_search.SUGGESTED_STEPS)
    assert container.read_gcz(searched).hints != container.read_gcz(plain).hints
    assert de94(searched) < 0.98 * de94(plain)


@needs_model
def test_cli_hint_search_option(cli_run, tmp_path):
    from PIL import Image

    src = tmp_path / "a.png"
    Image.fromarray(_photo()).save(src)
    outs = {}
    for steps in ("0", "4"):
        out = tmp_path / f"a{steps}.gcz"
        r = cli_run("encode", src, "-o", out, "--hints", "medium", "--hint-search", steps)
        assert r.exit_code == 0, r.output
        outs[steps] = container.read_gcz(out.read_bytes()).hints
    assert outs["0"] == hints.pack_hints(hints.make_hints(color.rgb_to_lab(_photo())[..., 1:], "medium"))
    r = cli_run("encode", src, "-o", tmp_path / "b.gcz", "--hint-search", "-1")
    assert r.exit_code == 2 and "--hint-search" in r.output
    assert not (tmp_path / "b.gcz").exists()
    searched = hints.unpack_hints(outs["4"], 128, 96)
    assert searched.ab.shape == (6, 8, 2) and searched.factor == 16


def test_cli_hint_search_without_a_model_fails_in_one_line(cli_run, tmp_path, monkeypatch):
    from PIL import Image

    from graycodec.errors import EXIT_MODEL

    def no_model(model=None, device="auto"):
        raise ModelError("no trained model found: models/ holds no weight file")

    monkeypatch.setattr(hint_search, "load_refiner", no_model)
    src = tmp_path / "a.png"
    Image.fromarray(_photo()).save(src)
    r = cli_run("encode", src, "-o", tmp_path / "a.gcz", "--hints", "medium", "--hint-search", "5")
    assert r.exit_code == EXIT_MODEL and "no trained model" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "a.gcz").exists()
    r = cli_run("encode", src, "-o", tmp_path / "a.gcz", "--hints", "medium")  # the default needs no model
    assert r.exit_code == 0 and (tmp_path / "a.gcz").exists()


def test_pillow_save_passes_hint_search(monkeypatch, tmp_path):
    from PIL import Image

    import graycodec.pillow  # noqa: F401  (registers the format)

    seen = []

    def fake_search(refiner, lstar, ab, thumb, steps, device="cpu"):
        seen.append(steps)
        return thumb

    monkeypatch.setattr(hint_search, "load_refiner", lambda model=None, device="auto": (object(), "cpu"))
    monkeypatch.setattr(hint_search, "search", fake_search)
    Image.fromarray(_photo()).save(tmp_path / "a.gcz", hints="medium", hint_search=3)
    Image.fromarray(_photo()).save(tmp_path / "b.gcz", hints="medium")
    assert seen == [3]


def test_search_works_inside_inference_mode():
    refiner = _random_refiner()
    lstar, ab = _planes(_photo())
    thumb = hints.make_hints(ab, "medium")
    with torch.inference_mode():
        found = hint_search.search(refiner, lstar, ab, thumb, steps=6)
    assert not np.array_equal(found.ab, thumb.ab)
    assert _error(refiner, lstar, ab, found) < _error(refiner, lstar, ab, thumb)


def test_search_leaves_the_refiner_as_it_was():
    refiner = _random_refiner()
    for p in refiner.parameters():
        p.requires_grad_(True)
    lstar, ab = _planes(_photo(48, 64))
    hint_search.search(refiner, lstar, ab, hints.make_hints(ab, "medium"), steps=2)
    assert all(p.requires_grad and p.grad is None for p in refiner.parameters())
