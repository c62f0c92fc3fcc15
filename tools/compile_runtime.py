"""Compile the bytecode of the packages every test process and notebook kernel imports, once, after the install.

The install uses ``pip install --no-compile`` (compiling all of site-packages took about 100 s of the CI's
install step). Where ``PYTHONDONTWRITEBYTECODE`` is set, as on the CI machine, Python then never writes the
``.pyc`` files itself, and every kernel and pytest process compiled IPython, ipykernel, jupyter_client, pytest
and the book's library from source again (about 0.8 s per process, measured). This compiles just those
packages (a few seconds); ``compileall`` writes the files whatever that variable says.

Usage: ``.venv/bin/python tools/compile_runtime.py`` (the Makefile runs it after ``pip install``).
"""

import compileall
import importlib.util
import sys
import time
from pathlib import Path

PACKAGES = ["IPython", "ipykernel", "jupyter_client", "jupyter_core", "tornado", "zmq", "traitlets", "comm",
            "debugpy", "nbformat", "nbclient", "nbval", "_pytest", "pytest", "xdist", "execnet", "pluggy",
            "prompt_toolkit", "jedi", "parso", "pygments", "matplotlib_inline", "ipywidgets", "tqdm", "helpers"]


def package_dirs(names):
    """The source folders of the importable packages among ``names`` (missing ones are skipped)."""
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            yield from (Path(p) for p in spec.submodule_search_locations)


def main() -> int:
    start = time.perf_counter()
    dirs = list(package_dirs(PACKAGES))
    ok = all(compileall.compile_dir(d, quiet=1, workers=0) for d in dirs)
    print(f"compiled the bytecode of {len(dirs)} packages in {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
