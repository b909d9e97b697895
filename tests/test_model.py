"""The U-Net and its weight files."""
import json

import pytest
import torch

from graycodec.errors import ModelError
from graycodec.colorbins import NUM_BINS
from graycodec.model import ColorUNet, load_model, model_id_of, save_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return ColorUNet().eval()


def test_architecture_is_a_resnet18_unet_of_about_14m_parameters(net):
    n = sum(p.numel() for p in net.parameters())
    assert 14.0e6 < n < 14.8e6
    assert net.stem[0].in_channels == 4  # L, hint a, hint b, mask


@pytest.mark.parametrize("h,w", [(1, 1), (7, 33), (64, 64), (50, 130)])
def test_untrained_model_returns_its_hint_for_any_size(net, h, w):
    # The zero-initialised head makes an untrained model equal to the baselines:
    # gray without hints, the hint plane itself with them.
    hint = torch.randn(1, 2, h, w) * 30
    with torch.inference_mode():
        out = net(torch.rand(1, 1, h, w) * 100, hint, torch.ones(1, 1, h, w))
    assert out.ab.shape == (1, 2, h, w)
    assert torch.equal(out.ab, hint)
    # The bins head gives logits at half resolution (rounded up), one per a/b bin.
    assert out.logits.shape == (1, NUM_BINS, -(-h // 2), -(-w // 2))


def test_save_names_file_by_hash_and_load_restores_weights(tmp_path, net):
    with torch.no_grad():
        net.head.weight.normal_(0, 0.01)  # a non-trivial head, so outputs depend on the weights
        net.class_weights.uniform_(0.5, 2.0)  # a buffer: it must travel in the file too
    path = save_model(net, tmp_path, "tiny", {"note": "test"})
    digest = model_id_of(path)
    assert path.name == f"tiny-{digest[:8]}.safetensors"
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["model_id"] == digest and card["note"] == "test"
    loaded, card2 = load_model(path)
    x = (torch.rand(1, 1, 32, 32) * 100, torch.zeros(1, 2, 32, 32), torch.zeros(1, 1, 32, 32))
    with torch.inference_mode():
        # fp16 storage: outputs agree to fp16 precision of the weights
        got, want = loaded(*x), net(*x)
        assert torch.allclose(got.ab, want.ab, atol=0.05)
        assert torch.allclose(got.logits, want.logits, atol=0.05)
    assert torch.allclose(loaded.class_weights, net.class_weights, rtol=1e-3)
    assert card2["model_id"] == digest
    with torch.no_grad():
        net.head.weight.zero_()
        net.class_weights.fill_(1.0)


def test_batch_norm_files_load_as_batch_norm(tmp_path):
    bn = ColorUNet("batch").eval()
    loaded, _ = load_model(save_model(bn, tmp_path, "bn", {}))
    assert loaded.norm == "batch" and isinstance(loaded.stem[1], torch.nn.BatchNorm2d)
    assert isinstance(ColorUNet().stem[1], torch.nn.GroupNorm)  # the default


def test_first_format_nan_weights_and_damaged_cards_are_refused(tmp_path, net):
    from safetensors.torch import save_file

    old = {k: v.half() for k, v in net.state_dict().items() if not k.startswith(("bins_head", "class_weights"))}
    save_file(old, str(tmp_path / "old.safetensors"))
    with pytest.raises(ModelError, match="first predictor"):
        load_model(tmp_path / "old.safetensors")
    state = {k: v.half() for k, v in net.state_dict().items()}
    state["head.weight"][0, 0, 0, 0] = float("nan")
    save_file(state, str(tmp_path / "nan.safetensors"))
    with pytest.raises(ModelError, match="NaN"):
        load_model(tmp_path / "nan.safetensors")
    path = save_model(net, tmp_path, "carded", {})
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="damaged model card"):
        load_model(path)


def test_damaged_or_foreign_weight_files_are_refused(tmp_path, net):
    path = save_model(net, tmp_path, "tiny", {})
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="does not match its name"):
        load_model(path)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="not a valid"):
        load_model(junk)
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    pickle = tmp_path / "evil.safetensors"
    torch.save({"x": torch.zeros(1)}, pickle)  # a pickle is never unpickled
    with pytest.raises(ModelError):
        load_model(pickle)
