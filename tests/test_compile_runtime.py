"""tools/compile_runtime.py: which package folders it compiles, and the bytecode it caches by importing."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import compile_runtime  # noqa: E402


def test_package_dirs_finds_installed_packages_and_skips_missing_ones():
    dirs = list(compile_runtime.package_dirs(["pytest", "no_such_package_here", "helpers"]))
    assert [d.name for d in dirs] == ["pytest", "helpers"]
    assert all((d / "__init__.py").is_file() for d in dirs)


def test_the_list_holds_the_kernel_and_test_runner_stacks():
    assert {"ipykernel", "IPython", "jupyter_client", "_pytest", "nbval", "helpers"} <= set(compile_runtime.PACKAGES)


def test_warm_imports_writes_bytecode_even_where_python_is_told_not_to(tmp_path, monkeypatch):
    (tmp_path / "warm_me.py").write_text("VALUE = 1\n")
    (tmp_path / "not_me.py").write_text("VALUE = 2\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    assert compile_runtime.warm_imports(["warm_me", "no_such_module_here"], library=False) == 0
    cached = [p.name for p in (tmp_path / "__pycache__").glob("*.pyc")]
    assert len(cached) == 1 and cached[0].startswith("warm_me.")


def test_the_import_list_holds_the_heavy_libraries_the_lessons_use():
    assert {"torch", "torchvision", "matplotlib.pyplot", "numpy", "scipy.signal"} <= set(compile_runtime.IMPORTED)
