"""Property-based tests (Hypothesis): NumPy convolution and transposed convolution against PyTorch.

Random shapes, kernels (int or (h, w)), strides, paddings, dilations, output paddings, batch sizes
from 1, with and without bias, and input dtypes uint8, int64, bool, float16, float32, float64.
Integer and boolean inputs must give the floating-point result that PyTorch computes on the
float64-converted input. Forward outputs and all gradients are compared against torch autograd,
and every returned array must be writeable.

Tolerances: the error allowed for a value is ``c * eps(result dtype) * bound`` where ``bound`` is
the same computation run on absolute values (a bound on the sum of absolute terms) and ``c`` is
the number of terms that are summed, the worst-case growth of rounding errors in a sum.
"""

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from property_strategies import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, PROFILE, check_writeable, elements, int_or_pair

from helpers.numpy.conv import conv2d_backward, conv2d_forward
from helpers.numpy.transposed_conv import conv_transpose2d_backward, conv_transpose2d_forward

torch.set_num_threads(1)





def array(dtype, shape):
    return hnp.arrays(np.dtype(dtype), shape, elements=elements(dtype))




def assert_close(name, ours, ref, bound, terms):
    """``|ours - ref| <= terms * eps * bound`` elementwise, with eps of ``ours``'s dtype (plus a tiny floor)."""
    assert ours is not None, f"{name} is None"
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != torch {ref.shape}"
    assert np.issubdtype(ours.dtype, np.floating), f"{name}: dtype {ours.dtype} is not floating point"
    eps = float(np.finfo(ours.dtype).eps)
    tol = (terms + 2) * eps * bound + 1e-12
    err = np.abs(ours.astype(np.float64) - ref)
    bad = err > tol
    assert not bad.any(), (
        f"{name} ({ours.dtype}): max error {err.max():.3g} at {np.unravel_index(err.argmax(), err.shape)}, "
        f"{bad.sum()} of {err.size} values out of tolerance; ours={ours.ravel()[:8]}, torch={ref.ravel()[:8]}"
    )


def torch_run(fn, x, w, b, dout, **kw):
    """Output and gradients of ``fn`` on float64 copies; and the same on absolute values (error bounds)."""
    results = []
    for transform in (lambda a: a, np.abs):
        tx = torch.tensor(transform(x.astype(np.float64)), requires_grad=True)
        tw = torch.tensor(transform(w.astype(np.float64)), requires_grad=True)
        tb = None if b is None else torch.tensor(transform(b.astype(np.float64)), requires_grad=True)
        out = fn(tx, tw, tb, **kw)
        out.backward(torch.tensor(transform(dout)))
        results.append((out.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(),
                        None if tb is None else tb.grad.numpy()))
    return results


# --------------------------------------------------------------------------- convolution


@st.composite
def conv_case(draw, x_dtypes=ALL_DTYPES, w_dtypes=FLOAT_DTYPES, b_dtypes=FLOAT_DTYPES):
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel, (kh, kw) = draw(int_or_pair(1, 3))
    stride, (sh, sw) = draw(int_or_pair(1, 3))
    padding, (ph, pw) = draw(int_or_pair(0, 2))
    dilation, (dh, dw) = draw(int_or_pair(1, 2))
    hw = []
    for k, p, d in ((kh, ph, dh), (kw, pw, dw)):
        lowest = max(1, d * (k - 1) + 1 - 2 * p)
        hw.append(draw(st.integers(lowest, lowest + 6)))
    x_dtype, w_dtype = draw(st.sampled_from(x_dtypes)), draw(st.sampled_from(w_dtypes))
    x = draw(array(x_dtype, (n, c, *hw)))
    w = draw(array(w_dtype, (f, c, kh, kw)))
    b = draw(st.none() | array(draw(st.sampled_from(b_dtypes)), (f,)))
    oh = (hw[0] + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (hw[1] + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    dout = draw(hnp.arrays(np.float64, (n, f, oh, ow), elements=st.floats(-2, 2, width=16)))
    return dict(x=x, w=w, b=b, stride=stride, padding=padding, dilation=dilation, dout=dout)


def check_conv(case):
    x, w, b, dout = case["x"], case["w"], case["b"], case["dout"]
    geo = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    out, cache = conv2d_forward(x, w, b, **geo)
    dx, dw, db = conv2d_backward(dout, cache)
    (r_out, r_dx, r_dw, r_db), (b_out, b_dx, b_dw, b_db) = torch_run(F.conv2d, x, w, b, dout, **geo)
    n, f, oh, ow = r_out.shape
    c, kh, kw = w.shape[1:]
    assert_close("out", out, r_out, b_out, c * kh * kw + 1)
    assert_close("dx", dx, r_dx, b_dx, f * kh * kw)
    assert_close("dw", dw, r_dw, b_dw, n * oh * ow)
    if b is None:
        assert db is None
    else:
        assert_close("db", db, r_db, b_db, n * oh * ow)
    check_writeable(out=out, dx=dx, dw=dw, db=db)


@PROFILE
@given(conv_case())
def test_conv2d_matches_torch_any_input_dtype_float_weights(case):
    """x of every dtype, float weights and bias: forward and gradients as torch on float64."""
    check_conv(case)


@PROFILE
@given(conv_case(x_dtypes=INT_DTYPES, w_dtypes=INT_DTYPES, b_dtypes=INT_DTYPES + FLOAT_DTYPES))
def test_conv2d_integer_and_bool_arrays_give_float_results(case):
    """Integer/bool x AND w (and bias): a float result and float gradients, no wrap-around, no zeros."""
    check_conv(case)


@PROFILE
@given(conv_case(x_dtypes=FLOAT_DTYPES))
def test_conv2d_gradient_is_adjoint_of_forward(case):
    """<conv(x, w), dout> == <x, dx> == <w, dw> (bias-free): the backward pass is the forward's adjoint."""
    x, w, dout = case["x"].astype(np.float64), case["w"].astype(np.float64), case["dout"]
    geo = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    out, cache = conv2d_forward(x, w, None, **geo)
    dx, dw, db = conv2d_backward(dout, cache)
    assert db is None
    total = float((out * dout).sum())
    scale = float((np.abs(out) * np.abs(dout)).sum()) + 1.0
    assert abs(total - float((x * dx).sum())) <= 1e-10 * scale
    assert abs(total - float((w * dw).sum())) <= 1e-10 * scale


# --------------------------------------------------------------------------- transposed convolution


@st.composite
def conv_transpose_case(draw, x_dtypes=ALL_DTYPES, w_dtypes=FLOAT_DTYPES, b_dtypes=FLOAT_DTYPES):
    n, cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kernel, (kh, kw) = draw(int_or_pair(1, 3))
    stride, (sh, sw) = draw(int_or_pair(1, 3))
    padding, (ph, pw) = draw(int_or_pair(0, 2))
    dilation, (dh, dw) = draw(int_or_pair(1, 2))
    if draw(st.booleans()):
        output_padding, (oph, opw) = 0, (0, 0)
    else:
        oph, opw = draw(st.integers(0, sh - 1)), draw(st.integers(0, sw - 1))
        output_padding = (oph, opw)
    hw, out_hw = [], []
    for s, k, p, d, op in ((sh, kh, ph, dh, oph), (sw, kw, pw, dw, opw)):
        # smallest input size whose output is at least one pixel
        lowest = 1
        while (lowest - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
            lowest += 1
        size = draw(st.integers(lowest, lowest + 4))
        hw.append(size)
        out_hw.append((size - 1) * s - 2 * p + d * (k - 1) + op + 1)
    x_dtype, w_dtype = draw(st.sampled_from(x_dtypes)), draw(st.sampled_from(w_dtypes))
    x = draw(array(x_dtype, (n, cin, *hw)))
    w = draw(array(w_dtype, (cin, cout, kh, kw)))
    b = draw(st.none() | array(draw(st.sampled_from(b_dtypes)), (cout,)))
    dout = draw(hnp.arrays(np.float64, (n, cout, *out_hw), elements=st.floats(-2, 2, width=16)))
    return dict(x=x, w=w, b=b, stride=stride, padding=padding, output_padding=output_padding,
                dilation=dilation, dout=dout)


def check_conv_transpose(case):
    x, w, b, dout = case["x"], case["w"], case["b"], case["dout"]
    geo = dict(stride=case["stride"], padding=case["padding"], output_padding=case["output_padding"],
               dilation=case["dilation"])
    out, cache = conv_transpose2d_forward(x, w, b, **geo)
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    (r_out, r_dx, r_dw, r_db), (b_out, b_dx, b_dw, b_db) = torch_run(F.conv_transpose2d, x, w, b, dout, **geo)
    n, cin, h, wd = x.shape
    cout, kh, kw = w.shape[1:]
    assert_close("out", out, r_out, b_out, cin * kh * kw + 1)
    assert_close("dx", dx, r_dx, b_dx, cout * kh * kw)
    assert_close("dw", dw, r_dw, b_dw, n * h * wd)
    if b is None:
        assert db is None
    else:
        assert_close("db", db, r_db, b_db, dout[:, 0].size)
    check_writeable(out=out, dx=dx, dw=dw, db=db)


@PROFILE
@given(conv_transpose_case())
def test_conv_transpose2d_matches_torch_any_input_dtype_float_weights(case):
    """x of every dtype, float weights and bias: forward and gradients as torch on float64."""
    check_conv_transpose(case)


@PROFILE
@given(conv_transpose_case(x_dtypes=INT_DTYPES, w_dtypes=INT_DTYPES, b_dtypes=INT_DTYPES + FLOAT_DTYPES))
def test_conv_transpose2d_integer_and_bool_arrays_give_float_results(case):
    """Integer/bool x AND w (and bias): a float result and float gradients, no wrap-around, no zeros."""
    check_conv_transpose(case)


@PROFILE
@given(conv_transpose_case(x_dtypes=[np.float64], w_dtypes=[np.float64]))
def test_conv_transpose2d_is_adjoint_of_conv2d(case):
    """conv_transpose2d(z, w) is the input-gradient of conv2d: <conv(y, w), z> == <y, conv_transpose(z, w)>."""
    z, w, dout = case["x"], case["w"], case["dout"]
    geo = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    up = conv_transpose2d_forward(z, w, None, output_padding=case["output_padding"], **geo)[0]
    y = dout  # any array of the transposed conv's output shape
    down = conv2d_forward(y, w, None, **geo)[0]
    assert down.shape == z.shape
    lhs, rhs = float((down * z).sum()), float((y * up).sum())
    scale = float((np.abs(down) * np.abs(z)).sum()) + 1.0
    assert abs(lhs - rhs) <= 1e-10 * scale
