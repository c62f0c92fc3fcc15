"""Transposed convolution: it is the input-gradient of conv2d, and it equals nn.ConvTranspose2d."""

import numpy as np
import pytest
import torch

from helpers.numpy.conv import conv2d_backward, conv2d_forward
from helpers.numpy.gradcheck import numerical_gradient
from helpers.numpy.transposed_conv import (
    conv_transpose2d,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    conv_transpose_output_size,
)

CASES = [  # (H, W, K, stride, padding, output_padding, dilation)
    (5, 5, 3, 1, 0, 0, 1),
    (4, 6, 2, 2, 0, 0, 1),   # the U-Net's 2x upsampling
    (5, 4, 3, 2, 1, 1, 1),   # stride 2 with output padding
    (3, 5, 3, 3, 1, 2, 1),
    (4, 4, 3, 1, 1, 0, 2),   # dilation
    (4, 3, (2, 3), (2, 1), (0, 1), (1, 0), 1),
]


def _torch_layer(w, b, k, s, p, op, d):
    cin, cout = w.shape[:2]
    layer = torch.nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, dilation=d).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    return layer


@pytest.mark.parametrize("h,w_,k,s,p,op,d", CASES)
def test_forward_and_backward_match_pytorch(h, w_, k, s, p, op, d):
    rng = np.random.default_rng(0)
    kh, kw = (k, k) if isinstance(k, int) else k
    x = rng.standard_normal((2, 3, h, w_))
    w = rng.standard_normal((3, 4, kh, kw))
    b = rng.standard_normal(4)
    out, cache = conv_transpose2d_forward(x, w, b, s, p, op, d)
    layer = _torch_layer(w, b, k, s, p, op, d)
    xt = torch.from_numpy(x).requires_grad_()
    ref = layer(xt)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-8, atol=1e-8)
    dout = rng.standard_normal(out.shape)
    ref.backward(torch.from_numpy(dout))
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(dw, layer.weight.grad.numpy(), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(db, layer.bias.grad.numpy(), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("h,w_,k,s,p,op,d", CASES)
def test_is_the_input_gradient_of_conv2d(h, w_, k, s, p, op, d):
    """conv_transpose2d(z, w) == dL/dx of y = conv2d(x, w) when dL/dy = z."""
    rng = np.random.default_rng(1)
    kh, kw = (k, k) if isinstance(k, int) else k
    z = rng.standard_normal((2, 3, h, w_))
    w = rng.standard_normal((3, 4, kh, kw))
    up = conv_transpose2d(z, w, None, s, p, op, d)
    x = rng.standard_normal(up.shape)              # the convolution's input has the upsampled size
    y, cache = conv2d_forward(x, w, None, s, p, d)  # w read as (F=3, C=4, KH, KW)
    assert y.shape == z.shape
    dx, _, _ = conv2d_backward(z, cache)
    np.testing.assert_allclose(up, dx, rtol=1e-10, atol=1e-10)


def test_gradients_numerically():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(3)
    out, cache = conv_transpose2d_forward(x, w, b, 2, 1, 1)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    np.testing.assert_allclose(dx, numerical_gradient(lambda v: conv_transpose2d(v, w, b, 2, 1, 1), x, dout),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dw, numerical_gradient(lambda v: conv_transpose2d(x, v, b, 2, 1, 1), w, dout),
                               rtol=1e-6, atol=1e-8)


def test_output_size_formula_and_upsampling():
    assert conv_transpose_output_size(12, 2, 2) == 24
    assert conv_transpose_output_size(5, 3, 2, 1, 1) == 10
    x = np.ones((1, 1, 2, 2))
    out = conv_transpose2d(x, np.ones((1, 1, 2, 2)), stride=2)
    np.testing.assert_array_equal(out, np.ones((1, 1, 4, 4)))  # k=2, s=2 tiles each pixel into a 2x2 block


def test_float32_stays_float32():
    x = np.ones((1, 2, 3, 3), np.float32)
    assert conv_transpose2d(x, np.ones((2, 1, 2, 2), np.float32), stride=2).dtype == np.float32


@pytest.mark.parametrize("kwargs,match", [
    ({"x": np.ones((2, 3, 3)), "w": np.ones((2, 1, 2, 2))}, "N, C_in"),
    ({"x": np.ones((1, 2, 3, 3)), "w": np.ones((3, 1, 2, 2))}, "input channels"),
    ({"x": np.ones((1, 2, 3, 3)), "w": np.ones((2, 1, 2, 2)), "b": np.ones(2)}, "one bias"),
    ({"x": np.ones((1, 2, 3, 3)), "w": np.ones((2, 1, 2, 2)), "stride": 2, "output_padding": 2}, "output_padding"),
    ({"x": np.ones((1, 2, 3, 3)), "w": np.ones((2, 1, 2, 2)), "stride": 0}, "stride"),
    ({"x": np.ones((1, 2, 1, 1)), "w": np.ones((2, 1, 1, 1)), "padding": 1}, "padding"),
])
def test_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        conv_transpose2d(**kwargs)


def test_backward_checks_dout_shape():
    _, cache = conv_transpose2d_forward(np.ones((1, 2, 3, 3)), np.ones((2, 1, 2, 2)), stride=2)
    with pytest.raises(ValueError, match="shape"):
        conv_transpose2d_backward(np.ones((1, 1, 5, 5)), cache)


# --------------------------------------------------------------------------- dtypes (regressions)


def test_integer_inputs_are_computed_in_floating_point_like_torch():
    # uint8 inputs used to wrap around in the forward pass and give all-zero gradients in the backward pass
    rng = np.random.default_rng(0)
    x = rng.integers(100, 256, (2, 3, 4, 4)).astype(np.uint8)
    w = rng.integers(1, 9, (3, 2, 3, 3)).astype(np.uint8)
    b = np.array([3, 1], dtype=np.uint8)
    dout_shape = (2, 2, 9, 9)
    out, cache = conv_transpose2d_forward(x, w, b, stride=2)
    xt, wt, bt = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w, b))
    ref = torch.nn.functional.conv_transpose2d(xt, wt, bt, stride=2)
    assert out.dtype == np.float64 and out.shape == dout_shape and out.max() > 255
    np.testing.assert_allclose(out, ref.detach().numpy())
    dout = rng.standard_normal(dout_shape)
    ref.backward(torch.from_numpy(dout))
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        assert mine.dtype == np.float64 and mine.flags.writeable and np.any(mine != 0)
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_float16_computes_in_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float16)
    w = rng.standard_normal((2, 3, 2, 2)).astype(np.float16)
    out = conv_transpose2d(x, w, stride=(2, 1), padding=(0, 1))
    ref = torch.nn.functional.conv_transpose2d(torch.from_numpy(x).float(), torch.from_numpy(w).float(),
                                               stride=(2, 1), padding=(0, 1))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)
