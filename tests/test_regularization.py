"""Inverted dropout and weight initialization against PyTorch and numerical gradients."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers.numpy import dropout as R
from helpers.numpy import init
from helpers.numpy.gradcheck import numerical_gradient, rel_error
from helpers.numpy.layers import Conv2D, Dense, Flatten, ReLU
from helpers.numpy.network import Sequential


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_matches_torch_with_the_same_mask(p):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
    out_t = nn.Dropout(p)(x)
    dout = torch.randn_like(out_t)
    out_t.backward(dout)
    mask = (out_t != 0).detach().numpy()
    out, cache = R.dropout_forward(x.detach().numpy(), p, mask=mask)
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(R.dropout_backward(dout.numpy(), cache), x.grad.numpy(), rtol=1e-12)


def test_dropout_eval_is_identity_and_expectation_is_kept():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 50))
    layer = R.Dropout(0.5, rng=1)
    np.testing.assert_array_equal(layer.forward(x, train=False), x)
    assert layer.mask is None
    mean = np.mean([layer.forward(x) for _ in range(400)], axis=0)
    assert np.abs(mean - x).mean() < 0.05
    out = layer.forward(x)
    kept = layer.mask.mean()
    assert 0.45 < kept < 0.55
    np.testing.assert_allclose(out[layer.mask], 2 * x[layer.mask])
    assert np.all(out[~layer.mask] == 0)


def test_dropout_gradient_is_numerically_right_and_layer_api():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 7))
    mask = rng.random(x.shape) > 0.3
    dout = rng.standard_normal(x.shape)
    _, cache = R.dropout_forward(x, 0.3, mask=mask)
    num = numerical_gradient(lambda v: R.dropout_forward(v, 0.3, mask=mask)[0], x.copy(), dout)
    assert rel_error(R.dropout_backward(dout, cache), num) < 1e-8
    layer = R.Dropout(0.3, rng=0)
    with pytest.raises(RuntimeError):
        layer.forward(x, train=False)
        layer.backward(dout)
    out = layer.forward(x)
    np.testing.assert_allclose(layer.backward(dout), dout * layer.mask / 0.7)
    assert out.dtype == x.dtype
    net = Sequential([Flatten(), Dense(7, 4, rng=0), ReLU(), R.Dropout(0.5, rng=0), Dense(4, 2, rng=1)])
    assert net.forward(x).shape == (3, 2)
    assert net.backward(np.ones((3, 2))).shape == x.shape


def test_dropout_bad_input():
    for p in (-0.1, 1.0, "0.5", True):
        with pytest.raises(ValueError, match="p must be"):
            R.Dropout(p)
    with pytest.raises(ValueError, match="mask"):
        R.dropout_forward(np.ones((2, 3)), 0.5, mask=np.ones((3, 2), bool))
    _, cache = R.dropout_forward(np.ones((2, 3)), 0.5, rng=0)
    with pytest.raises(ValueError, match="dout"):
        R.dropout_backward(np.ones((3, 2)), cache)


def test_fans_and_stds_match_torch_init():
    assert init.fans((16, 8, 3, 3)) == (72, 144)
    assert init.fans((10, 784)) == (784, 10)
    torch.manual_seed(0)
    for shape in [(256, 512), (64, 32, 3, 3)]:
        w = torch.empty(shape)
        nn.init.xavier_normal_(w)
        assert abs(w.std().item() / init.init_std(shape, "xavier") - 1) < 0.03
        nn.init.kaiming_normal_(w, nonlinearity="relu")
        assert abs(w.std().item() / init.init_std(shape, "he") - 1) < 0.03
        ours = init.init_weights(shape, "he", rng=0)
        assert abs(ours.std() / init.init_std(shape, "he") - 1) < 0.03
    assert not init.init_weights((3, 4), "zeros").any()
    assert init.init_std((3, 4), "normal", std=0.5) == 0.5
    with pytest.raises(ValueError, match="scheme"):
        init.init_std((3, 4), "glorot")
    with pytest.raises(ValueError, match="shape"):
        init.fans((5,))


def test_activation_stds_he_keeps_relu_signal_and_small_init_vanishes():
    x = np.random.default_rng(0).standard_normal((500, 256))
    he = init.activation_stds(x, depth=20, scheme="he", rng=0)
    small = init.activation_stds(x, depth=20, scheme="normal", std=0.01, rng=0)
    assert he.shape == (20,)
    assert 0.3 < he[-1] < 3
    assert small[-1] < 1e-15
    xav_tanh = init.activation_stds(x, depth=20, scheme="xavier", activation="tanh", rng=0)
    assert 0.05 < xav_tanh[-1] < 1
    with pytest.raises(ValueError, match="activation"):
        init.activation_stds(x, activation="gelu")
    with pytest.raises(ValueError, match="depth"):
        init.activation_stds(x, depth=0)


def test_reinitialize_sets_weights_in_place():
    net = Sequential([Conv2D(1, 4, 3, rng=0), ReLU(), Flatten(), Dense(4 * 6 * 6, 3, rng=0)])
    w0 = net.layers[0].params["w"]
    init.reinitialize(net, "zeros")
    assert net.layers[0].params["w"] is w0 and not w0.any()
    init.reinitialize(net, "xavier", rng=0)
    assert w0.std() > 0
    with pytest.raises(ValueError):
        init.reinitialize(object())


# --------------------------------------------------------------------------- regressions


def test_dropout_uses_the_base_protocol_and_integer_inputs_become_float():
    from helpers.numpy.layers import Layer

    assert "forward" not in vars(R.Dropout) and R.Dropout.forward is Layer.forward
    x = np.full((4, 5), 3, dtype=np.int64)
    out, cache = R.dropout_forward(x, 0.5, rng=0)
    assert out.dtype == np.float64 and set(np.unique(out)) <= {0.0, 6.0}
    assert R.dropout_backward(np.ones((4, 5), dtype=np.int32), cache).dtype == np.float64
    assert R.dropout_forward(x, 0.5, train=False)[0].dtype == np.float64  # the same dtype in both modes
    assert R.dropout_forward(x.astype(np.float16), 0.5, rng=0)[0].dtype == np.float32
    layer = R.Dropout(0.5, rng=0)
    layer.forward(np.ones((2, 3)), train=False)
    assert layer.mask is None
    with pytest.raises(RuntimeError, match="train=True"):
        layer.backward(np.ones((2, 3)))


def test_dropout_eval_and_backward_return_writeable_arrays():
    x = np.broadcast_to(np.float64(2.0), (2, 3))  # read-only
    out, cache = R.dropout_forward(x, 0.5, train=False)
    assert out.flags.writeable
    assert R.dropout_backward(x, cache).flags.writeable


@pytest.mark.parametrize("p", [float("nan"), float("inf"), 1.0, -0.1, True])
def test_dropout_refuses_nan_and_out_of_range_p(p):
    with pytest.raises(ValueError, match="dropout probability p must be a finite number in"):
        R.Dropout(p)


def test_init_checks_refuse_nan_and_bools():
    with pytest.raises(ValueError, match="gain must be a finite number"):
        init.init_weights((3, 2), gain=float("nan"))
    with pytest.raises(ValueError, match="std must be a finite number"):
        init.init_std((3, 2), "normal", std=float("nan"))
    with pytest.raises(ValueError, match="depth must be an int >= 1"):
        init.activation_stds(np.ones((2, 3)), depth=True)
