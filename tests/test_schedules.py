"""NumPy learning-rate schedules against torch.optim.lr_scheduler, step by step."""

import math

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from helpers.numpy import schedules as S
from helpers.numpy import training


def torch_rates(make_scheduler, steps, lr):
    """The rate torch's scheduler sets for each of ``steps`` updates (read before each update)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(rates)


@pytest.mark.parametrize("step_size,gamma", [(3, 0.5), (7, 0.1), (1, 0.9)])
def test_step_lr_matches_torch(step_size, gamma):
    ours = S.lr_curve(S.step_lr(0.2, step_size, gamma), 25)
    theirs = torch_rates(lambda o: tls.StepLR(o, step_size, gamma), 25, 0.2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


@pytest.mark.parametrize("total,final", [(10, 0.0), (37, 0.001)])
def test_cosine_lr_matches_torch_and_stays_at_the_end(total, final):
    ours = S.lr_curve(S.cosine_lr(0.1, total, final), total + 1)
    theirs = torch_rates(lambda o: tls.CosineAnnealingLR(o, T_max=total, eta_min=final), total + 1, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert S.cosine_lr(0.1, total, final)(total + 5) == pytest.approx(final)
    assert training.cosine_lr is S.cosine_lr          # one home: the NumPy training loop re-exports it


@pytest.mark.parametrize("warmup,start", [(5, 0.1), (3, 0.5)])
def test_warmup_then_cosine_matches_sequential_lr(warmup, start):
    total = 30
    ours = S.lr_curve(S.warmup_lr(S.cosine_lr(0.1, total - warmup), warmup, start), total)

    def make(o):
        return tls.SequentialLR(o, [tls.LinearLR(o, start_factor=start, total_iters=warmup),
                                    tls.CosineAnnealingLR(o, T_max=total - warmup)], milestones=[warmup])
    theirs = torch_rates(make, total, 0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert ours[0] == pytest.approx(0.1 * start) and max(ours) == pytest.approx(0.1)


@pytest.mark.parametrize("total,pct,div,final_div", [(100, 0.3, 25.0, 1e4), (47, 0.25, 10.0, 100.0)])
def test_one_cycle_matches_torch(total, pct, div, final_div):
    ours = S.lr_curve(S.one_cycle_lr(0.4, total, pct, div, final_div), total)
    theirs = torch_rates(lambda o: tls.OneCycleLR(o, max_lr=0.4, total_steps=total, pct_start=pct, div_factor=div,
                                                  final_div_factor=final_div, cycle_momentum=False), total, 0.4)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    assert ours[0] == pytest.approx(0.4 / div)
    assert max(ours) == pytest.approx(0.4, rel=1e-3)
    assert ours[-1] == pytest.approx(0.4 / div / final_div)


def test_schedules_drive_the_numpy_optimizer():
    from helpers.numpy.optim import SGD
    p = np.ones(1)
    opt, sched = SGD([p], lr=1.0), S.step_lr(1.0, 2, 0.5)
    for t in range(4):
        opt.lr = sched(t)
        opt.step([np.ones(1)])
    assert p[0] == pytest.approx(1 - (1 + 1 + 0.5 + 0.5))


@pytest.mark.parametrize("make,message", [
    (lambda: S.step_lr(0.1, 0), "step_size"),
    (lambda: S.step_lr(0.1, 3, gamma=1.5), "gamma must be a finite number"),
    (lambda: S.cosine_lr(-0.1, 10), "base_lr"),
    (lambda: S.warmup_lr(0.1, 5), "after must be a schedule"),
    (lambda: S.warmup_lr(S.cosine_lr(0.1, 10), 0), "warmup_steps"),
    (lambda: S.one_cycle_lr(0.1, 3, pct_start=0.3), "leaves no room"),
    (lambda: S.one_cycle_lr(0.1, 100, pct_start=1.0), "pct_start"),
    (lambda: S.one_cycle_lr(0.1, 10)(11), "past the schedule"),
    (lambda: S.cosine_lr(0.1, 10)(-1), "step must be an integer >= 0"),
    (lambda: S.step_lr(0.1, 10)(1.5), "step must be an integer"),
    (lambda: S.lr_curve(S.step_lr(0.1, 10), 0), "steps"),
])
def test_bad_arguments_say_what_was_expected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_cosine_formula_midpoint():
    assert S.cosine_lr(0.2, 10, 0.0)(5) == pytest.approx(0.1)
    assert S.cosine_lr(0.2, 10, 0.0)(0) == pytest.approx(0.2)
    assert math.isclose(S.cosine_lr(0.2, 10, 0.0)(10), 0.0, abs_tol=1e-15)
