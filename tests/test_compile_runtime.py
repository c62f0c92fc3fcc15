"""tools/compile_runtime.py: which package folders it compiles."""

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
