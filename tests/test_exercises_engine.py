"""The exercise self-check: it passes a right answer, and names the case, the entry and both values for a wrong one."""

import numpy as np
import pytest
import torch

from helpers.book.exercises import Case, check, compare


def reference(x, k=2):
    return x * k, x.sum()


CASES = [Case("small", (np.arange(6.0).reshape(2, 3),)), Case("k=3", (np.ones(4),), {"k": 3})]


def test_a_right_answer_passes(capsys):
    assert check(lambda x, k=2: (k * x, np.sum(x)), reference, CASES)
    assert "PASS" in capsys.readouterr().out


def test_a_wrong_entry_is_located(capsys):
    def wrong(x, k=2):
        y = x * k
        y.flat[-1] += 1
        return y, x.sum()
    assert not check(wrong, reference, CASES)
    out = capsys.readouterr().out
    assert "FAIL on case 'small'" in out and "output[0] at index (1, 2)" in out and "got 11, expected 10" in out


def test_shape_type_and_exceptions_are_reported(capsys):
    assert not check(lambda x, k=2: (x.ravel()[:2] * k, x.sum()), reference, CASES)
    assert "shape (2,), expected (2, 3)" in capsys.readouterr().out
    assert not check(lambda x, k=2: x * k, reference, CASES)
    assert "expected a tuple of 2 values" in capsys.readouterr().out
    assert not check(lambda x, k=2: 1 / 0, reference, CASES)
    assert "raised ZeroDivisionError" in capsys.readouterr().out


def test_a_stub_is_not_attempted_and_inputs_are_copied(capsys):
    def stub(x, k=2):
        raise NotImplementedError
    assert not check(stub, reference, CASES)
    assert "not attempted yet" in capsys.readouterr().out

    def mutating(x, k=2):
        x *= k
        return x, x.sum() / k
    assert check(mutating, reference, CASES, quiet=True)      # its in-place change does not reach the reference


def test_compare_handles_torch_dicts_and_scalars():
    assert compare(torch.ones(2), np.ones(2)) is None
    assert compare({"a": 1.0}, {"a": 1.0 + 1e-12}) is None
    assert "output['a']" in compare({"a": 1.0}, {"a": 2.0})
    assert "expected a dict" in compare([1], {"a": 1})
    assert compare("x", "y") == "output: got 'x', expected 'y'"
    assert compare(np.array([1, 2]), np.array([1, 3])).startswith("output at index (1,)")
    assert "got 1769471, expected 1769472" in compare(1769471, 1769472)      # integers in full
    assert "got 1769461.5, expected 1769472" in compare(1769461.5, 1769472.0)
    assert "got 2, expected 3" in compare(np.array([1, 2]), np.array([1, 3]))


def test_bad_use_is_refused():
    with pytest.raises(ValueError, match="at least one Case"):
        check(reference, reference, [])
    with pytest.raises(ValueError, match="must be functions"):
        check(None, reference, CASES)
