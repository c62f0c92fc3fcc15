"""NumPy optimizers against torch.optim, step for step on the same arrays and gradients."""

import numpy as np
import pytest
import torch

from helpers.numpy import optim

SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]

CASES = [
    (optim.SGD, torch.optim.SGD, dict(lr=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, weight_decay=0.01)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.8, weight_decay=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.5, weight_decay=0.1, nesterov=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict()),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.003, alpha=0.9, eps=1e-6, weight_decay=0.05)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.003, momentum=0.9)),
    (optim.Adam, torch.optim.Adam, dict()),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.05)),
    (optim.AdamW, torch.optim.AdamW, dict()),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.02, weight_decay=0.1)),
]


def run_both(ours_cls, torch_cls, kwargs, dtype, steps=6, seed=0, lr_change=None):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    t_params = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    ours = ours_cls(params, **kwargs)
    theirs = torch_cls(t_params, **kwargs)
    for step in range(steps):
        if lr_change is not None and step == steps // 2:
            ours.lr = lr_change
            for group in theirs.param_groups:
                group["lr"] = lr_change
        grads = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
        ours.step(grads)
        for t, g in zip(t_params, grads, strict=True):
            t.grad = torch.tensor(g)
        theirs.step()
    return params, [t.detach().numpy() for t in t_params]


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_matches_torch_optim_over_several_steps(ours_cls, torch_cls, kwargs):
    params, t_params = run_both(ours_cls, torch_cls, kwargs, np.float64)
    for p, t in zip(params, t_params, strict=True):
        np.testing.assert_allclose(p, t, rtol=1e-6, atol=1e-6)
    params, t_params = run_both(ours_cls, torch_cls, kwargs, np.float32)
    for p, t in zip(params, t_params, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p, t, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", [CASES[1], CASES[4]], ids=["SGD-momentum", "Adam"])
def test_learning_rate_can_change_between_steps(ours_cls, torch_cls, kwargs):
    params, t_params = run_both(ours_cls, torch_cls, kwargs, np.float64, lr_change=0.003)
    for p, t in zip(params, t_params, strict=True):
        np.testing.assert_allclose(p, t, rtol=1e-6, atol=1e-6)


def test_updates_in_place_and_accepts_sequential_style_tuples():
    w, b = np.ones((2, 2)), np.zeros(2)
    ids = (id(w), id(b))
    opt = optim.SGD([(0, "w", w), (0, "b", b)], lr=0.5)
    opt.step([(0, "w", np.ones((2, 2))), (0, "b", np.ones(2))])
    np.testing.assert_array_equal(w, 0.5 * np.ones((2, 2)))
    np.testing.assert_array_equal(b, -0.5 * np.ones(2))
    assert (id(w), id(b)) == ids and opt.steps == 1
    with pytest.raises(ValueError, match="orders differ"):
        opt.step([(0, "b", np.ones(2)), (0, "w", np.ones((2, 2)))])


def test_adam_first_step_moves_every_weight_by_about_lr():
    # With bias correction the first Adam step is lr * g / (|g| + eps): about lr whatever the gradient's scale.
    p = np.zeros(4)
    optim.Adam([p], lr=0.01).step([np.array([1e-3, -5.0, 200.0, -0.1])])
    np.testing.assert_allclose(p, [-0.01, 0.01, -0.01, 0.01], rtol=1e-4)


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: optim.SGD([], lr=0.1), "empty"),
        (lambda: optim.SGD([[1.0, 2.0]], lr=0.1), "NumPy arrays"),
        (lambda: optim.SGD([np.zeros(3, dtype=int)], lr=0.1), "floating-point"),
        (lambda: optim.SGD([np.zeros(3)], lr=-1), r"lr must be a finite number in \[0"),
        (lambda: optim.SGD([np.zeros(3)], lr=0.1, momentum=-0.5), "momentum must be"),
        (lambda: optim.Adam([np.zeros(3)], betas=(0.9, 1.0)), r"betas\[1\] must be a finite number in \[0, 1\)"),
        (lambda: optim.Adam([np.zeros(3)], betas=0.9), "betas must be a pair"),
        (lambda: optim.Adam([np.zeros(3)]).step([np.zeros(3), np.zeros(3)]), "2 gradients for 1 parameters"),
        (lambda: optim.Adam([np.zeros(3)]).step([np.zeros(4)]), r"shape \(4,\) but its parameter has shape \(3,\)"),
        (lambda: optim.SGD([np.zeros(3)], lr=0.1, nesterov=True), "nesterov=True needs a momentum"),
        (lambda: optim.SGD([np.zeros(3)], lr=0.1, momentum=0.9, nesterov=1), "nesterov must be True or False"),
        (lambda: optim.RMSprop([np.zeros(3)], alpha=1.0), r"alpha must be a finite number in \[0, 1\)"),
        (lambda: optim.RMSprop([np.zeros(3)], eps=0.0), "eps must be"),
    ],
)
def test_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_read_only_params_are_refused():
    p = np.zeros(3)
    p.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        optim.SGD([p], lr=0.1)


# --------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("ours_cls,torch_cls,kwargs", [
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.Adam, torch.optim.Adam, dict(lr=0.05, weight_decay=0.01)),
    (optim.AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
    (optim.SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.RMSprop, torch.optim.RMSprop, dict(lr=0.05, momentum=0.5, weight_decay=0.01)),
], ids=["SGD-momentum-wd", "SGD-momentum", "Adam-wd", "AdamW", "Nesterov", "RMSprop-momentum"])
def test_0d_parameters_match_torch_over_several_steps(ours_cls, torch_cls, kwargs):
    # for a 0-d parameter SGD's momentum buffer was a NumPy scalar and stopped updating from step 3 on
    rng = np.random.default_rng(0)
    p, q = np.array(1.5), np.zeros((2,))
    t_p, t_q = torch.tensor(1.5, dtype=torch.float64, requires_grad=True), torch.zeros(2, dtype=torch.float64,
                                                                                    requires_grad=True)
    ours, theirs = ours_cls([p, q], **kwargs), torch_cls([t_p, t_q], **kwargs)
    for _ in range(5):
        g, h = np.array(rng.standard_normal()), rng.standard_normal(2)
        ours.step([g, h])
        t_p.grad, t_q.grad = torch.tensor(g), torch.tensor(h)
        theirs.step()
        assert p.shape == () and isinstance(p, np.ndarray)
        np.testing.assert_allclose(p, t_p.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(q, t_q.detach().numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("make,message", [
    (lambda p: optim.Adam(p, lr=float("nan")), "lr"),
    (lambda p: optim.AdamW(p, lr=float("inf")), "lr"),
    (lambda p: optim.Adam(p, eps=float("nan")), "eps"),
    (lambda p: optim.Adam(p, eps=0.0), "eps"),
    (lambda p: optim.Adam(p, weight_decay=float("nan")), "weight_decay"),
    (lambda p: optim.AdamW(p, weight_decay=-0.1), "weight_decay"),
    (lambda p: optim.Adam(p, betas=(float("nan"), 0.9)), r"betas\[0\]"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), r"betas\[1\]"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=float("nan")), "momentum"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), "momentum"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=float("inf")), "weight_decay"),
    (lambda p: optim.SGD(p, lr=True), "lr"),
])
def test_nan_inf_and_out_of_range_hyperparameters_are_refused(make, message):
    # Adam(lr=nan) used to be accepted and turned every parameter into NaN at the first step
    p = np.ones(3)
    with pytest.raises(ValueError, match=rf"{message} must be a finite number"):
        make([p])
    np.testing.assert_array_equal(p, 1.0)


def test_a_nan_learning_rate_set_between_steps_is_refused():
    opt = optim.Adam([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        opt.lr = float("nan")
    opt.lr = 0.01
    assert opt.lr == 0.01
