"""Filters, feature maps, Grad-CAM (NumPy against PyTorch) and occlusion (helpers.numpy/torch.visualize)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.numpy.models import mnist_cnn
from helpers.numpy.network import to_torch
from helpers.numpy.visualize import (
    channel_correlation,
    deletion_scores,
    filters_to_images,
    grad_cam_numpy,
    map_correlation,
    neighbour_correlation,
    occlusion_sensitivity,
    upsample,
)
from helpers.torch.visualize import grad_cam, maximize_class_score, record_activations


def test_filters_to_images_keeps_sign_and_range():
    w = np.zeros((2, 3, 3, 3))
    w[0, 0, 1, 1], w[0, 1, 0, 0] = 2.0, -1.0
    img = filters_to_images(w)
    assert img.shape == (2, 3, 3, 3)
    assert img[0, 1, 1, 0] == 1.0 and img[0, 0, 0, 1] == 0.25 and img[0, 2, 2, 2] == 0.5
    assert np.all(img[1] == 0.5)                        # an all-zero filter is mid-grey, no division by zero
    assert filters_to_images(torch.ones(4, 1, 5, 5)).shape == (4, 5, 5)
    with pytest.raises(ValueError, match="1 or 3 input channels"):
        filters_to_images(np.ones((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="shape"):
        filters_to_images(np.ones((3, 3)))


def test_smoothness_and_colour_measures():
    rng = np.random.default_rng(0)
    random_w = rng.standard_normal((64, 3, 3, 3))
    assert abs(neighbour_correlation(random_w)) < 0.1
    ramp = np.broadcast_to(np.arange(3.0), (3, 3))
    smooth = np.stack([ramp + 0.05 * rng.standard_normal((3, 3)) for _ in range(16)]).reshape(16, 1, 3, 3)
    assert neighbour_correlation(smooth) > 0.3
    grey = np.repeat(rng.standard_normal((5, 1, 3, 3)), 3, axis=1)      # same kernel in R, G and B
    np.testing.assert_allclose(channel_correlation(grey), 1.0)
    opponent = np.concatenate([grey[:, :1], -grey[:, :1]], axis=1)
    np.testing.assert_allclose(channel_correlation(opponent), -1.0)
    assert abs(channel_correlation(random_w).mean()) < 0.1
    with pytest.raises(ValueError, match="at least 2 input channels"):
        channel_correlation(np.ones((2, 1, 3, 3)))


def test_record_activations_uses_and_removes_hooks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 2))
    x = torch.randn(2, 1, 6, 6)
    acts = record_activations(model, x, {"conv": model[0], "relu": model[1]})
    assert list(acts) == ["conv", "relu"]
    np.testing.assert_allclose(acts["relu"], np.maximum(acts["conv"], 0))
    np.testing.assert_allclose(acts["conv"], model[0](x).detach().numpy(), rtol=1e-6)
    assert not model[0]._forward_hooks and not model[1]._forward_hooks
    with pytest.raises(ValueError, match="not part of the model"):
        record_activations(model, x, {"other": nn.ReLU()})


def test_grad_cam_numpy_equals_pytorch():
    net = mnist_cnn(seed=1, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    classes = np.array([0, 3, 7])
    cam_np = grad_cam_numpy(net, x, classes, layer=4)
    model = to_torch(net).eval()
    cam_t = grad_cam(model, model[4], torch.from_numpy(x), classes)
    assert cam_np.shape == (3, 14, 14) and np.all(cam_np >= 0)
    np.testing.assert_allclose(cam_np, cam_t, rtol=1e-10, atol=1e-12)
    assert not model[4]._forward_hooks
    # by hand for one image: weights = spatially averaged gradients of the class score
    xt = torch.from_numpy(x[:1])
    a = model[:5](xt).detach().requires_grad_(True)
    model[5:](a)[0, 0].backward()
    by_hand = F.relu((a.grad.mean((2, 3), keepdim=True) * a).sum(1)).detach().numpy()
    np.testing.assert_allclose(cam_np[:1], by_hand, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="layer must be"):
        grad_cam_numpy(net, x, 0, layer=len(net.layers) - 1)
    with pytest.raises(ValueError, match="feature maps"):
        grad_cam_numpy(net, x, 0, layer=6)
    with pytest.raises(ValueError, match="classes"):
        grad_cam(model, model[4], torch.from_numpy(x), [1, 2])
    with pytest.raises(ValueError, match="classes must lie"):
        grad_cam_numpy(net, x, 10, layer=4)


def test_upsample_equals_torch():
    m = np.random.default_rng(0).random((2, 7, 5))
    for size in ((28, 20), (32, 32), (7, 5), (3, 11)):
        ref = F.interpolate(torch.from_numpy(m)[:, None], size=size, mode="bilinear", align_corners=False)
        np.testing.assert_allclose(upsample(m, size), ref[:, 0].numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        upsample(np.ones((4, 4)), (8, 8))


def _bright_square_classifier(images):
    """p(class 1) grows with the brightness of the central 4x4 square only."""
    centre = images[:, 0, 2:6, 2:6].mean(axis=(1, 2))
    p1 = 1 / (1 + np.exp(-10 * (centre - 0.5)))
    return np.stack([1 - p1, p1], axis=1)


def test_occlusion_and_deletion_find_the_evidence():
    x = np.zeros((2, 1, 8, 8))
    x[:, :, 2:6, 2:6] = 1.0
    occ = occlusion_sensitivity(_bright_square_classifier, x, [1, 1], patch=2, stride=2, fill=0.0)
    assert occ.shape == (2, 8, 8)
    assert occ[0, 2:6, 2:6].min() > 0.05 and np.abs(occ[0, :2]).max() == 0.0     # only the square matters
    truth = np.zeros((2, 8, 8))
    truth[:, 2:6, 2:6] = 1.0
    assert np.all(map_correlation(occ, truth) > 0.9)
    scores = deletion_scores(_bright_square_classifier, x, 1, truth, fraction=0.25, fill=0.0, seed=0)
    assert np.all(scores["top"] < scores["random"]) and np.all(scores["random"] <= scores["clean"])
    blocks = deletion_scores(_bright_square_classifier, x, 1, truth, fraction=0.25, fill=0.0, seed=0, block=2)
    assert np.all(blocks["top"] < 0.01) and np.all(blocks["top"] < blocks["random"])   # the 4 centre squares go
    with pytest.raises(ValueError, match="block"):
        deletion_scores(_bright_square_classifier, x, 1, truth, fraction=0.25, block=3)
    assert np.isnan(map_correlation(np.ones((1, 3, 3)), truth[:1, :3, :3])[0])
    with pytest.raises(ValueError, match="fraction"):
        deletion_scores(_bright_square_classifier, x, 1, truth, fraction=1.5)
    with pytest.raises(ValueError, match="larger than the image"):
        occlusion_sensitivity(_bright_square_classifier, x, 1, patch=9)
    with pytest.raises(ValueError, match="fill"):
        occlusion_sensitivity(_bright_square_classifier, x, 1, fill=[0.0, 0.0])


def test_hirescam_is_element_wise_and_equals_grad_cam_behind_global_average_pooling():
    net = mnist_cnn(seed=2, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28))
    model = to_torch(net).eval()
    hires_np = grad_cam_numpy(net, x, [4, 9], layer=4, method="hirescam")
    np.testing.assert_allclose(hires_np, grad_cam(model, model[4], torch.from_numpy(x), [4, 9], method="hirescam"),
                               rtol=1e-10, atol=1e-12)
    xt = torch.from_numpy(x[1:])
    a = model[:5](xt).detach().requires_grad_(True)
    model[5:](a)[0, 9].backward()
    np.testing.assert_allclose(hires_np[1:], F.relu((a.grad * a).sum(1)).detach().numpy(), rtol=1e-10, atol=1e-12)
    assert not np.allclose(hires_np, grad_cam_numpy(net, x, [4, 9], layer=4))   # Flatten + Dense: they differ
    # behind global average pooling + a linear layer the gradient is constant over space: the two coincide
    torch.manual_seed(0)
    gap = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(6, 3)).double().eval()
    xg = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    h, g = (grad_cam(gap, gap[1], xg, [0, 1, 2, 0], method=m) for m in ("hirescam", "grad-cam"))
    np.testing.assert_allclose(h, g, rtol=1e-9, atol=1e-12)   # each gradient map is W[c, k] / 64 everywhere
    with pytest.raises(ValueError, match="method must be one of"):
        grad_cam(gap, gap[1], xg, 0, method="cam")


def test_maximize_class_score_raises_the_class_score_and_stays_in_range():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 3))
    model.train()
    kw = dict(steps=60, lr=0.1, l2=0.0, jitter=0, blur_every=1000, seed=0)   # the plain ascent
    images = maximize_class_score(model, [0, 2], (3, 8, 8), **kw)
    assert images.shape == (2, 8, 8, 3) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    assert model.training and all(p.grad is None for p in model.parameters())   # mode and gradients restored
    with torch.no_grad():
        random_images = model(torch.rand(500, 3, 8, 8, generator=torch.Generator().manual_seed(0)))
        found = model(torch.from_numpy(images).permute(0, 3, 1, 2))
    # far above the best of 500 random images (0.11 and 0.06 for this seed)
    assert found[0, 0] > 3 * random_images[:, 0].max() and found[1, 2] > 3 * random_images[:, 2].max()
    np.testing.assert_array_equal(images, maximize_class_score(model, [0, 2], (3, 8, 8), **kw))
    regularized = maximize_class_score(model, [0, 2], (3, 8, 8), steps=20, seed=0)   # jitter, blur, L2 run too
    assert regularized.shape == images.shape and np.abs(regularized - 0.5).mean() < np.abs(images - 0.5).mean()
    with pytest.raises(ValueError, match="shape"):
        maximize_class_score(model, 0, (8, 8))
