"""helpers.checks: one rule per kind of argument, and errors that name the argument and what was expected."""

import math

import numpy as np
import pytest

from helpers.checks import as_generator, int_pair, integer, number, positive_int


def test_integer_accepts_python_and_numpy_ints_within_bounds():
    assert integer(np.int64(3), "n") == 3 and type(integer(np.int64(3), "n")) is int
    assert integer(0, "n", minimum=0) == 0
    assert integer(5, "n", maximum=5) == 5
    for bad in [True, 2.0, "3", None]:
        with pytest.raises(ValueError, match="n must be an int"):
            integer(bad, "n")
    with pytest.raises(ValueError, match=r"n must be an int in \[1, 4\]; got 5"):
        integer(5, "n", minimum=1, maximum=4)


def test_positive_int():
    assert positive_int(1, "width") == 1
    with pytest.raises(ValueError, match="width must be an int >= 1; got 0"):
        positive_int(0, "width")


def test_int_pair_accepts_an_int_or_a_pair_like_pytorch():
    assert int_pair(2, "stride", minimum=1) == (2, 2)
    assert int_pair((2, 1), "stride", minimum=1) == (2, 1)
    assert int_pair([np.int32(0), 3], "padding") == (0, 3)
    for bad in [(1, 2, 3), (1.0, 2), True, (True, 1), "2"]:
        with pytest.raises(ValueError, match="stride must be an int or a pair of ints"):
            int_pair(bad, "stride", minimum=1)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        int_pair((1, 0), "stride", minimum=1)


def test_number_refuses_nan_inf_bools_and_values_outside_the_interval():
    assert number(np.float32(0.5), "lr", low=0) == 0.5
    assert number(0, "p", low=0, high=1, high_open=True) == 0.0
    for bad in [math.nan, math.inf, -math.inf, True, "0.1", None]:
        with pytest.raises(ValueError, match="lr must be a finite number"):
            number(bad, "lr", low=0)
    with pytest.raises(ValueError, match=r"p must be a finite number in \[0, 1\); got 1"):
        number(1, "p", low=0, high=1, high_open=True)
    with pytest.raises(ValueError, match=r"eps must be a finite number in \(0, inf\)"):
        number(0, "eps", low=0, low_open=True)


def test_as_generator():
    g = np.random.default_rng(0)
    assert as_generator(g) is g
    assert as_generator(3).integers(1000) == np.random.default_rng(3).integers(1000)
    assert isinstance(as_generator(None), np.random.Generator)
    with pytest.raises(ValueError, match="rng must be a numpy Generator"):
        as_generator(1.5)
