"""NumPy knowledge-distillation loss against PyTorch (helpers.torch.deploy.kd_loss and autograd)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy.distillation import kd_loss_backward, kd_loss_forward, softmax
from helpers.numpy.gradcheck import numerical_gradient, rel_error
from helpers.torch.deploy import kd_loss


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.9), (10.0, 1.0), (2.0, 0.0)])
def test_forward_and_gradient_equal_torch(temperature, alpha):
    rng = np.random.default_rng(int(temperature * 10 + alpha * 3))
    s, t = rng.normal(0, 3, (7, 10)), rng.normal(0, 3, (7, 10))
    y = rng.integers(0, 10, 7)
    loss, cache = kd_loss_forward(s, t, y, temperature, alpha)
    grad = kd_loss_backward(1.0, cache)
    ts = torch.tensor(s, requires_grad=True)
    ref = kd_loss(ts, torch.tensor(t), torch.from_numpy(y), temperature, alpha)
    ref.backward()
    assert abs(loss - ref.item()) < 1e-10
    np.testing.assert_allclose(grad, ts.grad.numpy(), atol=1e-12)


def test_numerical_gradient_and_t_squared_scaling():
    rng = np.random.default_rng(1)
    s, t, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    num = numerical_gradient(lambda z: np.array(kd_loss_forward(z, t, y, 3.0, 0.7)[0]), s.copy(), np.array(1.0))
    assert rel_error(num, kd_loss_backward(1.0, kd_loss_forward(s, t, y, 3.0, 0.7)[1])) < 1e-7
    # soft term alone: the T^2 factor keeps the gradient's scale roughly constant as T grows
    norms = [np.abs(kd_loss_backward(1.0, kd_loss_forward(s, t, y, T, 1.0)[1])).sum() for T in (2.0, 8.0)]
    assert 0.5 < norms[1] / norms[0] < 2.0


def test_edge_cases_and_errors():
    s = np.array([[1000.0, -1000.0, 0.0]])
    loss, cache = kd_loss_forward(s, s, np.array([0]), 4.0, 1.0)   # identical logits, extreme values
    assert loss == pytest.approx(0.0, abs=1e-12) and np.all(np.isfinite(kd_loss_backward(1.0, cache)))
    np.testing.assert_allclose(softmax(np.zeros((2, 5))), 0.2)
    ref = F.softmax(torch.tensor([[1.0, 2.0, 3.0]]) / 2, dim=1).numpy()
    np.testing.assert_allclose(softmax(np.array([[1.0, 2.0, 3.0]]), 2.0), ref, rtol=1e-6)
    with pytest.raises(ValueError, match="both be"):
        kd_loss_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels must be"):
        kd_loss_forward(np.zeros((2, 3)), np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="temperature"):
        kd_loss_forward(np.zeros((2, 3)), np.zeros((2, 3)), np.array([0, 1]), temperature=0)
    with pytest.raises(ValueError, match="alpha"):
        kd_loss_forward(np.zeros((2, 3)), np.zeros((2, 3)), np.array([0, 1]), alpha=1.5)
    with pytest.raises(ValueError, match="both be"):
        kd_loss(torch.zeros(2, 3), torch.zeros(3, 3), torch.tensor([0, 1]))
