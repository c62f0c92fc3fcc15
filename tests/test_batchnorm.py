"""Batch normalization in NumPy against nn.BatchNorm1d / nn.BatchNorm2d, numerical gradients, and its errors."""

import numpy as np
import pytest
import torch

from helpers.numpy import batchnorm as bn
from helpers.numpy.gradcheck import numerical_gradient, rel_error
from helpers.numpy.layers import Layer


def random_shape(rng, conv):
    n = int(rng.integers(2, 6))
    c = int(rng.integers(1, 6))
    return (n, c, int(rng.integers(1, 6)), int(rng.integers(1, 6))) if conv else (n, c)


def torch_bn(shape, gamma, beta, momentum, eps, dtype):
    cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    layer = cls(shape[1], eps=eps, momentum=momentum).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(gamma))
        layer.bias.copy_(torch.from_numpy(beta))
    return layer


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-5), (np.float32, 1e-4)])
@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_train_and_eval_match_pytorch_including_running_stats(seed, conv, dtype, tol):
    rng = np.random.default_rng(seed)
    shape = random_shape(rng, conv)
    c = shape[1]
    momentum = float(rng.choice([0.1, 0.3, 1.0]))
    eps = float(rng.choice([1e-5, 1e-3]))
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    running_mean, running_var = np.zeros(c, dtype), np.ones(c, dtype)
    layer = torch_bn(shape, gamma, beta, momentum, eps, dtype)
    layer.train()
    for _ in range(4):  # several steps, so the running averages mix several batches
        x = (rng.standard_normal(shape) * 3 + rng.standard_normal((1, c) + (1,) * (len(shape) - 2))).astype(dtype)
        out, cache = bn.batchnorm_forward(x, gamma, beta, running_mean, running_var, True, momentum, eps)
        assert out.dtype == dtype and running_mean.dtype == dtype
        dout = rng.standard_normal(shape).astype(dtype)
        dx, dgamma, dbeta = bn.batchnorm_backward(dout, cache)
        tx = torch.tensor(x, requires_grad=True)
        layer.weight.grad = layer.bias.grad = None
        t_out = layer(tx)
        t_out.backward(torch.tensor(dout))
        for ours, theirs in ((out, t_out), (dx, tx.grad), (dgamma, layer.weight.grad), (dbeta, layer.bias.grad),
                             (running_mean, layer.running_mean), (running_var, layer.running_var)):
            assert ours.shape == tuple(theirs.shape)
            np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol, atol=tol)

    layer.eval()
    x = rng.standard_normal(shape).astype(dtype)
    before = running_mean.copy(), running_var.copy()
    out, cache = bn.batchnorm_forward(x, gamma, beta, running_mean, running_var, False, momentum, eps)
    np.testing.assert_array_equal(running_mean, before[0])  # eval mode leaves the statistics alone
    np.testing.assert_array_equal(running_var, before[1])
    dout = rng.standard_normal(shape).astype(dtype)
    dx, dgamma, dbeta = bn.batchnorm_backward(dout, cache)
    tx = torch.tensor(x, requires_grad=True)
    layer.weight.grad = layer.bias.grad = None
    t_out = layer(tx)
    t_out.backward(torch.tensor(dout))
    for ours, theirs in ((out, t_out), (dx, tx.grad), (dgamma, layer.weight.grad), (dbeta, layer.bias.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol, atol=tol)


def test_train_mode_normalizes_each_channel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 5, 5)) * np.array([1, 5, 0.1])[None, :, None, None] + 7
    out, _ = bn.batchnorm_forward(x, np.ones(3), np.zeros(3), None, None)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    var = x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), var / (var + 1e-5), rtol=1e-10)  # eps keeps it just below 1


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_gradients_pass_numerical_check(conv, train):
    rng = np.random.default_rng(1 + conv + 2 * train)
    shape = (4, 3, 3, 2) if conv else (5, 4)
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)

    def f(x_, g_, b_):
        # copies of the running statistics: the numerical check must not drift them
        return bn.batchnorm_forward(x_, g_, b_, rm.copy(), rv.copy(), train=train)[0]

    out, cache = bn.batchnorm_forward(x, gamma, beta, rm.copy(), rv.copy(), train=train)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = bn.batchnorm_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda v: f(v, gamma, beta), x, dout)) < 1e-7
    assert rel_error(dgamma, numerical_gradient(lambda v: f(x, v, beta), gamma, dout)) < 1e-7
    assert rel_error(dbeta, numerical_gradient(lambda v: f(x, gamma, v), beta, dout)) < 1e-7


def test_without_running_stats_nothing_is_updated():
    x = np.arange(12.0).reshape(4, 3)
    out, _ = bn.batchnorm_forward(x, np.ones(3), np.zeros(3), None, None, train=True)
    t = torch.nn.functional.batch_norm(torch.tensor(x), None, None, training=True)
    np.testing.assert_allclose(out, t.numpy(), atol=1e-12)


def test_layer_matches_pytorch_and_follows_the_layer_protocol():
    rng = np.random.default_rng(3)
    layer = bn.BatchNorm(4, momentum=0.2, dtype=np.float64)
    assert isinstance(layer, Layer) and set(layer.params) == set(layer.grads) == {"gamma", "beta"}
    layer.params["gamma"][:] = rng.standard_normal(4)  # optimizers update params in place
    layer.params["beta"][:] = rng.standard_normal(4)
    ref = torch.nn.BatchNorm2d(4, momentum=0.2).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.params["gamma"]))
        ref.bias.copy_(torch.from_numpy(layer.params["beta"]))
    for _ in range(3):
        x = rng.standard_normal((3, 4, 5, 5)) + 2
        out = layer(x, train=True)
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)
        tx = torch.tensor(x, requires_grad=True)
        ref.weight.grad = ref.bias.grad = None
        t_out = ref.train()(tx)
        t_out.backward(torch.tensor(dout))
        for ours, theirs in ((out, t_out), (dx, tx.grad), (layer.grads["gamma"], ref.weight.grad),
                             (layer.grads["beta"], ref.bias.grad), (layer.running_mean, ref.running_mean),
                             (layer.running_var, ref.running_var)):
            np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-10, atol=1e-10)
    x = rng.standard_normal((2, 4, 3, 3))
    np.testing.assert_allclose(layer.forward(x, train=False), ref.eval()(torch.tensor(x)).detach().numpy(),
                               atol=1e-10)
    with pytest.raises(RuntimeError, match="train=True"):
        layer.backward(np.zeros((2, 4, 3, 3)))  # eval forward kept no cache
    assert "BatchNorm(4" in repr(layer)


def test_layer_float32_stays_float32():
    layer = bn.BatchNorm(3)
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32 and layer.running_var.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32 and layer.grads["gamma"].dtype == np.float32


@pytest.mark.parametrize(
    "x_shape,kwargs,message",
    [
        ((4, 3, 5), {}, r"\(N, D\) .* \(N, C, H, W\)"),
        ((4,), {}, r"\(N, D\)"),
        ((4, 2), {}, r"gamma must have shape \(2,\)"),
        ((1, 3), {}, "more than 1 value per channel"),
        ((0, 3), {}, "empty"),
        ((4, 3), {"momentum": 1.5}, r"momentum must be a finite number in \[0"),
        ((4, 3), {"eps": 0}, r"eps must be a finite number in \(0"),
        ((4, 3), {"running_mean": [0.0, 0.0, 0.0]}, "updated in place"),
        ((4, 3), {"running_var": np.ones(2)}, r"running_var must have shape \(3,\)"),
        ((4, 3), {"running_mean": np.zeros(3, int)}, "floating-point array"),
        ((4, 3), {"running_mean": None}, "both running_mean and running_var"),
        ((4, 3), {"running_mean": None, "running_var": None, "train": False}, "eval mode"),
    ],
)
def test_bad_input_raises_clear_value_error(x_shape, kwargs, message):
    args = dict(gamma=np.ones(3), beta=np.zeros(3), running_mean=np.zeros(3), running_var=np.ones(3))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        bn.batchnorm_forward(np.zeros(x_shape), **args)


def test_bad_dout_and_layer_arguments():
    _, cache = bn.batchnorm_forward(np.zeros((4, 3)), np.ones(3), np.zeros(3), None, None)
    with pytest.raises(ValueError, match="forward output's shape"):
        bn.batchnorm_backward(np.zeros((4, 2)), cache)
    with pytest.raises(ValueError, match="num_features must be an int"):
        bn.BatchNorm(0)
    with pytest.raises(ValueError, match="momentum"):
        bn.BatchNorm(3, momentum=-0.1)
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) expects 3 features or channels"):
        bn.BatchNorm(3)(np.zeros((4, 5)))


# --------------------------------------------------------------------------- regressions


def test_layer_uses_the_base_protocol_and_integer_inputs_become_float():
    assert "forward" not in vars(bn.BatchNorm) and "backward" not in vars(bn.BatchNorm)
    layer = bn.BatchNorm(2)
    x = np.arange(16, dtype=np.uint8).reshape(4, 2, 2)[:, :, :1].reshape(4, 2)
    out = layer.forward(x)
    assert out.dtype == np.float32  # uint8 takes the float32 of gamma and beta
    ref = torch.nn.functional.batch_norm(torch.from_numpy(x).float(), None, None, training=True, eps=1e-5)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)
    dx = layer.backward(np.ones((4, 2), dtype=np.int64))
    assert dx.dtype == np.float32 and dx.flags.writeable
    assert layer.grads["gamma"].dtype == np.float32 and layer.grads["beta"].tolist() == [4.0, 4.0]
    layer.forward(x, train=False)
    with pytest.raises(RuntimeError, match="train=True"):
        layer.backward(np.ones((4, 2)))


@pytest.mark.parametrize("kwargs,message", [
    (dict(momentum=float("nan")), "momentum must be a finite number"),
    (dict(eps=float("inf")), "eps must be a finite number"),
    (dict(momentum=True), "momentum must be a finite number"),
])
def test_nan_and_inf_hyperparameters_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bn.BatchNorm(3, **kwargs)
    args = dict(gamma=np.ones(3), beta=np.zeros(3), running_mean=np.zeros(3), running_var=np.ones(3))
    with pytest.raises(ValueError, match=message):
        bn.batchnorm_forward(np.ones((4, 3)), **args, **kwargs)
