"""tools/pool_order.py: the order in which the CI's pytest-xdist workers take the test files."""

import json
from pathlib import Path

import pytest
from pool_order import file_order, load_durations


def test_many_test_files_first_by_count_then_small_files_longest_first():
    counts = {"a.py": 3, "b.ipynb": 40, "c.py": 1, "d.py": 12, "e.py": 2, "f.py": 12}
    seconds = {"a.py": 2.0, "c.py": 24.0, "e.py": 9.5, "b.ipynb": 90.0}
    # d and f tie on 12 tests and keep their collection order; e (9.5 s) runs before a (2 s); c (24 s) first of them
    assert file_order(counts, seconds, tail_size=5) == ["b.ipynb", "d.py", "f.py", "c.py", "e.py", "a.py"]


def test_a_file_without_a_measured_time_runs_first_of_the_small_ones_and_nothing_is_lost():
    counts = {"old.py": 2, "slow.py": 1, "new.py": 1}
    order = file_order(counts, {"slow.py": 10.0, "old.py": 1.0})
    assert order == ["new.py", "slow.py", "old.py"] and sorted(order) == sorted(counts)


def test_tail_size_zero_is_xdists_order_and_a_negative_one_is_refused():
    counts = {"a.py": 1, "b.py": 3, "c.py": 2}
    assert file_order(counts, {"a.py": 100.0}, tail_size=0) == ["b.py", "c.py", "a.py"]
    with pytest.raises(ValueError, match="tail_size must be >= 0"):
        file_order(counts, {}, tail_size=-1)


def test_durations_are_read_from_json_or_empty_when_missing(tmp_path):
    assert load_durations(tmp_path / "missing.json") == {}
    (tmp_path / "d.json").write_text(json.dumps({"tests/test_x.py": 3.5}))
    assert load_durations(tmp_path / "d.json") == {"tests/test_x.py": 3.5}
    (tmp_path / "half.json").write_text('{"tests/test_x.py": 3.')        # cut short while being written
    (tmp_path / "list.json").write_text("[1, 2]")
    assert load_durations(tmp_path / "half.json") == {} and load_durations(tmp_path / "list.json") == {}


def test_the_committed_durations_name_files_that_exist():
    root = Path(__file__).resolve().parents[1]
    durations = load_durations(root / "tests" / "durations.json")
    assert len(durations) > 50 and all((root / f).is_file() for f in durations)
    assert all(isinstance(t, (int, float)) and t >= 0 for t in durations.values())
