"""The L-guided hint plane: exact where colour is flat, sharper than bilinear at L edges."""
import numpy as np
import torch
import torch.nn.functional as F

from graycodec.upsampling import box_mean, guided_hint_plane


def _bilinear(thumb, size):
    return F.interpolate(thumb, size=size, mode="bilinear", align_corners=False)


def test_box_mean_of_constant_is_constant_even_at_borders():
    x = torch.full((1, 2, 5, 7), 3.0)
    assert torch.allclose(box_mean(x, 1), x) and torch.allclose(box_mean(x, 2), x)


def test_flat_lightness_gives_plain_bilinear():
    thumb = torch.randn(1, 2, 4, 6) * 20
    lstar = torch.full((1, 1, 32, 48), 50.0)
    assert torch.allclose(guided_hint_plane(lstar, thumb), _bilinear(thumb, (32, 48)), atol=1e-4)


def test_colour_edge_on_a_lightness_edge_is_sharper_than_bilinear():
    # A red object (L 40) on a blue background (L 70): the colour edge is a lightness edge,
    # and it falls inside a thumbnail cell, where bilinear upsampling smears it.
    h, w = 64, 64
    inside = torch.zeros(1, 1, h, w, dtype=torch.bool)
    inside[..., 20:45, 13:37] = True
    lstar = torch.where(inside, 40.0, 70.0)
    ab = torch.cat([torch.where(inside, 50.0, -10.0), torch.where(inside, 30.0, -40.0)], dim=1)
    thumb = F.adaptive_avg_pool2d(ab, (8, 8)).round()
    guided = guided_hint_plane(lstar, thumb)
    err_guided = (guided - ab).abs().mean()
    err_bilinear = (_bilinear(thumb, (h, w)) - ab).abs().mean()
    assert err_guided < 0.7 * err_bilinear


def test_any_shape_including_one_pixel():
    for h, w, th, tw in [(1, 1, 1, 1), (1, 40, 1, 3), (40, 1, 3, 1), (17, 23, 2, 3)]:
        out = guided_hint_plane(torch.rand(1, 1, h, w) * 100, torch.randn(1, 2, th, tw))
        assert out.shape == (1, 2, h, w) and torch.isfinite(out).all()


def test_matching_hint_means_moves_block_means_to_the_thumbnail():
    from graycodec.upsampling import match_hint_means

    torch.manual_seed(0)
    # a photo-like lightness: smooth variation plus a little texture
    lstar = F.interpolate(torch.rand(1, 1, 16, 24) * 60 + 20, size=(64, 96), mode="bilinear") + torch.rand(1, 1, 64, 96)
    thumb = F.interpolate(torch.randn(1, 2, 3, 4) * 20, size=(8, 12), mode="bilinear")
    plain = guided_hint_plane(lstar, thumb)
    biased = plain + torch.tensor([8.0, -5.0]).view(1, 2, 1, 1)  # a prediction off by a constant
    fixed = match_hint_means(lstar, biased, thumb)
    err = lambda ab: (F.adaptive_avg_pool2d(ab, (8, 12)) - thumb).abs().mean()
    assert err(fixed) < 0.2 * err(biased) and err(fixed) < err(plain)
