"""Pytest plugin for the book: print how long each notebook took under nbval, and the time per group of tests.

The group times (unit tests, browser checks of the site, lessons, exercises, other pages) of a run with more than
one group are also appended to ``_build/steps.tsv`` as sub-steps, so ``python tools/timed.py --report`` (run at
the end of ``.ci/run``) shows where the test time went.
"""

import json
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))   # also set by pyproject.toml's pythonpath
from pool_order import file_order, load_durations  # noqa: E402

_notebook_seconds: dict[str, float] = defaultdict(float)
_test_file_seconds: dict[str, float] = defaultdict(float)
_group_seconds: dict[str, float] = defaultdict(float)
_file_seconds: dict[str, float] = defaultdict(float)      # keyed by the file part of the node id
ROOT = Path(__file__).resolve().parent
DURATIONS = ROOT / "tests" / "durations.json"


def pytest_collection_modifyitems(session, config, items):
    """Put the test files in :func:`pool_order.file_order`'s order (the Makefile turns xdist's own off)."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    order = file_order(list(files), load_durations(DURATIONS))
    items[:] = [item for f in order for item in files[f]]


def _group(path: Path) -> str:
    if path.suffix == ".ipynb":
        return {"lessons": "lesson notebooks", "exercises": "exercise notebooks"}.get(path.parent.name,
                                                                                      "other notebooks")
    if path.name == "test_site.py":
        return "site in a browser"
    if path.name == "test_colab_simulation.py":
        return "Colab simulation"
    return "unit and property tests"


def pytest_runtest_logreport(report):
    path = Path(str(report.fspath))
    if path.suffix == ".ipynb":
        _notebook_seconds[path.name] += report.duration
    else:
        _test_file_seconds[path.name] += report.duration
    _group_seconds[_group(path)] += report.duration
    _file_seconds[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if hasattr(terminalreporter.config, "workerinput"):   # a pytest-xdist worker: the controller reports
        return
    if _notebook_seconds:
        terminalreporter.section("notebook execution times")
        for name, seconds in sorted(_notebook_seconds.items()):
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")
    if _test_file_seconds:
        terminalreporter.section("slowest test files")
        for name, seconds in sorted(_test_file_seconds.items(), key=lambda kv: -kv[1])[:15]:
            terminalreporter.write_line(f"{name}: {seconds:.1f} s")
    if _group_seconds:
        workers = _workers(terminalreporter.config)
        suffix = f" (summed over {workers} workers)" if workers > 1 else ""
        terminalreporter.section("test time by group" + suffix)
        for name, seconds in sorted(_group_seconds.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{name}: {seconds:.0f} s")
        record = ROOT / "_build" / "steps.tsv"
        if record.parent.exists() and len(_group_seconds) > 1:    # one group: the step's own time says it
            # The pool's time per file, what tests/durations.json is refreshed from (only the pool has several
            # groups; written whole, then renamed, so a reader never sees half a file).
            measured = ROOT / "_build" / "test_file_seconds.json"
            partial = measured.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({f: round(t, 1) for f, t in sorted(_file_seconds.items())}, indent=0) + "\n")
            os.replace(partial, measured)
            with record.open("a") as f:
                for name, seconds in sorted(_group_seconds.items(), key=lambda kv: -kv[1]):
                    f.write(f"  pytest: {name}{suffix}\t{seconds:.1f}\n")


def _workers(config) -> int:
    """How many pytest-xdist workers ran the tests (1 without xdist): their times add up to more than the wall time."""
    try:
        return max(1, int(config.getoption("numprocesses") or 1))
    except (ValueError, TypeError):
        return 1
