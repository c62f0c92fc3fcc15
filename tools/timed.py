"""Run one step of the build or test and record its wall time: ``python tools/timed.py NAME -- COMMAND ...``.

Appends ``NAME<TAB>seconds`` to ``_build/steps.tsv`` (standard library only, so it also times the step that creates
the virtual environment) and exits with the command's exit code. ``python tools/timed.py --report`` prints the
recorded steps as a table with their total; ``--reset`` empties the record. ``python tools/timed.py --wall SECONDS``
records the wall time of the whole run (``.ci/run`` does): steps that run side by side (the site build and the
bytecode compilation) overlap, so their sum overstates it, and the table's total is then that wall time.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

RECORD = Path(__file__).resolve().parents[1] / "_build" / "steps.tsv"
WALL = "#wall clock"


def report() -> str:
    """The recorded steps as an aligned table, sub-steps (names starting with two spaces) indented."""
    recorded = [line.split("\t") for line in RECORD.read_text().splitlines() if line] if RECORD.exists() else []
    walls = [float(s) for name, s in recorded if name == WALL]
    recorded = [(name, s) for name, s in recorded if name != WALL]
    rows, pending = [], []
    for name, seconds in recorded:          # a step's sub-steps are written before it ends: show them after it
        if name.startswith("  "):
            pending.append((name, seconds))
        else:
            rows += [(name, seconds)] + pending
            pending = []
    rows += pending
    width = max([len(name) for name, _ in rows] + [4])
    steps = sum(float(s) for name, s in rows if not name.startswith("  "))
    width = max(width, len("total (wall clock)"))
    lines = [f"{'step':{width}s}  seconds"] + [f"{name:{width}s}  {float(s):7.0f}" for name, s in rows]
    if walls:          # some steps overlapped: their sum is not the time the run took
        return "\n".join(lines + [f"{'sum of the steps':{width}s}  {steps:7.0f}",
                                  f"{'total (wall clock)':{width}s}  {walls[-1]:7.0f}"])
    return "\n".join(lines + [f"{'total':{width}s}  {steps:7.0f}"])


def main(argv: list[str]) -> int:
    if argv == ["--report"]:
        print(report())
        return 0
    if argv == ["--reset"]:
        RECORD.unlink(missing_ok=True)
        return 0
    if len(argv) == 2 and argv[0] == "--wall":
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        with RECORD.open("a") as f:
            f.write(f"{WALL}\t{float(argv[1]):.1f}\n")
        return 0
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__)
        return 2
    start = time.perf_counter()
    code = subprocess.call(argv[2:])
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    with RECORD.open("a") as f:
        f.write(f"{argv[0]}\t{time.perf_counter() - start:.1f}\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
