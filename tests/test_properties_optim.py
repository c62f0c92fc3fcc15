"""Property-based tests (Hypothesis): NumPy SGD, Adam and AdamW against torch.optim, step for step.

Random hyperparameters, parameter lists holding 0-d, 1-d and 2-d arrays (float32 and float64), given as
plain arrays or as ``(name, array)`` pairs, several steps with random gradients. The arrays must be
updated in place (the caller's arrays change, their identity and dtype are kept) and agree with the
same torch optimizer run on copies. NaN hyperparameters must raise ValueError.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from property_strategies import PROFILE

from helpers.numpy import optim

torch.set_num_threads(1)


SHAPES = st.sampled_from([(), (1,), (3,), (2, 3)])
VALUES = st.floats(-2, 2, width=16)


@st.composite
def problem(draw):
    """Parameters (at least one 0-d array among them half of the time), per-step gradients, naming."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shapes = draw(st.lists(SHAPES, min_size=1, max_size=3))
    if draw(st.booleans()):
        shapes.append(())
    params = [draw(hnp.arrays(dtype, s, elements=VALUES)) for s in shapes]
    steps = draw(st.integers(1, 5))
    grads = [[draw(hnp.arrays(dtype, s, elements=VALUES)) for s in shapes] for _ in range(steps)]
    named = draw(st.booleans())
    return params, grads, named


def run_both(ours_cls, torch_cls, kwargs, params, grads, named):
    """Run both optimizers from the same start; return our arrays and torch's as NumPy."""
    t_params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours_params = [p.copy() for p in params]
    ids = [id(p) for p in ours_params]
    wrap = (lambda arrays: [(f"p{k}", a) for k, a in enumerate(arrays)]) if named else (lambda arrays: arrays)
    ours = ours_cls(wrap(ours_params), **kwargs)
    theirs = torch_cls(t_params, **kwargs)
    for step_grads in grads:
        ours.step(wrap([g.copy() for g in step_grads]))
        for t, g in zip(t_params, step_grads, strict=True):
            t.grad = torch.tensor(g.copy())
        theirs.step()
    assert [id(p) for p in ours_params] == ids
    for p, start in zip(ours_params, params, strict=True):
        assert p.dtype == start.dtype and p.shape == start.shape
        assert p.flags.writeable
    return ours_params, [t.detach().numpy() for t in t_params]


def assert_params_close(ours, theirs, context):
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        rtol = 1e-5 if a.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol,
                                   err_msg=f"parameter {k} (shape {a.shape}, {a.dtype}) differs; {context}")


@PROFILE
@given(problem(), st.floats(0, 0.5, width=16), st.sampled_from([0.0, 0.5, 0.9]) | st.floats(0, 0.9375, width=16),
       st.sampled_from([0.0, 0.01, 0.1]) | st.floats(0, 0.5, width=16))
def test_sgd_matches_torch(prob, lr, momentum, weight_decay):
    params, grads, named = prob
    kwargs = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
    ours, theirs = run_both(optim.SGD, torch.optim.SGD, kwargs, params, grads, named)
    assert_params_close(ours, theirs, kwargs)


@PROFILE
@given(problem(), st.sampled_from([1e-3, 0.01, 0.1]) | st.floats(0, 0.5, width=16),
       st.tuples(st.sampled_from([0.0, 0.5, 0.9]), st.sampled_from([0.0, 0.9, 0.999])),
       st.sampled_from([1e-8, 1e-6, 0.1]), st.sampled_from([0.0, 0.01, 0.1]) | st.floats(0, 0.5, width=16),
       st.sampled_from([optim.Adam, optim.AdamW]))
def test_adam_and_adamw_match_torch(prob, lr, betas, eps, weight_decay, ours_cls):
    params, grads, named = prob
    torch_cls = torch.optim.Adam if ours_cls is optim.Adam else torch.optim.AdamW
    kwargs = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    ours, theirs = run_both(ours_cls, torch_cls, kwargs, params, grads, named)
    assert_params_close(ours, theirs, f"{ours_cls.__name__} {kwargs}")


@PROFILE
@given(st.sampled_from([optim.SGD, optim.Adam, optim.AdamW]),
       st.sampled_from(["lr", "eps", "weight_decay", "momentum", "beta1", "beta2"]),
       st.sampled_from([math.nan, -math.nan, np.float32("nan"), np.float64("nan")]),
       st.sampled_from([(), (3,)]))
def test_nan_hyperparameters_raise_value_error(cls, name, nan, shape):
    if (name == "momentum" and cls is not optim.SGD) or (name == "eps" and cls is optim.SGD):
        name = "lr"
    if name.startswith("beta"):
        if cls is optim.SGD:
            name = "weight_decay"
        else:
            betas = [0.9, 0.999]
            betas[int(name[-1]) - 1] = nan
            name, nan = "betas", tuple(betas)
    kwargs = {"lr": 0.01, name: nan}
    with pytest.raises(ValueError):
        cls([np.zeros(shape)], **kwargs)
