"""Self-checks for the exercises: run the reader's function against a reference and say what differs.

An exercise notebook asks the reader to write a function, then calls :func:`check`::

    check(my_conv2d, conv2d_reference, cases)

``cases`` is a list of :class:`Case` (a name and the arguments); each case calls both functions on copies of the
same arguments and compares the results: type, shape, then values (``rtol``/``atol``). It prints one line per case
and then ``PASS`` or a diagnosis that says which case, which output, which entry, and expected against got, instead
of a bare assertion. A function that still raises ``NotImplementedError`` (the exercise's stub) is reported as not
attempted yet, so a notebook with unsolved exercises still runs top to bottom. :func:`check` returns ``True`` only
when every case passes, so a solution cell can ``assert`` it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case", "compare", "check"]


@dataclass
class Case:
    """One test input: a short ``name`` shown in the report, positional ``args`` and keyword ``kwargs``."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def _as_array(value):
    try:
        import torch
    except ImportError:          # pragma: no cover - the book always has torch
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def compare(got, expected, rtol: float = 1e-6, atol: float = 1e-8, path: str = "output") -> str | None:
    """``None`` if ``got`` matches ``expected``, else one sentence saying where and how they differ.

    Tuples and lists are compared element by element (``path`` names the element, e.g. ``output[1]``), dicts key
    by key, arrays (NumPy or torch) by shape then values within ``rtol``/``atol``, numbers by value, anything
    else with ``==``.
    """
    got, expected = _as_array(got), _as_array(expected)
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            size = len(got) if isinstance(got, (tuple, list)) else "not a tuple"
            return f"{path}: expected a tuple of {len(expected)} values, got {type(got).__name__} ({size})"
        for k, (g, e) in enumerate(zip(got, expected, strict=True)):
            problem = compare(g, e, rtol, atol, f"{path}[{k}]")
            if problem:
                return problem
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            shown = sorted(got) if isinstance(got, dict) else type(got).__name__
            return f"{path}: expected a dict with keys {sorted(expected)}, got {shown}"
        for key in expected:
            problem = compare(got[key], expected[key], rtol, atol, f"{path}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, np.ndarray) or np.isscalar(expected) and isinstance(expected, (int, float, np.number)):
        e = np.asarray(expected)
        try:
            g = np.asarray(got, dtype=float) if e.dtype.kind in "fc" else np.asarray(got)
        except (TypeError, ValueError):
            return f"{path}: expected an array of shape {e.shape}, got {type(got).__name__}"
        if g.shape != e.shape:
            return f"{path}: shape {g.shape}, expected {e.shape}"
        if e.dtype.kind in "fc" or g.dtype.kind in "fc":
            bad = ~np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            bad = g != e
        if np.any(bad):
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            where = f" at index {idx}" if e.ndim else ""
            gv, ev = (g[idx], e[idx]) if e.ndim else (g.item(), e.item())
            floats = e.dtype.kind in "fc" or g.dtype.kind in "fc"
            show = (lambda v: f"{v:.10g}") if floats else (lambda v: str(getattr(v, "item", lambda: v)()))
            return (f"{path}{where}: got {show(gv)}, expected {show(ev)} "
                    f"({int(bad.sum())} of {bad.size} entries differ)")
        return None
    if got != expected:
        return f"{path}: got {got!r}, expected {expected!r}"
    return None


def check(func: Callable, reference: Callable, cases: Sequence[Case], rtol: float = 1e-6, atol: float = 1e-8,
          quiet: bool = False) -> bool:
    """Run ``func`` and ``reference`` on every case, print a report, return ``True`` if all cases match.

    Arguments are deep-copied for each call, so a function that modifies its inputs cannot spoil the reference.
    Prints ``PASS`` when every case matches; otherwise the first failing case with its diagnosis (from
    :func:`compare`) or the exception it raised. ``quiet=True`` prints only the final line.
    """
    if not callable(func) or not callable(reference):
        raise ValueError("check(func, reference, cases): func and reference must be functions")
    if not cases:
        raise ValueError("check needs at least one Case")
    name = getattr(func, "__name__", "your function")
    for case in cases:
        expected = reference(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        try:
            got = func(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))
        except NotImplementedError:
            print(f"{name}: not attempted yet (it raises NotImplementedError); write it and run this cell again")
            return False
        except Exception as err:  # noqa: BLE001 - any error of the reader's code is reported, not raised
            print(f"FAIL on case '{case.name}': {name} raised {type(err).__name__}: {err}")
            return False
        problem = compare(got, expected, rtol, atol)
        if problem:
            print(f"FAIL on case '{case.name}': {problem}")
            return False
        if not quiet:
            print(f"  ok  {case.name}")
    print(f"PASS: {name} matches the reference on all {len(cases)} cases")
    return True
