"""The order in which the CI's two pytest-xdist workers take test files (``--dist loadfile``).

The workers run one thread each, side by side on the 2-core machine, and take the next file in this order
whenever they run short of work. Two heavy lessons side by side slow each other down (they compete for the
memory bus and the shared cache): with xdist's own order, most tests first, the three longest lessons took
89.8-99.1 s in a fresh-clone run, over the book's 90 s bound per lesson. :func:`file_order` therefore

1. runs each heavy notebook (``heavy_seconds`` or more, measured) beside a share of the unit-test files (lighter
   work, in proportion to the heavy notebook's time), longest first;
2. then the other notebooks and any test files left, longest first (longest-processing-time-first scheduling),
   so the run ends with the short exercise notebooks and neither worker is left alone for long.

The times come from ``tests/durations.json`` (seconds per file under ``make test``; ``conftest.py`` writes the
pool's times to ``_build/test_file_seconds.json`` after every run). A file missing from it (a new one) counts
as long, so it starts early rather than alone at the end; a heavy notebook is only recognised once measured.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HEAVY_SECONDS = 80.0


def file_order(files: list[str], seconds: dict[str, float], heavy_seconds: float = HEAVY_SECONDS) -> list[str]:
    """The test files ``files`` (paths; notebooks end in ``.ipynb``) in the order to hand them to the workers.

    ``seconds``: measured seconds per file (missing: treated as longer than any measured one)."""
    if heavy_seconds <= 0:
        raise ValueError(f"heavy_seconds must be > 0; got {heavy_seconds}")

    def time(f: str) -> float:
        return float(seconds.get(f, math.inf))

    def longest_first(group: list[str]) -> list[str]:
        return sorted(group, key=lambda f: -time(f))          # stable: ties keep the given order

    heavy = longest_first([f for f in files if f.endswith(".ipynb") and math.isfinite(time(f))
                           and time(f) >= heavy_seconds])
    buffer = longest_first([f for f in files if not f.endswith(".ipynb")])
    rest = longest_first([f for f in files if f.endswith(".ipynb") and f not in heavy])
    known = [time(f) for f in buffer if math.isfinite(time(f))]
    per_heavy_second = sum(known) / sum(time(f) for f in heavy) if heavy else 0.0
    order, given, budget = [], 0.0, 0.0
    for h in heavy:
        order.append(h)
        budget += time(h) * per_heavy_second
        while buffer and given < budget:
            f = buffer.pop(0)
            order.append(f)
            given += time(f) if math.isfinite(time(f)) else 0.0
    return order + longest_first(buffer + rest)


def load_durations(path: Path) -> dict[str, float]:
    """``{file: seconds}`` from a JSON file; ``{}`` when it does not exist or does not hold such a mapping."""
    try:
        times = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return times if isinstance(times, dict) else {}
