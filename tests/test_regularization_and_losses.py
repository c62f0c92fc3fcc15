"""Regression losses against torch.nn.functional, weight penalties against autograd, early stopping rules."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy import losses
from helpers.numpy.gradcheck import numerical_gradient, rel_error
from helpers.numpy.regularization import EarlyStopping, early_stopping_epoch, soft_threshold, weight_penalty


def torch_loss_and_grad(fn, pred, target, **kw):
    p = torch.tensor(pred, requires_grad=True)
    loss = fn(p, torch.tensor(target), **kw)
    loss.backward()
    return loss.item(), p.grad.numpy()


@pytest.mark.parametrize("ours,theirs,kw", [
    (losses.mse_loss, F.mse_loss, {}),
    (losses.mae_loss, F.l1_loss, {}),
    (losses.huber_loss, F.huber_loss, {}),
    (losses.huber_loss, F.huber_loss, {"delta": 0.3}),
])
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 5)])
def test_regression_losses_match_torch(ours, theirs, kw, shape):
    rng = np.random.default_rng(sum(shape))
    pred, target = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    target.flat[0] = pred.flat[0]                       # an exact zero error: MAE's subgradient 0, as torch
    loss, grad = ours(pred, target, **kw)
    t_loss, t_grad = torch_loss_and_grad(theirs, pred, target, **kw)
    assert loss == pytest.approx(t_loss, rel=1e-12)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [losses.mse_loss, losses.huber_loss])
def test_smooth_losses_pass_a_numerical_gradient_check(fn):
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _, grad = fn(pred, target)
    num = numerical_gradient(lambda p: np.array(fn(p, target)[0]), pred.copy(), np.array(1.0))
    assert rel_error(grad, num) < 1e-7


def test_huber_is_mse_for_small_errors_and_mae_for_large_ones():
    small = np.array([0.1, -0.2]), np.zeros(2)
    assert losses.huber_loss(*small)[0] == pytest.approx(losses.mse_loss(*small)[0] / 2)
    large = np.array([10.0, -20.0]), np.zeros(2)
    assert losses.huber_loss(*large)[0] == pytest.approx(losses.mae_loss(*large)[0] - 0.5)


@pytest.mark.parametrize("make,message", [
    (lambda: losses.mse_loss(np.zeros(3), np.zeros(4)), "same shape"),
    (lambda: losses.mae_loss(np.zeros(0), np.zeros(0)), "must not be empty"),
    (lambda: losses.huber_loss(np.zeros(2), np.zeros(2), delta=0), "delta must be"),
])
def test_loss_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_weight_penalty_matches_autograd():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params[1][2] = 0.0
    value, grads = weight_penalty(params, l1=0.01, l2=0.1)
    ts = [torch.tensor(p, requires_grad=True) for p in params]
    t_value = sum(0.01 * t.abs().sum() + 0.05 * (t ** 2).sum() for t in ts)
    t_value.backward()
    assert value == pytest.approx(t_value.item(), rel=1e-12)
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12)


def test_l2_penalty_gradient_is_sgd_weight_decay():
    from helpers.numpy.optim import SGD
    rng = np.random.default_rng(3)
    w0, g = rng.standard_normal(6), rng.standard_normal(6)
    a, b = w0.copy(), w0.copy()
    SGD([a], lr=0.1, weight_decay=0.2).step([g])
    SGD([b], lr=0.1).step([g + weight_penalty([b], l2=0.2)[1][0]])
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_weight_penalty_errors():
    with pytest.raises(ValueError, match="l1 must be"):
        weight_penalty([np.ones(2)], l1=-1)
    with pytest.raises(ValueError, match="empty"):
        weight_penalty([])
    with pytest.raises(ValueError, match=r"params\[0\] must be a floating-point"):
        weight_penalty([np.ones(2, dtype=int)])


def test_early_stopping_fires_after_patience_bad_epochs_and_remembers_the_best():
    rule = EarlyStopping(patience=2)
    decisions = [rule.step(v) for v in [1.0, 0.8, 0.85, 0.9]]
    assert decisions == [False, False, False, True]
    assert (rule.best, rule.best_epoch, rule.epochs) == (0.8, 2, 4)


def test_min_delta_and_max_mode():
    assert early_stopping_epoch([0.5, 0.6, 0.605, 0.606, 0.9], patience=2, min_delta=0.01, mode="max") == (4, 2)
    assert early_stopping_epoch([3.0, 2.0, 1.0], patience=1) == (3, 3)      # never fires: runs to the end
    assert early_stopping_epoch([1.0, 1.0, 1.0], patience=2) == (3, 1)      # ties are no improvement


def test_early_stopping_errors():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="mode must be"):
        EarlyStopping(mode="lowest")
    with pytest.raises(ValueError, match="curve is empty"):
        early_stopping_epoch([], patience=2)
    with pytest.raises(ValueError, match="value must be a finite number"):
        EarlyStopping().step(float("nan"))


def test_soft_threshold_is_the_l1_proximal_operator():
    rng = np.random.default_rng(5)
    w, t = rng.standard_normal(200), 0.3
    out = soft_threshold(w, t)
    assert np.all(out[np.abs(w) <= t] == 0)
    np.testing.assert_allclose(out[np.abs(w) > t], w[np.abs(w) > t] - t * np.sign(w[np.abs(w) > t]))
    # the proximal point minimizes 0.5 * (v - w)**2 + t * |v| elementwise: no nearby v does better
    objective = lambda v: 0.5 * (v - w) ** 2 + t * np.abs(v)  # noqa: E731
    for shift in (-1e-3, 1e-3):
        assert np.all(objective(out) <= objective(out + shift) + 1e-15)
    assert soft_threshold(w.astype(np.float32), t).dtype == np.float32
    with pytest.raises(ValueError, match="threshold must be"):
        soft_threshold(w, -1)
    with pytest.raises(ValueError, match="floating-point"):
        soft_threshold(np.arange(3), 0.1)
