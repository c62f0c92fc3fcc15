"""Create the virtual environment and install requirements.txt into it (the Makefile's install step).

    python3 tools/install.py .venv

It installs with uv (https://docs.astral.sh/uv/), a pip-compatible installer, when uv can be installed from the
package index, and with pip otherwise (or when uv fails). Both resolve the same requirements.txt to the same
releases: uv is given pip's own configuration (the index URLs, find-links and constraint files that
``pip config list`` shows, e.g. a machine's local copy of PyTorch) and pip's rule of taking the best match
across all indexes. uv unpacks the wheels in parallel: on the book's 2-core CI machine it installed everything,
the 5 GB CUDA build of PyTorch included, in 25 s where pip took about 85 s (measured; the package lists were
equal). Neither compiles bytecode here; ``tools/compile_runtime.py`` then compiles what the tests import.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# pip's configuration keys and the uv options that mean the same (pip config list: "scope.key='value'")
PIP_TO_UV = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
             "constraint": "--constraint"}


def uv_options(pip_config: str) -> list[str]:
    """uv options equal to the index URLs, find-links and constraints of ``pip config list``'s output, in its order.

    Each line reads ``scope.key='value'``; a value may hold several space-separated entries; an entry seen under
    two scopes (a file and the environment, say) is passed once."""
    options, seen = [], set()
    for line in pip_config.splitlines():
        key, _, value = line.partition("=")
        name = key.rsplit(".", 1)[-1]
        if name not in PIP_TO_UV or not value:
            continue
        for item in shlex.split(value.strip("'\"")):
            if (name, item) not in seen:
                seen.add((name, item))
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
    with tempfile.TemporaryDirectory(dir=venv, prefix=".uv-cache-") as cache:   # same disk: hard links, then gone
        cmd = [str(uv), "pip", "install", "--quiet", "--python", python, "--cache-dir", cache,
               "--index-strategy", "unsafe-best-match", *pip_options(python), "-r", str(ROOT / "requirements.txt")]
        return subprocess.run(cmd, cwd=ROOT).returncode == 0


def install_with_pip(python: str) -> None:
    """Install requirements.txt with pip (no bytecode: compile_runtime.py compiles what is needed)."""
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-compile", "-r", str(ROOT / "requirements.txt")],
                   check=True, cwd=ROOT)


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python3 tools/install.py VENV (the folder of the virtual environment to create)")
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
    subprocess.run([python, str(ROOT / "tools" / "compile_runtime.py")], check=True)
    print(f"installed requirements.txt into {venv} with {how} in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
