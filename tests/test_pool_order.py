"""tools/pool_order.py: the order in which the CI's pytest-xdist workers take the test files."""

import json
from pathlib import Path

import pytest
from pool_order import file_order, load_durations


def test_each_heavy_notebook_comes_with_its_share_of_test_files_then_the_rest_longest_first():
    seconds = {"a.ipynb": 100.0, "b.ipynb": 50.0, "c.ipynb": 10.0, "d.ipynb": 90.0,
               "t1.py": 40.0, "t2.py": 30.0, "t3.py": 20.0, "t4.py": 5.0, "t5.py": 0.0}
    files = ["c.ipynb", "t3.py", "a.ipynb", "t5.py", "b.ipynb", "t1.py", "d.ipynb", "t2.py", "t4.py"]
    # heavy (>= 80 s): a (100 s) and d (90 s); the 95 s of test files are shared 50 : 45 between them
    assert file_order(files, seconds, heavy_seconds=80) == [
        "a.ipynb", "t1.py", "t2.py",              # 70 s of tests beside a (its share, 50 s, reached)
        "d.ipynb", "t3.py", "t4.py",               # 25 s more beside d: 95 s given, both shares reached
        "b.ipynb", "c.ipynb", "t5.py"]             # then everything else, longest first


def test_files_without_a_measured_time_start_early_and_nothing_is_lost_or_repeated():
    seconds = {"a.ipynb": 100.0, "t1.py": 10.0, "b.ipynb": 3.0}
    files = ["b.ipynb", "t1.py", "new.py", "a.ipynb", "new.ipynb"]
    order = file_order(files, seconds, heavy_seconds=80)
    assert order == ["a.ipynb", "new.py", "t1.py", "new.ipynb", "b.ipynb"]
    assert sorted(order) == sorted(files)


def test_without_heavy_notebooks_everything_is_longest_first_and_a_bad_threshold_is_refused():
    seconds = {"a.ipynb": 10.0, "t1.py": 20.0, "t2.py": 1.0}
    assert file_order(["t2.py", "a.ipynb", "t1.py"], seconds, heavy_seconds=80) == ["t1.py", "a.ipynb", "t2.py"]
    with pytest.raises(ValueError, match="heavy_seconds must be > 0"):
        file_order(["t1.py"], seconds, heavy_seconds=0)


def test_durations_are_read_from_json_or_empty_when_missing_or_damaged(tmp_path):
    assert load_durations(tmp_path / "missing.json") == {}
    (tmp_path / "d.json").write_text(json.dumps({"tests/test_x.py": 3.5}))
    assert load_durations(tmp_path / "d.json") == {"tests/test_x.py": 3.5}
    (tmp_path / "half.json").write_text('{"tests/test_x.py": 3.')        # cut short while being written
    (tmp_path / "list.json").write_text("[1, 2]")
    assert load_durations(tmp_path / "half.json") == {} and load_durations(tmp_path / "list.json") == {}


def test_the_committed_durations_name_files_that_exist():
    root = Path(__file__).resolve().parents[1]
    durations = load_durations(root / "tests" / "durations.json")
    assert len(durations) > 100 and all((root / f).is_file() for f in durations)
    assert all(isinstance(t, (int, float)) and t >= 0 for t in durations.values())
    assert any(f.endswith(".ipynb") and t >= 80 for f, t in durations.items())     # heavy lessons are known
