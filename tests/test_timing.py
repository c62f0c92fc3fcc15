import time

import pytest

from helpers.book.timing import median_time
from helpers.torch.speed import max_pool_seconds


def test_median_time_measures_the_call_and_counts_calls():
    calls = []

    def sleepy():
        calls.append(1)
        time.sleep(0.01)

    seconds = median_time(sleepy, repeats=3, warmup=2)
    assert len(calls) == 5
    assert 0.009 < seconds < 0.2


def test_median_time_ignores_one_slow_outlier():
    delays = iter([0.0, 0.1, 0.0, 0.0])   # the warm-up, then one slow call among three timed

    def fn():
        time.sleep(next(delays))

    assert median_time(fn, repeats=3, warmup=1) < 0.05


@pytest.mark.parametrize("kwargs, match", [({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"),
                                           ({"repeats": 2.5}, "repeats")])
def test_median_time_rejects_bad_counts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        median_time(lambda: None, **kwargs)


def test_median_time_rejects_non_callables():
    with pytest.raises(ValueError, match="function"):
        median_time(3)


def test_max_pool_seconds_times_both_implementations():
    t_library, t_torch = max_pool_seconds((2, 3, 8, 8), repeats=2)
    assert 0 < t_library < 1 and 0 < t_torch < 1


def test_max_pool_seconds_rejects_a_shape_that_is_not_nchw():
    with pytest.raises(ValueError, match="N, C, H, W"):
        max_pool_seconds((8, 8))


def test_machine_speed_reports_a_positive_rate_and_the_core_count(capsys):
    import os

    import machine_speed

    assert 0 < machine_speed.matmul_gflops(n=64, repeats=3) < 1e5
    machine_speed.main(n=64)
    line = capsys.readouterr().out
    assert line.startswith("machine speed: float32 matmul ") and f"on {os.cpu_count()} cores" in line


def test_alternating_medians_times_each_function_once_per_round_in_turn():
    from helpers.book.timing import alternating_medians
    order = []
    fns = {"fast": lambda: order.append("fast"), "slow": lambda: (order.append("slow"), time.sleep(0.01))}
    times = alternating_medians(fns, rounds=3, repeats=2, pause=0.0)
    assert set(times) == {"fast", "slow"} and all(len(v) == 3 for v in times.values())
    assert all(s > 0.009 for s in times["slow"])
    assert all(f < s for f, s in zip(times["fast"], times["slow"], strict=True))
    assert order == (["fast"] * 3 + ["slow"] * 3) * 3            # warm-up + 2 repeats each, alternating
    with pytest.raises(ValueError, match="rounds"):
        alternating_medians(fns, rounds=0)
    with pytest.raises(ValueError, match="non-empty"):
        alternating_medians({})
