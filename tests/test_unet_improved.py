"""The pieces of the improved U-Net recipe: intensity normalization, zoom/intensity augmentation,
dihedral test-time augmentation and the exponential moving average of the weights."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers.numpy.intensity import invert_bright_background, normalize_nuclei_images, percentile_stretch, to_grey
from helpers.torch.averaging import WeightEMA
from helpers.torch.unet import UNet, dihedral_tta, grey_to_tensor, predict_probs, random_scale_intensity


def _blob_image(bright_field: bool, size=32):
    """One round nucleus on a noisy background, as uint8 RGB; bright-field: dark nucleus on bright background."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    nucleus = (yy - 12) ** 2 + (xx - 18) ** 2 < 25
    g = 0.1 + 0.05 * rng.random((size, size)) + 0.6 * nucleus
    if bright_field:
        g = 1 - g
    return np.repeat((g * 255).round().astype(np.uint8)[..., None], 3, -1), nucleus


# ----------------------------------------------------------------------------- intensity
def test_bright_field_image_is_inverted_so_the_nucleus_is_bright():
    img, nucleus = _blob_image(bright_field=True)
    grey, inverted = invert_bright_background(to_grey(img[None]))
    assert inverted.tolist() == [True]
    assert grey[0][nucleus].mean() > grey[0][~nucleus].mean() + 0.4
    dark, _ = _blob_image(bright_field=False)
    assert invert_bright_background(to_grey(dark[None]))[1].tolist() == [False]


def test_normalization_makes_an_image_and_its_negative_alike():
    img, _ = _blob_image(bright_field=False)
    a, b = normalize_nuclei_images(np.stack([img, 255 - img]))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_percentile_stretch_maps_the_percentiles_to_0_and_1_and_clips():
    g = np.random.default_rng(1).normal(0.3, 0.05, (2, 20, 20)).astype(np.float32)
    g[1] = 0.7                                           # a flat image
    out = percentile_stretch(g, 2, 98)
    assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    lo, hi = np.percentile(g[0], [2, 98])
    np.testing.assert_allclose(out[0], np.clip((g[0] - lo) / (hi - lo), 0, 1), atol=1e-6)
    assert (out[0] == 0).mean() == pytest.approx(0.02, abs=0.01)
    assert (out[0] == 1).mean() == pytest.approx(0.02, abs=0.01)
    assert (out[1] == 0).all()
    with pytest.raises(ValueError):
        percentile_stretch(g, 50, 50)


# ----------------------------------------------------------------------------- augmentation
def test_scale_intensity_augmentation_keeps_ranges_and_switches_off():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 32, 32)
    y = (torch.rand(4, 1, 32, 32) > 0.7).float()
    xa, ya = random_scale_intensity(x, y, gen)
    assert xa.shape == x.shape and ya.shape == y.shape
    assert xa.min() >= 0 and xa.max() <= 1 and set(ya.unique().tolist()) <= {0.0, 1.0}
    same_x, same_y = random_scale_intensity(x, y, gen, scale=None, gamma=None, contrast=None, brightness=0)
    assert torch.equal(same_x, x) and torch.equal(same_y, y)
    flat_x, _ = random_scale_intensity(torch.full((3, 1, 32, 32), 0.5), y[:3], gen, gamma=None, contrast=None,
                                       brightness=0)
    torch.testing.assert_close(flat_x, torch.full_like(flat_x, 0.5))   # zooming a flat image keeps it flat
    again = random_scale_intensity(x, y, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], xa) and torch.equal(again[1], ya)      # seeded


def test_zoom_moves_image_and_mask_together():
    x = torch.zeros(1, 1, 32, 32)
    x[..., 12:20, 12:20] = 1.0
    xa, ya = random_scale_intensity(x, x.clone(), torch.Generator().manual_seed(3), gamma=None, contrast=None,
                                    brightness=0)
    assert torch.equal(ya, (xa > 0.5).float())


# ----------------------------------------------------------------------------- test-time augmentation
def test_tta_of_an_equivariant_function_is_the_function():
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    with torch.no_grad():   # a kernel symmetric under all flips/rotations makes the convolution equivariant
        k = torch.randn(2, 1, 3, 3)
        k = sum(torch.rot90(k, r, (-2, -1)) + torch.rot90(k.flip(-1), r, (-2, -1)) for r in range(4))
        conv.weight.copy_(k)
    x = torch.randn(3, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(dihedral_tta(conv, x), conv(x), atol=1e-5, rtol=1e-5)
        shift = lambda t: torch.roll(t, 1, -1)        # noqa: E731  (not equivariant: TTA changes it)
        assert not torch.allclose(dihedral_tta(shift, x), shift(x))


def test_tta_prediction_is_invariant_to_flipping_the_input():
    torch.manual_seed(0)
    model = UNet(in_channels=1, width=4, depth=2).eval()
    x = grey_to_tensor(np.random.default_rng(0).random((2, 16, 16)).astype(np.float32))
    p = predict_probs(model, x, tta=True)
    q = predict_probs(model, torch.rot90(x, 1, (-2, -1)), tta=True)
    np.testing.assert_allclose(np.rot90(p, 1, (-2, -1)), q, atol=1e-5)
    assert not np.allclose(predict_probs(model, x), p, atol=1e-5)


# ----------------------------------------------------------------------------- weight averaging
def test_weight_ema_by_hand_and_batchnorm_buffers():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = WeightEMA(model, decay=0.9, warmup=False)
    w0 = model[0].weight.detach().clone()
    with torch.no_grad():
        model[0].weight.add_(1.0)
        model[1].running_mean.fill_(2.0)
        model[1].num_batches_tracked.fill_(7)
    ema.update(model)
    torch.testing.assert_close(ema.model[0].weight, w0 + 0.1)
    torch.testing.assert_close(ema.model[1].running_mean, torch.full((2,), 0.2))
    assert int(ema.model[1].num_batches_tracked) == 7
    assert not ema.model.training and not any(p.requires_grad for p in ema.model.parameters())
    for _ in range(200):
        ema.update(model)
    torch.testing.assert_close(ema.state_dict()["0.weight"], model[0].weight.detach(), atol=1e-6, rtol=0)


def test_weight_ema_warmup_starts_near_the_current_weights():
    model = nn.Linear(3, 1)
    ema = WeightEMA(model, decay=0.999)
    assert ema.current_decay() == pytest.approx(0.1)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    assert ema.current_decay() == pytest.approx(2 / 11)
    with pytest.raises(ValueError):
        WeightEMA(model, decay=1.0)
