"""Learning-rate schedules as plain functions ``step -> learning rate``, equal to ``torch.optim.lr_scheduler``.

Each factory returns a function of the step index (0 for the first update) that
a training loop calls before every update, e.g. ``optimizer.lr = schedule(step)``
(:func:`helpers.numpy.training.train` takes it as ``lr_schedule``):

* :func:`step_lr` - multiply by ``gamma`` every ``step_size`` steps (``StepLR``);
* :func:`cosine_lr` - half a cosine from ``base_lr`` down to ``final_lr`` (``CosineAnnealingLR``);
* :func:`warmup_lr` - a linear warm-up in front of any other schedule (``LinearLR`` then the
  schedule, as ``SequentialLR`` chains them);
* :func:`one_cycle_lr` - up from ``max_lr / div_factor`` to ``max_lr`` and down to almost 0 along
  cosines (``OneCycleLR`` with its defaults, Smith and Topin 2019).

Every function here imports only the standard library; the tests compare each
with its PyTorch twin step by step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from helpers.checks import number, positive_int

__all__ = ["step_lr", "cosine_lr", "warmup_lr", "one_cycle_lr", "lr_curve"]

Schedule = Callable[[int], float]


def _step(step) -> int:
    if isinstance(step, bool) or not isinstance(step, int) and not hasattr(step, "__index__"):
        raise ValueError(f"step must be an integer >= 0; got {step!r}")
    step = int(step)
    if step < 0:
        raise ValueError(f"step must be an integer >= 0; got {step}")
    return step


def step_lr(base_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """Step decay: ``step -> base_lr * gamma ** (step // step_size)`` (as ``StepLR``)."""
    base_lr = number(base_lr, "base_lr", low=0, low_open=True)
    step_size = positive_int(step_size, "step_size")
    gamma = number(gamma, "gamma", low=0, low_open=True, high=1)

    def schedule(step: int) -> float:
        return base_lr * gamma ** (_step(step) // step_size)

    return schedule


def cosine_lr(base_lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """Cosine learning-rate decay: ``step -> final + (base - final) * (1 + cos(pi * step / total)) / 2``.

    Starts at ``base_lr`` for step 0 and reaches ``final_lr`` after ``total_steps``, then stays
    there (as ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``T_max=total_steps``).
    """
    base_lr = number(base_lr, "base_lr", low=0, low_open=True)
    final_lr = number(final_lr, "final_lr", low=0)
    total_steps = positive_int(total_steps, "total_steps")

    def schedule(step: int) -> float:
        t = min(_step(step), total_steps) / total_steps
        return final_lr + (base_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * t))

    return schedule


def warmup_lr(after: Schedule, warmup_steps: int, start_factor: float = 0.1) -> Schedule:
    """A linear warm-up of ``warmup_steps`` steps in front of the schedule ``after``.

    For ``step < warmup_steps`` the rate rises linearly from ``start_factor * after(0)``
    towards ``after(0)``; from then on it is ``after(step - warmup_steps)``. This is
    ``SequentialLR([LinearLR(start_factor, total_iters=warmup_steps), after], [warmup_steps])``.
    """
    if not callable(after):
        raise ValueError(f"after must be a schedule, a function step -> lr; got {after!r}")
    warmup_steps = positive_int(warmup_steps, "warmup_steps")
    start_factor = number(start_factor, "start_factor", low=0, low_open=True, high=1)
    peak = after(0)

    def schedule(step: int) -> float:
        step = _step(step)
        if step < warmup_steps:
            return peak * (start_factor + (1 - start_factor) * step / warmup_steps)
        return after(step - warmup_steps)

    return schedule


def one_cycle_lr(max_lr: float, total_steps: int, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4) -> Schedule:
    """The one-cycle policy (as ``OneCycleLR`` with ``anneal_strategy="cos"``, ``three_phase=False``).

    The rate starts at ``max_lr / div_factor``, rises along a half cosine to ``max_lr`` at step
    ``pct_start * total_steps - 1``, then falls along a half cosine to
    ``max_lr / div_factor / final_div_factor`` at step ``total_steps - 1``.
    """
    max_lr = number(max_lr, "max_lr", low=0, low_open=True)
    total_steps = positive_int(total_steps, "total_steps")
    pct_start = number(pct_start, "pct_start", low=0, low_open=True, high=1, high_open=True)
    div_factor = number(div_factor, "div_factor", low=0, low_open=True)
    final_div_factor = number(final_div_factor, "final_div_factor", low=0, low_open=True)
    initial = max_lr / div_factor
    final = initial / final_div_factor
    peak_step = float(pct_start * total_steps) - 1
    last_step = total_steps - 1
    if not 0 < peak_step < last_step:
        raise ValueError(f"total_steps={total_steps} with pct_start={pct_start} leaves no room for both phases; "
                         "use more steps")

    def cos_between(start, end, pct):
        return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)

    def schedule(step: int) -> float:
        step = _step(step)
        if step > total_steps:
            raise ValueError(f"step {step} is past the schedule's {total_steps} steps")
        if step <= peak_step:
            return cos_between(initial, max_lr, step / peak_step)
        return cos_between(max_lr, final, (step - peak_step) / (last_step - peak_step))

    return schedule


def lr_curve(schedule: Schedule, steps: int) -> list[float]:
    """The rates ``[schedule(0), ..., schedule(steps - 1)]``, for plots and comparisons."""
    steps = positive_int(steps, "steps")
    return [schedule(t) for t in range(steps)]
