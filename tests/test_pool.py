"""Max, average and global pooling in NumPy against PyTorch: values, gradients, ties, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy import pool
from helpers.numpy.gradcheck import numerical_gradient, rel_error


def random_case(rng):
    """A random but valid pooling problem: shape and (kernel, stride, padding)."""
    n, c = (int(v) for v in rng.integers(1, 4, size=2))
    kernel = tuple(int(k) for k in rng.integers(1, 5, size=2))
    stride = None if rng.random() < 0.3 else tuple(int(s) for s in rng.integers(1, 4, size=2))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    h, w = (int(rng.integers(max(1, k - 2 * p), k + 9)) for k, p in zip(kernel, padding, strict=True))
    return (n, c, h, w), dict(kernel=kernel, stride=stride, padding=padding)


def torch_pool(fn, x, params, dout):
    """PyTorch's output and input gradient for ``fn`` (F.max_pool2d or F.avg_pool2d)."""
    tx = torch.tensor(x, requires_grad=True)
    kwargs = dict(kernel_size=params["kernel"], stride=params["stride"], padding=params["padding"])
    out = fn(tx, **kwargs)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), tx.grad.numpy()


OURS = {
    "max": (pool.max_pool2d_forward, pool.max_pool2d_backward, F.max_pool2d),
    "avg": (pool.avg_pool2d_forward, pool.avg_pool2d_backward, F.avg_pool2d),
}


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-5), (np.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(25))
def test_forward_and_backward_match_pytorch(seed, dtype, tol, kind):
    forward, backward, torch_fn = OURS[kind]
    rng = np.random.default_rng(seed)
    shape, params = random_case(rng)
    x = rng.standard_normal(shape).astype(dtype)
    out, cache = forward(x, **params)
    assert out.dtype == dtype
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = backward(dout, cache)
    assert dx.dtype == dtype and dx.shape == x.shape
    t_out, t_dx = torch_pool(torch_fn, x, params, dout)
    assert out.shape == t_out.shape
    np.testing.assert_allclose(out, t_out, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, t_dx, rtol=tol, atol=tol)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(4))
def test_gradients_pass_numerical_check(seed, kind):
    forward, backward, _ = OURS[kind]
    rng = np.random.default_rng(200 + seed)
    shape, params = random_case(rng)
    x = rng.standard_normal(shape)  # distinct values: no ties, so max pooling is differentiable here
    out, cache = forward(x, **params)
    dout = rng.standard_normal(out.shape)
    dx = backward(dout, cache)
    num = numerical_gradient(lambda v: forward(v, **params)[0], x, dout)
    assert rel_error(dx, num) < 1e-7


def test_global_avg_pool_matches_pytorch_and_numerical_gradient():
    rng = np.random.default_rng(3)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 1e-5)):
        x = rng.standard_normal((3, 4, 5, 7)).astype(dtype)
        out, cache = pool.global_avg_pool_forward(x)
        assert out.shape == (3, 4) and out.dtype == dtype
        dout = rng.standard_normal(out.shape).astype(dtype)
        dx = pool.global_avg_pool_backward(dout, cache)
        tx = torch.tensor(x, requires_grad=True)
        t_out = F.adaptive_avg_pool2d(tx, 1).flatten(1)
        t_out.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol)
    x = rng.standard_normal((2, 3, 4, 4))
    dout = rng.standard_normal((2, 3))
    dx = pool.global_avg_pool_backward(dout, pool.global_avg_pool_forward(x)[1])
    num = numerical_gradient(lambda v: pool.global_avg_pool_forward(v)[0], x, dout)
    assert rel_error(dx, num) < 1e-7


# ----------------------------------------------------------------------------- the tie rule


def test_tie_rule_first_maximum_in_row_major_order():
    # One 2x3 window holding its maximum 5 three times: the gradient goes to the first one, (0, 1).
    x = np.array([[0.0, 5.0, 1.0], [5.0, 2.0, 5.0]])[None, None]
    out, cache = pool.max_pool2d_forward(x, (2, 3))
    dx = pool.max_pool2d_backward(np.full(out.shape, 7.0), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 7, 0], [0, 0, 0]])
    np.testing.assert_array_equal(dx, torch_pool(F.max_pool2d, x, dict(kernel=(2, 3), stride=None, padding=0),
                                                 np.full(out.shape, 7.0))[1])


@pytest.mark.parametrize(
    "shape,params",
    [
        ((2, 3, 8, 8), dict(kernel=2, stride=None, padding=0)),
        ((2, 3, 7, 9), dict(kernel=3, stride=2, padding=1)),
        ((1, 2, 6, 6), dict(kernel=3, stride=1, padding=0)),
        ((1, 2, 6, 5), dict(kernel=(2, 3), stride=1, padding=(1, 1))),
        ((1, 1, 5, 5), dict(kernel=4, stride=1, padding=2)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tie_rule_matches_pytorch_on_constant_input(shape, params, dtype):
    # Every value ties: each window must send its gradient to its first real pixel, as PyTorch does.
    x = np.full(shape, 1.5, dtype=dtype)
    rng = np.random.default_rng(0)
    out, cache = pool.max_pool2d_forward(x, **params)
    dout = rng.standard_normal(out.shape).astype(dtype)
    t_out, t_dx = torch_pool(F.max_pool2d, x, params, dout)
    np.testing.assert_array_equal(out, t_out)
    np.testing.assert_allclose(pool.max_pool2d_backward(dout, cache), t_dx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", range(10))
def test_tie_rule_matches_pytorch_with_repeated_maxima(seed):
    # Inputs drawn from {0, 1, 2}: most windows hold their maximum several times.
    rng = np.random.default_rng(300 + seed)
    shape, params = random_case(rng)
    x = rng.integers(0, 3, size=shape).astype(np.float64)
    out, cache = pool.max_pool2d_forward(x, **params)
    dout = rng.standard_normal(out.shape)
    t_out, t_dx = torch_pool(F.max_pool2d, x, params, dout)
    np.testing.assert_array_equal(out, t_out)
    np.testing.assert_allclose(pool.max_pool2d_backward(dout, cache), t_dx, rtol=1e-12, atol=1e-12)


def test_overlapping_windows_accumulate_gradients():
    # The 9 at the center wins all four 2x2 windows of stride 1, so it collects all four gradients.
    x = np.array([[1.0, 2.0, 3.0], [4.0, 9.0, 5.0], [6.0, 7.0, 8.0]])[None, None]
    out, cache = pool.max_pool2d_forward(x, 2, stride=1)
    np.testing.assert_array_equal(out[0, 0], [[9, 9], [9, 9]])
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    dx = pool.max_pool2d_backward(dout, cache)
    np.testing.assert_array_equal(dx[0, 0], [[0, 0, 0], [0, 10, 0], [0, 0, 0]])
    # Average pooling: each pixel collects a quarter of the gradient of every window it is in.
    dx_avg = pool.avg_pool2d_backward(dout, pool.avg_pool2d_forward(x, 2, stride=1)[1])
    np.testing.assert_allclose(dx_avg[0, 0], [[0.25, 0.75, 0.5], [1.0, 2.5, 1.5], [0.75, 1.75, 1.0]])


def test_nan_wins_like_pytorch():
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, 4.0, 1.0], [np.nan, 0, 0, 0], [0, 0, 0, np.nan]])[None, None]
    params = dict(kernel=2, stride=1, padding=0)
    out, cache = pool.max_pool2d_forward(x, **params)
    dout = np.ones(out.shape)
    t_out, t_dx = torch_pool(F.max_pool2d, x, params, dout)
    np.testing.assert_array_equal(out, t_out)  # NaNs in the same places
    np.testing.assert_array_equal(pool.max_pool2d_backward(dout, cache), t_dx)


# ----------------------------------------------------------------------------- the seeds' examples and sizes


def test_seed_4x4_to_2x2_examples():
    # The 4x4 feature map of the seed article (its max_pool example, expected [[6, 8], [3, 4]]).
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])[None, None]
    np.testing.assert_array_equal(pool.max_pool2d(x, 2)[0, 0], [[6, 8], [3, 4]])
    np.testing.assert_allclose(pool.avg_pool2d(x, 2)[0, 0], [[3.25, 5.25], [2.0, 2.0]])
    assert pool.max_pool2d(x, 2).dtype == np.float64  # integer input is pooled as float64
    np.testing.assert_allclose(pool.global_avg_pool_forward(x)[0], [[50 / 16]])


def test_avg_pool_counts_zero_padding():
    x = np.ones((1, 1, 2, 2))
    out = pool.avg_pool2d(x, 2, stride=1, padding=1)
    np.testing.assert_allclose(out[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(out, F.avg_pool2d(torch.tensor(x), 2, 1, 1).numpy())


def test_max_pool_pads_with_minus_infinity():
    x = -np.ones((1, 1, 2, 2))  # with zero padding the border windows would return 0
    np.testing.assert_array_equal(pool.max_pool2d(x, 2, stride=1, padding=1), -np.ones((1, 1, 3, 3)))


@pytest.mark.parametrize(
    "size,kernel,stride,padding,expected",
    [(4, 2, None, 0, 2), (28, 2, 2, 0, 14), (7, 2, None, 0, 3), (7, 3, 2, 1, 4), (112, 3, 2, 1, 56), (5, 5, 1, 2, 5)],
)
def test_output_size_formula(size, kernel, stride, padding, expected):
    assert pool.pool_output_size(size, kernel, stride, padding) == expected
    x = torch.zeros(1, 1, size, size)
    assert F.max_pool2d(x, kernel, stride, padding).shape[-1] == expected


def test_odd_sizes_drop_the_last_row_and_column():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out, cache = pool.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[6, 8], [16, 18]])
    dx = pool.max_pool2d_backward(np.ones(out.shape), cache)
    assert dx[0, 0, 4].sum() == 0 and dx[0, 0, :, 4].sum() == 0 and dx.sum() == 4


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "shape,kwargs,message",
    [
        ((3, 8, 8), dict(kernel=2), "batch axis"),
        ((8, 8), dict(kernel=2), r"\(N, C, H, W\)"),
        ((1, 1, 3, 3), dict(kernel=5), "padded input"),
        ((1, 1, 3, 3), dict(kernel=(2, 4)), "kernel spans 4"),
        ((1, 1, 8, 8), dict(kernel=2, stride=0), "stride must be >= 1"),
        ((1, 1, 8, 8), dict(kernel=2, stride=-1), "stride must be >= 1"),
        ((1, 1, 8, 8), dict(kernel=0), "kernel must be >= 1"),
        ((1, 1, 8, 8), dict(kernel=2.0), "kernel must be an int"),
        ((1, 1, 8, 8), dict(kernel=2, padding=-1), "padding must be >= 0"),
        ((1, 1, 8, 8), dict(kernel=3, padding=2), "at most half the kernel"),
        ((1, 1, 8, 8), dict(kernel=(2, 4), padding=(1, 3)), "at most half the kernel"),
        ((0, 1, 8, 8), dict(kernel=2), "empty"),
    ],
)
@pytest.mark.parametrize("forward", [pool.max_pool2d_forward, pool.avg_pool2d_forward])
def test_bad_input_raises_clear_value_error(forward, shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        forward(np.zeros(shape), **kwargs)


def test_bad_dout_and_global_pool_errors():
    for forward, backward in (OURS["max"][:2], OURS["avg"][:2]):
        _, cache = forward(np.zeros((2, 3, 4, 4)), 2)
        with pytest.raises(ValueError, match=r"forward output's shape \(2, 3, 2, 2\)"):
            backward(np.zeros((2, 3, 4, 4)), cache)
    with pytest.raises(ValueError, match="batch axis"):
        pool.global_avg_pool_forward(np.zeros((3, 4, 4)))
    _, cache = pool.global_avg_pool_forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"forward output's shape \(2, 3\)"):
        pool.global_avg_pool_backward(np.zeros((2, 3, 1, 1)), cache)


@pytest.mark.parametrize("kernel,stride,padding", [(2, 1, 1), (3, 2, 1), (3, 1, 1)])
def test_windows_of_minus_infinity_send_their_gradient_to_the_first_real_pixel(kernel, stride, padding):
    x = np.array([[-np.inf, np.nan, 1.0, -np.inf], [-np.inf] * 4, [2.0, np.nan, -np.inf, -np.inf]])[None, None]
    for value in (x, np.full_like(x, -np.inf)):
        params = dict(kernel=kernel, stride=stride, padding=padding)
        out, cache = pool.max_pool2d_forward(value, **params)
        dout = np.random.default_rng(kernel).standard_normal(out.shape)
        t_out, t_dx = torch_pool(F.max_pool2d, value, params, dout)
        np.testing.assert_array_equal(out, t_out)
        np.testing.assert_allclose(pool.max_pool2d_backward(dout, cache), t_dx, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- regressions


def test_global_avg_pool_backward_on_1x1_maps_is_writeable():
    # np.broadcast_to returned a read-only view that ascontiguousarray passed through for 1x1 maps
    _, cache = pool.global_avg_pool_forward(np.ones((2, 3, 1, 1)))
    dx = pool.global_avg_pool_backward(np.ones((2, 3)), cache)
    assert dx.flags.writeable and dx.shape == (2, 3, 1, 1)
    dx += 1  # must not raise
    np.testing.assert_array_equal(dx, 2.0)


@pytest.mark.parametrize("kind", ["max", "avg", "global"])
@pytest.mark.parametrize("hw", [(1, 1), (4, 4)])
def test_every_pool_backward_returns_a_new_writeable_array(kind, hw):
    x = np.random.default_rng(0).standard_normal((2, 3, *hw))
    k = 1 if hw == (1, 1) else 2
    if kind == "global":
        out, cache = pool.global_avg_pool_forward(x)
        backward = pool.global_avg_pool_backward
    else:
        out, cache = getattr(pool, f"{kind}_pool2d_forward")(x, k)
        backward = getattr(pool, f"{kind}_pool2d_backward")
    dout = np.broadcast_to(np.float64(1.0), out.shape)  # a read-only dout
    dx = backward(dout, cache)
    assert out.flags.writeable and dx.flags.writeable and not np.shares_memory(dx, dout)


def test_integer_and_float16_inputs_follow_the_engine_dtype_rule():
    x = np.arange(32, dtype=np.int64).reshape(1, 2, 4, 4)
    for fn in (pool.max_pool2d, pool.avg_pool2d):
        out = fn(x, 2)
        ref = getattr(F, fn.__name__)(torch.from_numpy(x).double(), 2)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, ref.numpy())
    out, cache = pool.avg_pool2d_forward(x.astype(np.float16), 2)
    assert out.dtype == np.float32
    assert pool.avg_pool2d_backward(np.ones(out.shape, np.int32), cache).dtype == np.float64
    assert pool.global_avg_pool_forward(x.astype(np.float16))[0].dtype == np.float32


def test_pool_args_accepts_ints_and_pairs_like_torch():
    assert pool.pool_args(2) == ((2, 2), (2, 2), (0, 0))
    assert pool.pool_args((3, 2), stride=[1, 2], padding=(1, 0)) == ((3, 2), (1, 2), (1, 0))
    with pytest.raises(ValueError, match="padding must be at most half"):
        pool.pool_args(2, padding=(0, 2))
    with pytest.raises(ValueError, match="kernel must be an int or a pair"):
        pool.pool_args(2.0)
