"""Property-based tests (Hypothesis): NumPy pooling and batch normalization against PyTorch.

Pooling: max and average pooling with random shapes, kernels (int or (h, w)), strides (including
``None``), paddings up to half the kernel, batch sizes from 1 and input dtypes uint8, int64, bool,
float16, float32, float64; many ties (max pooling sends each window's gradient to its first maximum,
as PyTorch's CPU kernel does), and NaN/inf inputs. Global average pooling likewise.

Batch norm: (N, D) and (N, C, H, W) inputs of every dtype, train and eval mode, running-statistics
updates, constant batches (zero variance) and tiny batches (one value per channel is a ValueError in
train mode, as in PyTorch, never a NaN). Integer and boolean inputs must give the floating-point result
that PyTorch computes on the float64-converted input; every returned array must be writeable.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from property_strategies import ALL_DTYPES, FLOAT_DTYPES, PROFILE, check_writeable, elements, int_or_pair

from helpers.numpy.batchnorm import batchnorm_backward, batchnorm_forward
from helpers.numpy.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool_backward,
    global_avg_pool_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

torch.set_num_threads(1)


# relative tolerance for a result computed in this dtype
RTOL = {np.dtype(np.float16): 4e-3, np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}





def assert_float_close(name, ours, ref, rtol=None):
    """``ours`` is floating point, has ``ref``'s shape and is within its dtype's tolerance (NaN == NaN)."""
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != torch {ref.shape}"
    assert np.issubdtype(ours.dtype, np.floating), f"{name}: dtype {ours.dtype} is not floating point"
    rtol = RTOL[ours.dtype] if rtol is None else rtol
    finite = np.isfinite(ref)
    scale = float(np.abs(ref[finite]).max(initial=0.0)) + 1.0
    np.testing.assert_allclose(ours.astype(np.float64), ref, rtol=rtol, atol=rtol * scale, equal_nan=True,
                               err_msg=f"{name} ({ours.dtype}) differs from torch")


# --------------------------------------------------------------------------- max and average pooling


@st.composite
def pool_case(draw, dtypes=ALL_DTYPES, specials=False):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kernel, (kh, kw) = draw(int_or_pair(1, 4))
    if draw(st.booleans()):
        stride, (sh, sw) = None, (kh, kw)
    else:
        stride, (sh, sw) = draw(int_or_pair(1, 3))
    if draw(st.booleans()):
        padding, (ph, pw) = draw(st.integers(0, min(kh, kw) // 2).map(lambda v: (v, (v, v))))
    else:
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
        padding = (ph, pw)
    h = draw(st.integers(max(1, kh - 2 * ph), kh + 6))
    w = draw(st.integers(max(1, kw - 2 * pw), kw + 6))
    dtype = draw(st.sampled_from(dtypes))
    if specials:
        values = st.sampled_from([-np.inf, np.inf, np.nan, 0.0, 1.0, -1.0])
    else:
        values = elements(dtype, ties=draw(st.booleans()))
    x = draw(hnp.arrays(np.dtype(dtype), (n, c, h, w), elements=values))
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    dout = draw(hnp.arrays(np.float64, (n, c, oh, ow), elements=st.floats(-2, 2, width=16)))
    return dict(x=x, kernel=kernel, stride=stride, padding=padding, dout=dout)


def torch_pool(fn, case, transform=lambda a: a):
    tx = torch.tensor(transform(case["x"].astype(np.float64)), requires_grad=True)
    out = fn(tx, kernel_size=case["kernel"], stride=case["stride"], padding=case["padding"])
    out.backward(torch.tensor(case["dout"]))
    return out.detach().numpy(), tx.grad.numpy()


def check_max_pool(case):
    x, dout = case["x"], case["dout"]
    out, cache = max_pool2d_forward(x, case["kernel"], case["stride"], case["padding"])
    dx = max_pool2d_backward(dout, cache)
    r_out, r_dx = torch_pool(F.max_pool2d, case)
    # a maximum is one of the inputs, so it is exact in any dtype; the gradient sums a few dout values
    assert_float_close("out", out, r_out, rtol=0)
    assert_float_close("dx", dx, r_dx, rtol=1e-12)
    check_writeable(out=out, dx=dx)


@PROFILE
@given(pool_case())
def test_max_pool_matches_torch_including_ties(case):
    check_max_pool(case)


@PROFILE
@given(pool_case(dtypes=FLOAT_DTYPES, specials=True))
def test_max_pool_matches_torch_with_nan_and_inf(case):
    check_max_pool(case)


@PROFILE
@given(pool_case())
def test_avg_pool_matches_torch(case):
    x, dout = case["x"], case["dout"]
    out, cache = avg_pool2d_forward(x, case["kernel"], case["stride"], case["padding"])
    dx = avg_pool2d_backward(dout, cache)
    r_out, r_dx = torch_pool(F.avg_pool2d, case)
    assert_float_close("out", out, r_out)
    assert_float_close("dx", dx, r_dx, rtol=1e-12)
    check_writeable(out=out, dx=dx)


@PROFILE
@given(st.data())
def test_global_avg_pool_matches_torch(data):
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)))
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    x = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype)))
    dout = data.draw(hnp.arrays(np.float64, shape[:2], elements=st.floats(-2, 2, width=16)))
    out, cache = global_avg_pool_forward(x)
    dx = global_avg_pool_backward(dout, cache)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    t_out = F.adaptive_avg_pool2d(tx, 1).flatten(1)
    t_out.backward(torch.tensor(dout))
    assert_float_close("out", out, t_out.detach().numpy())
    assert_float_close("dx", dx, tx.grad.numpy(), rtol=1e-12)
    check_writeable(out=out)
    check_writeable(dx=dx)


# --------------------------------------------------------------------------- batch normalization


@st.composite
def bn_case(draw, train=None, constant=None):
    dense = draw(st.booleans())
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    shape = (n, c) if dense else (n, c, draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    train = draw(st.booleans()) if train is None else train
    if train:  # train mode needs at least two values per channel (tested separately)
        assume(np.prod(shape) // c >= 2)
    dtype = draw(st.sampled_from(ALL_DTYPES))
    constant = draw(st.booleans()) if constant is None else constant
    if constant:  # every channel holds a single value: zero variance
        per_channel = draw(hnp.arrays(np.dtype(dtype), (c,), elements=elements(dtype)))
        x = np.broadcast_to(per_channel.reshape((1, c) + (1,) * (len(shape) - 2)), shape).copy()
    else:
        x = draw(hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype)))
    p_dtype = draw(st.sampled_from([np.float32, np.float64]))
    gamma = draw(hnp.arrays(p_dtype, (c,), elements=st.floats(-2, 2, width=16)))
    beta = draw(hnp.arrays(p_dtype, (c,), elements=st.floats(-2, 2, width=16)))
    r_dtype = draw(st.sampled_from([np.float32, np.float64]))
    running_mean = draw(hnp.arrays(r_dtype, (c,), elements=st.floats(-2, 2, width=16)))
    running_var = draw(hnp.arrays(r_dtype, (c,), elements=st.floats(0.25, 4, width=16)))
    momentum = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]) | st.floats(0, 1, width=16))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.5]))
    dout = draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, width=16)))
    return dict(x=x, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var,
                train=train, momentum=momentum, eps=eps, dout=dout)


def torch_bn(case):
    tx = torch.tensor(case["x"].astype(np.float64), requires_grad=True)
    tg = torch.tensor(case["gamma"].astype(np.float64), requires_grad=True)
    tb = torch.tensor(case["beta"].astype(np.float64), requires_grad=True)
    rm = torch.tensor(case["running_mean"].astype(np.float64))
    rv = torch.tensor(case["running_var"].astype(np.float64))
    out = F.batch_norm(tx, rm, rv, tg, tb, training=case["train"], momentum=case["momentum"], eps=case["eps"])
    out.backward(torch.tensor(case["dout"]))
    return out.detach().numpy(), tx.grad.numpy(), tg.grad.numpy(), tb.grad.numpy(), rm.numpy(), rv.numpy()


def check_bn(case):
    rm, rv = case["running_mean"].copy(), case["running_var"].copy()
    rm_id, rv_id = id(rm), id(rv)
    out, cache = batchnorm_forward(case["x"], case["gamma"], case["beta"], rm, rv, train=case["train"],
                                   momentum=case["momentum"], eps=case["eps"])
    dx, dgamma, dbeta = batchnorm_backward(case["dout"], cache)
    r_out, r_dx, r_dgamma, r_dbeta, r_rm, r_rv = torch_bn(case)
    x_hat_dtype = np.asarray(out).dtype
    rtol = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}.get(x_hat_dtype, 1e-2)
    for name, ours, ref in (("out", out, r_out), ("dx", dx, r_dx), ("dgamma", dgamma, r_dgamma),
                            ("dbeta", dbeta, r_dbeta)):
        assert np.isfinite(ours).all(), f"{name} has non-finite values: {ours}"
        assert_float_close(name, ours, ref, rtol=rtol)
    # running statistics: updated in place in train mode, untouched in eval mode, dtype kept
    assert id(rm) == rm_id and id(rv) == rv_id
    assert rm.dtype == case["running_mean"].dtype and rv.dtype == case["running_var"].dtype
    # the batch statistics are computed in the dtype of the output, then added to the running ones
    r_tol = max(RTOL[rm.dtype], RTOL[x_hat_dtype]) * 10
    np.testing.assert_allclose(rm, r_rm, rtol=r_tol, atol=r_tol * (1 + np.abs(r_rm).max()))
    np.testing.assert_allclose(rv, r_rv, rtol=r_tol, atol=r_tol * (1 + np.abs(r_rv).max()))
    check_writeable(out=out, dx=dx, dgamma=dgamma, dbeta=dbeta)


@PROFILE
@given(bn_case())
def test_batchnorm_matches_torch(case):
    """Train and eval mode, every input dtype: output, gradients and running statistics as torch."""
    check_bn(case)


@PROFILE
@given(bn_case(train=True, constant=True))
def test_batchnorm_constant_batch_matches_torch(case):
    """A channel holding one value has zero variance: out == beta, finite gradients, as torch."""
    check_bn(case)
    out = batchnorm_forward(case["x"], case["gamma"], case["beta"], None, None, train=True, eps=case["eps"])[0]
    channel_shape = (1, -1) + (1,) * (case["x"].ndim - 2)
    np.testing.assert_allclose(out, np.broadcast_to(case["beta"].reshape(channel_shape), out.shape), atol=1e-6)


@PROFILE
@given(st.data())
def test_batchnorm_one_value_per_channel_is_a_value_error_in_train_mode(data):
    """N*H*W == 1: torch raises ValueError in train mode; so must the library (no NaN, stats untouched)."""
    c = data.draw(st.integers(1, 3))
    shape = data.draw(st.sampled_from([(1, c), (1, c, 1, 1)]))
    dtype = data.draw(st.sampled_from(ALL_DTYPES))
    x = data.draw(hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype)))
    gamma, beta = np.ones(c), np.zeros(c)
    with pytest.raises(ValueError):
        F.batch_norm(torch.tensor(x.astype(np.float64)), None, None, training=True)
    rm, rv = np.zeros(c), np.ones(c)
    for running in ((rm, rv), (None, None)):
        with pytest.raises(ValueError, match="value"):
            batchnorm_forward(x, gamma, beta, *running, train=True)
    np.testing.assert_array_equal(rm, 0.0)
    np.testing.assert_array_equal(rv, 1.0)
    # eval mode uses the running statistics, so a single value is fine there
    out, cache = batchnorm_forward(x, gamma, beta, rm, rv, train=False)
    dx, dgamma, dbeta = batchnorm_backward(np.ones(shape), cache)
    expected = x.astype(np.float64) / np.sqrt(1 + 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    np.testing.assert_allclose(dx, np.full(shape, 1 / np.sqrt(1 + 1e-5)), rtol=1e-5)
    check_writeable(out=out, dx=dx, dgamma=dgamma, dbeta=dbeta)
