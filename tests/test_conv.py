"""conv2d in NumPy against PyTorch, numerical gradients, and its error messages."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy import conv
from helpers.numpy.gradcheck import numerical_gradient, rel_error


def random_case(rng):
    """A random but valid convolution problem."""
    n, c, f = rng.integers(1, 4), rng.integers(1, 5), rng.integers(1, 5)
    kh, kw = rng.integers(1, 5, size=2)
    stride = tuple(int(s) for s in rng.integers(1, 4, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    padding = tuple(int(p) for p in rng.integers(0, 3, size=2))
    span_h, span_w = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    h = int(rng.integers(max(1, span_h - 2 * padding[0]), span_h + 9))
    w = int(rng.integers(max(1, span_w - 2 * padding[1]), span_w + 9))
    shapes = dict(x=(n, c, h, w), w=(f, c, kh, kw), b=(f,))
    return shapes, dict(stride=stride, padding=padding, dilation=dilation)


def torch_conv(x, w, b, params, dout=None):
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, **params)
    if dout is None:
        return out.detach().numpy()
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-5), (np.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(25))
def test_forward_and_backward_match_pytorch(seed, dtype, tol):
    rng = np.random.default_rng(seed)
    shapes, params = random_case(rng)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in shapes.values())
    out, cache = conv.conv2d_forward(x, w, b, **params)
    assert out.dtype == dtype
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv.conv2d_backward(dout, cache)
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, params, dout)
    for ours, theirs in ((out, t_out), (dx, t_dx), (dw, t_dw), (db, t_db)):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", range(4))
def test_gradients_pass_numerical_check(seed):
    rng = np.random.default_rng(100 + seed)
    shapes, params = random_case(rng)
    x, w, b = (rng.standard_normal(s) for s in shapes.values())
    out, cache = conv.conv2d_forward(x, w, b, **params)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv.conv2d_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda v: conv.conv2d(v, w, b, **params), x, dout)) < 1e-7
    assert rel_error(dw, numerical_gradient(lambda v: conv.conv2d(x, v, b, **params), w, dout)) < 1e-7
    assert rel_error(db, numerical_gradient(lambda v: conv.conv2d(x, w, v, **params), b, dout)) < 1e-7


def test_no_bias_gives_no_bias_gradient():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    out, cache = conv.conv2d_forward(x, w, None, padding=1)
    np.testing.assert_allclose(out, torch_conv(x, w, np.zeros(4), dict(padding=1)), atol=1e-10)
    assert conv.conv2d_backward(np.ones_like(out), cache)[2] is None


@pytest.mark.parametrize(
    "size,kernel,stride,padding,dilation,expected",
    [(5, 3, 1, 0, 1, 3), (7, 3, 1, 0, 1, 5), (32, 3, 1, 1, 1, 32), (28, 5, 2, 0, 1, 12), (10, 3, 1, 0, 2, 6),
     (224, 7, 2, 3, 1, 112), (4, 4, 1, 0, 1, 1)],
)
def test_output_size_formula(size, kernel, stride, padding, dilation, expected):
    assert conv.conv_output_size(size, kernel, stride, padding, dilation) == expected
    x = torch.zeros(1, 1, size, size)
    k = torch.zeros(1, 1, kernel, kernel)
    assert F.conv2d(x, k, stride=stride, padding=padding, dilation=dilation).shape[-1] == expected


def test_im2col_and_col2im_are_adjoint():
    # <im2col(x), c> == <x, col2im(c)> for any x, c: col2im is the transpose of im2col.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = conv.im2col(x, (3, 2), stride=2, padding=1, dilation=(1, 2))
    c = rng.standard_normal(cols.shape)
    back = conv.col2im(c, x.shape, (3, 2), stride=2, padding=1, dilation=(1, 2))
    assert np.isclose(np.sum(cols * c), np.sum(x * back))


def test_seed_example_matches_scipy_after_flip():
    # The 5x5 image and 3x3 filter of the source article; the filter is symmetric,
    # so cross-correlation and true convolution agree here.
    from scipy.signal import convolve2d

    image = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float)
    kernel = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
    ours = conv.conv2d(image[None, None], kernel[None, None])[0, 0]
    np.testing.assert_array_equal(ours, [[4, 3, 4], [2, 4, 3], [2, 3, 4]])
    np.testing.assert_array_equal(ours, convolve2d(image, kernel[::-1, ::-1], mode="valid"))
    asym = np.arange(9.0).reshape(3, 3)
    assert not np.allclose(conv.conv2d(image[None, None], asym[None, None])[0, 0],
                           convolve2d(image, asym, mode="valid"))


@pytest.mark.parametrize(
    "x_shape,w_shape,kwargs,message",
    [
        ((3, 8, 8), (2, 3, 3, 3), {}, "batch axis"),
        ((1, 3, 8, 8), (3, 3, 3), {}, r"\(F, C, KH, KW\)"),
        ((1, 3, 8, 8), (2, 1, 3, 3), {}, "channel mismatch"),
        ((1, 1, 4, 4), (1, 1, 7, 7), {}, "padded input"),
        ((1, 1, 4, 4), (1, 1, 3, 3), {"dilation": 3}, "kernel spans 7"),
        ((1, 1, 8, 8), (1, 1, 3, 3), {"stride": 0}, "stride must be >= 1"),
        ((1, 1, 8, 8), (1, 1, 3, 3), {"stride": -2}, "stride must be >= 1"),
        ((1, 1, 8, 8), (1, 1, 3, 3), {"padding": -1}, "padding must be >= 0"),
        ((1, 1, 8, 8), (1, 1, 3, 3), {"stride": 1.5}, "stride must be an int"),
    ],
)
def test_bad_input_raises_clear_value_error(x_shape, w_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv.conv2d(np.zeros(x_shape), np.zeros(w_shape), **kwargs)


def test_bad_bias_and_dout_shapes():
    x, w = np.zeros((1, 2, 5, 5)), np.zeros((4, 2, 3, 3))
    with pytest.raises(ValueError, match=r"one bias per filter"):
        conv.conv2d(x, w, np.zeros(3))
    _, cache = conv.conv2d_forward(x, w)
    with pytest.raises(ValueError, match="forward output's shape"):
        conv.conv2d_backward(np.zeros((1, 4, 5, 5)), cache)
    with pytest.raises(ValueError, match="kernel spans"):
        conv.conv_output_size(3, 5)


# --------------------------------------------------------------------------- dtypes (regressions)


def test_uint8_image_is_convolved_in_floating_point_like_torch():
    # 1800 used to come back as 8: uint8 arithmetic wrapped around modulo 256
    x = np.full((1, 1, 3, 3), 200, dtype=np.uint8)
    w = np.ones((1, 1, 3, 3), dtype=np.uint8)
    out, _ = conv.conv2d_forward(x, w)
    assert out.dtype == np.float64 and out.item() == 1800.0
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 3, 7, 6)).astype(np.uint8)
    w = rng.integers(-3, 4, (4, 3, 3, 3))
    b = np.array([1, 0, -1, 2])
    out, _ = conv.conv2d_forward(x, w, b, stride=2, padding=1)
    ref = F.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), torch.from_numpy(b).double(),
                   stride=2, padding=1)
    np.testing.assert_allclose(out, ref.numpy())


def test_uint8_image_with_float32_weights_computes_in_float32():
    x = np.full((1, 1, 4, 4), 255, dtype=np.uint8)
    w = np.full((2, 1, 3, 3), 0.5, dtype=np.float32)
    out = conv.conv2d(x, w)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 255 * 0.5 * 9)


def test_backward_of_integer_and_boolean_inputs_matches_torch():
    # integer forward inputs used to keep an integer cache: the float dout was cast to int and every gradient was 0
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, (2, 2, 5, 5))
    w = rng.random((3, 2, 3, 3)) > 0.5  # boolean weights
    b = np.array([1, 2, 3], dtype=np.int16)
    dout = rng.standard_normal((2, 3, 3, 3))
    out, cache = conv.conv2d_forward(x, w, b)
    dx, dw, db = conv.conv2d_backward(dout, cache)
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w.astype(float), b))
    ref = F.conv2d(xt, wt, bt)
    ref.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, ref.detach().numpy())
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        assert mine.dtype == np.float64 and mine.flags.writeable
        np.testing.assert_allclose(mine, theirs.grad.numpy(), atol=1e-12)
    # an integer dout is a float gradient too
    dx_int, _, db_int = conv.conv2d_backward(np.ones((2, 3, 3, 3), dtype=np.int64), cache)
    assert dx_int.dtype == np.float64 and db_int.dtype == np.float64 and np.all(db_int == 18)


def test_float16_computes_in_float32_and_matches_torch():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float16)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float16)
    out, cache = conv.conv2d_forward(x, w, padding=1)
    assert out.dtype == np.float32
    ref = F.conv2d(torch.from_numpy(x).float(), torch.from_numpy(w).float(), padding=1)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-5, atol=1e-5)
    dx, dw, _ = conv.conv2d_backward(np.ones(out.shape, np.float16), cache)
    assert dx.dtype == dw.dtype == np.float32


def test_complex_input_is_refused():
    with pytest.raises(ValueError, match="x must be an array of real numbers"):
        conv.conv2d_forward(np.ones((1, 1, 3, 3), complex), np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize("stride,padding", [((2, 1), (1, 0)), ([1, 2], [0, 1])])
def test_stride_and_padding_pairs_match_torch(stride, padding):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 7, 8)), rng.standard_normal((3, 2, 3, 2))
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=tuple(stride), padding=tuple(padding))
    np.testing.assert_allclose(conv.conv2d(x, w, stride=stride, padding=padding), ref.numpy(), atol=1e-12)


def test_bool_stride_is_refused():
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        conv.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=True)


@pytest.mark.parametrize("stride", [1, 2])
def test_same_bits_on_one_and_two_threads_and_with_recomputed_columns(stride, monkeypatch):
    # A layer large enough to be split into chunks: the chunks, not the thread count, fix the arithmetic.
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(stride)
    x = rng.standard_normal((64, 8, 24, 24)).astype(np.float32)   # columns: 11.5 MB (stride 1), 2.9 MB (stride 2)
    w = rng.standard_normal((12, 8, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)

    def run():
        out, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=1)
        return (out, *conv.conv2d_backward(np.cos(out), cache))

    with threadpool_limits(1, user_api="blas"):
        one = run()
    with threadpool_limits(2, user_api="blas"):
        two = run()
    monkeypatch.setattr(conv, "_KEEP_COLUMNS_BYTES", 0)               # large-layer path: columns recomputed
    again = run()
    for a, b2, c in zip(one, two, again, strict=True):
        np.testing.assert_array_equal(a, b2)
        np.testing.assert_array_equal(a, c)
    t_out, t_dx, t_dw, t_db = torch_conv(x, w, b, dict(stride=stride, padding=1), np.cos(one[0]))
    for ours, theirs in zip(one, (t_out, t_dx, t_dw, t_db), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)


def test_recomputed_columns_do_not_see_later_changes_to_x(monkeypatch):
    monkeypatch.setattr(conv, "_KEEP_COLUMNS_BYTES", 0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    out, cache = conv.conv2d_forward(x, w, padding=1)
    expected = conv.conv2d_backward(np.ones_like(out), conv.conv2d_forward(x.copy(), w, padding=1)[1])[1]
    x += 100.0                                                          # the caller reuses its array
    np.testing.assert_array_equal(conv.conv2d_backward(np.ones_like(out), cache)[1], expected)
