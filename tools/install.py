"""Create the virtual environment and install requirements.txt into it (the Makefile's install step).

    python3 tools/install.py .venv [--no-compile-runtime]

It installs with uv (https://docs.astral.sh/uv/), a pip-compatible installer, when uv can be installed from the
package index, and with pip otherwise (or when uv fails). uv is given pip's own configuration (the index URLs,
find-links, constraint files and no-index setting that ``pip config list`` shows, e.g. a machine's local copy of
PyTorch) and pip's rule of taking the best match across all indexes, so both choose from the same releases; on
2026-12-03 the two environments held the same versions of every package (uv's adds uv itself). requirements.txt
holds ranges, so a later day may resolve to newer releases with either. uv unpacks the wheels in parallel: on the
book's 2-core machine the whole step (venv, install, then ``tools/compile_runtime.py``) took 63 s with uv and
128 s with pip, measured one after the other on 2026-12-03. uv keeps what it downloaded and unpacked in its cache
(``UV_CACHE_DIR``, else ``$XDG_CACHE_HOME/uv`` or ``~/.cache/uv``) and hard-links the files from there into the
environment (it copies them instead when the cache is on another file system): the install alone took 31 s with an
empty cache and 9 s with the cache of an earlier install (same machine, same day). Hard links share their contents,
so a file edited in place in the environment changes in the cache too; ``uv cache clean`` empties the cache. Neither
installer compiles bytecode here;
``compile_runtime.py`` compiles what the tests import (run at the end unless ``--no-compile-runtime``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pip's configuration keys that choose where packages come from, and the uv options that mean the same
PIP_TO_UV = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
             "constraint": "--constraint", "no-index": "--no-index"}
# The scopes that apply to `pip install`, lowest precedence first: a key set in a later one replaces the earlier.
SCOPES = ("global", "install", ":env:")


def uv_options(pip_config: str) -> list[str]:
    """uv options equal to the index URLs, find-links, constraints and no-index of ``pip config list``'s output.

    Each line reads ``scope.key='value'`` (the value as a Python literal; it may hold several entries separated by
    spaces or new lines). As in pip, only the ``global``, ``install`` and environment (``:env:``) scopes apply to
    ``pip install``, and for each key the highest of them that sets it wins."""
    chosen: dict[str, tuple[int, str]] = {}
    for line in pip_config.splitlines():
        key, sep, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if not sep or name not in PIP_TO_UV or scope not in SCOPES:
            continue
        try:
            value = ast.literal_eval(value)
        except (SyntaxError, ValueError):
            value = value.strip("'\"")
        rank = SCOPES.index(scope)
        if name not in chosen or rank >= chosen[name][0]:
            chosen[name] = (rank, str(value))
    options = []
    for name, (_, value) in chosen.items():
        if name == "no-index":
            if value.strip().lower() in ("1", "true", "yes", "on"):
                options.append(PIP_TO_UV[name])
            continue
        for item in value.split():
            options += [PIP_TO_UV[name], item]
    return options


def pip_options(venv_python: str) -> list[str]:
    """:func:`uv_options` of the pip configuration that ``venv_python -m pip`` sees."""
    done = subprocess.run([venv_python, "-m", "pip", "config", "list"], capture_output=True, text=True)
    return uv_options(done.stdout)


def install_with_uv(venv: Path, python: str) -> bool:
    """Install requirements.txt with uv; False if uv could not be installed or did not succeed."""
    if subprocess.run([python, "-m", "pip", "install", "--quiet", "uv"]).returncode != 0:
        return False
    uv = venv / "bin" / "uv"
    # uv's own cache (UV_CACHE_DIR, else ~/.cache/uv), as pip keeps ~/.cache/pip: a later install links the unpacked
    # wheels from it instead of downloading and unpacking them again. --no-config: only pip's settings decide.
    cmd = [str(uv), "pip", "install", "--quiet", "--no-config", "--python", python,
           "--index-strategy", "unsafe-best-match", *pip_options(python), "-r", str(ROOT / "requirements.txt")]
    return subprocess.run(cmd, cwd=ROOT).returncode == 0


def install_with_pip(python: str) -> None:
    """Install requirements.txt with pip (no bytecode: compile_runtime.py compiles what is needed)."""
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile", "-r", str(ROOT / "requirements.txt")],
                   check=True, cwd=ROOT)


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    compile_runtime = "--no-compile-runtime" not in args
    args = [a for a in args if a != "--no-compile-runtime"]
    if len(args) != 1:
        raise SystemExit("usage: python3 tools/install.py VENV [--no-compile-runtime] (VENV: the folder of the "
                         "virtual environment to create)")
    venv = Path(args[0]).resolve()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    wanted = os.environ.get("CNN_BOOK_INSTALLER", "uv")
    if wanted not in ("uv", "pip"):
        raise SystemExit(f"CNN_BOOK_INSTALLER must be uv or pip; got {wanted!r}")
    if wanted == "uv" and install_with_uv(venv, python):
        how = "uv"
    else:
        print("installing with pip" + (" (CNN_BOOK_INSTALLER=pip)" if wanted == "pip" else
                                       " (uv could not be installed, or failed above)"), flush=True)
        install_with_pip(python)
        how = "pip"
    if compile_runtime:                  # make test runs it itself, beside the site build
        subprocess.run([python, str(ROOT / "tools" / "compile_runtime.py")], check=True)
    print(f"installed requirements.txt into {venv} with {how} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
