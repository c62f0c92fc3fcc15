"""tools/timed.py: the step table, its sub-steps, and the wall-clock total when steps overlapped."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("timed_tool", ROOT / "tools" / "timed.py")
timed = importlib.util.module_from_spec(spec)
spec.loader.exec_module(timed)


def test_sub_steps_follow_their_step_and_the_total_sums_the_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(timed, "RECORD", tmp_path / "steps.tsv")
    (tmp_path / "steps.tsv").write_text("install\t30.0\n  pytest: lessons\t900.0\npytest\t600.0\n")
    lines = timed.report().splitlines()
    assert [line.split()[0] for line in lines[1:4]] == ["install", "pytest", "pytest:"]
    assert lines[-1].split() == ["total", "630"]


def test_a_recorded_wall_time_is_the_total_when_steps_overlapped(tmp_path, monkeypatch):
    monkeypatch.setattr(timed, "RECORD", tmp_path / "steps.tsv")
    (tmp_path / "steps.tsv").write_text("site build\t22.0\nbytecode (beside the site build)\t31.0\n")
    assert timed.main(["--wall", "40"]) == 0
    lines = timed.report().splitlines()
    assert lines[-2].split()[-1] == "53" and lines[-2].startswith("sum of the steps")
    assert lines[-1].startswith("total (wall clock)") and lines[-1].split()[-1] == "40"


def test_a_timed_command_is_recorded_with_its_exit_code(tmp_path, monkeypatch):
    monkeypatch.setattr(timed, "RECORD", tmp_path / "steps.tsv")
    assert timed.main(["fails", "--", "false"]) == 1
    name, seconds = (tmp_path / "steps.tsv").read_text().split("\t")
    assert name == "fails" and float(seconds) >= 0
