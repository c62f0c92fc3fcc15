"""The order in which the CI's two pytest-xdist workers take test files (``--dist loadfile``).

xdist's own order is "most tests first". That puts the files with a handful of tests at the end, and some of
them are slow (the Colab simulation: one test, 19-41 s), so one worker could run them while the other had
nothing left to do. :func:`file_order` keeps "most tests first" for the files with more than ``tail_size``
tests and orders the small files by their measured time, longest first, so the run ends with quick files.
The times come from ``tests/durations.json`` (seconds per file, measured in a run of the suite; ``conftest.py``
writes the pool's times to ``_build/test_file_seconds.json`` after every ``make test``). A small file missing from
it (a new one) counts as slow, so it runs early rather than alone at the end.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

TAIL_SIZE = 5


def file_order(counts: dict[str, int], seconds: dict[str, float], tail_size: int = TAIL_SIZE) -> list[str]:
    """Test files (keys of ``counts``: file -> number of tests, in collection order) in the order to run them.

    Files with more than ``tail_size`` tests come first, most tests first (ties keep the collection order, as in
    xdist); then the others, longest first by ``seconds`` (file -> measured seconds; a missing file first)."""
    if tail_size < 0:
        raise ValueError(f"tail_size must be >= 0; got {tail_size}")
    many = [f for f in counts if counts[f] > tail_size]
    few = [f for f in counts if counts[f] <= tail_size]
    return sorted(many, key=lambda f: -counts[f]) + sorted(few, key=lambda f: -float(seconds.get(f, math.inf)))


def load_durations(path: Path) -> dict[str, float]:
    """``{file: seconds}`` from a JSON file; ``{}`` when it does not exist or does not hold such a mapping."""
    try:
        times = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return times if isinstance(times, dict) else {}
