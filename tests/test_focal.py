"""helpers.numpy.focal against torchvision.ops.sigmoid_focal_loss, a PyTorch softmax focal loss, and gradchecks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss as tv_focal

from helpers.numpy.focal import sigmoid_focal_loss, softmax_focal_loss
from helpers.numpy.gradcheck import numerical_gradient, rel_error
from helpers.numpy.losses import softmax_cross_entropy


def torch_softmax_focal(z, y, gamma, weight=None):
    logp = F.log_softmax(z, 1).gather(1, y[:, None])[:, 0]
    w = torch.ones(z.shape[1], dtype=z.dtype) if weight is None else torch.as_tensor(weight, dtype=z.dtype)
    return (w[y] * -(1 - logp.exp()) ** gamma * logp).sum() / w[y].sum()


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (-1.0, 2.0), (0.5, 0.0), (0.25, 1.0), (0.75, 0.5), (0.25, 3.5)])
def test_sigmoid_focal_matches_torchvision(reduction, alpha, gamma):
    g = np.random.default_rng(int(gamma * 10 + alpha * 100) % 97)
    x = g.normal(scale=3, size=(6, 5))
    t = (g.random((6, 5)) < 0.3).astype(np.float64)
    loss, grad = sigmoid_focal_loss(x, t, alpha=alpha, gamma=gamma, reduction=reduction)
    xt = torch.tensor(x, requires_grad=True)
    ref = tv_focal(xt, torch.tensor(t), alpha=alpha, gamma=gamma, reduction=reduction)
    ref.sum().backward()
    np.testing.assert_allclose(loss, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_sigmoid_focal_soft_targets_and_gradcheck():
    g = np.random.default_rng(1)
    x, t = g.normal(size=(4, 3)), g.random((4, 3))
    _, grad = sigmoid_focal_loss(x, t, reduction="sum")
    num = numerical_gradient(lambda v: np.array(sigmoid_focal_loss(v, t, reduction="sum")[0]), x.copy(),
                             np.array(1.0))
    assert rel_error(grad, num) < 1e-6


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_focal_matches_torch_and_gradcheck(gamma, weighted):
    g = np.random.default_rng(int(gamma * 10) + weighted)
    z, y = g.normal(scale=2, size=(8, 4)), g.integers(0, 4, 8)
    w = g.random(4) + 0.1 if weighted else None
    loss, grad = softmax_focal_loss(z, y, gamma=gamma, weight=w)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch_softmax_focal(zt, torch.from_numpy(y), gamma, w)
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-9, atol=1e-12)
    num = numerical_gradient(lambda v: np.array(softmax_focal_loss(v, y, gamma=gamma, weight=w)[0]), z.copy(),
                             np.array(1.0))
    np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-9)   # some entries are ~1e-8: no relative test


def test_softmax_focal_gamma0_is_cross_entropy():
    g = np.random.default_rng(3)
    z, y = g.normal(size=(10, 5)), g.integers(0, 5, 10)
    loss, grad = softmax_focal_loss(z, y, gamma=0)
    ce, dce = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(ce, rel=1e-12)
    np.testing.assert_allclose(grad, dce, atol=1e-14)
    w = np.array([1.0, 2.0, 3.0, 0.5, 4.0])
    ref = F.cross_entropy(torch.from_numpy(z), torch.from_numpy(y), weight=torch.from_numpy(w))
    assert softmax_focal_loss(z, y, gamma=0, weight=w)[0] == pytest.approx(float(ref), rel=1e-12)


def test_confident_samples_are_down_weighted_and_gradients_stay_finite():
    z = np.array([[30.0, 0.0], [0.0, 0.0]])
    loss, grad = softmax_focal_loss(z, np.array([0, 0]), gamma=0.5)   # p = 1 exactly in float64 for row 0
    assert np.isfinite(grad).all() and abs(grad[0]).max() < 1e-12
    _, g2 = sigmoid_focal_loss(np.array([40.0, -40.0]), np.array([1.0, 0.0]), gamma=0.5)
    assert np.isfinite(g2).all()


def test_float32_kept():
    z = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    assert softmax_focal_loss(z, np.array([0, 1, 2, 0]))[1].dtype == np.float32
    assert sigmoid_focal_loss(z, np.zeros((4, 3)))[1].dtype == np.float32


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        sigmoid_focal_loss(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
        sigmoid_focal_loss(np.zeros(3), np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="reduction"):
        sigmoid_focal_loss(np.zeros(3), np.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="gamma"):
        softmax_focal_loss(np.zeros((2, 3)), np.array([0, 1]), gamma=-1)
    with pytest.raises(ValueError, match="integer class indices"):
        softmax_focal_loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="class weights"):
        softmax_focal_loss(np.zeros((2, 3)), np.array([0, 1]), weight=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        softmax_focal_loss(np.zeros(3), np.array([0]))
