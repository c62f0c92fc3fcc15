"""Compile the bytecode of the packages every test process and notebook kernel imports, once, after the install.

The install uses ``pip install --no-compile`` (compiling all of site-packages took about 100 s of the CI's
install step). Where ``PYTHONDONTWRITEBYTECODE`` is set, as on the CI machine, Python then never writes the
``.pyc`` files itself, and every kernel and pytest process compiled IPython, ipykernel, jupyter_client, pytest
and the book's library from source again (about 0.8 s per process, measured). This compiles just those
packages (a few seconds); ``compileall`` writes the files whatever that variable says.

The same holds for the big libraries the lessons import (torch, matplotlib, SciPy...), but compiling all of
them is most of that 100 s: ``import torch`` loads a few hundred of torch's thousands of files. So a second step
imports what the notebooks and tests import, in a child process allowed to write bytecode, and Python caches just
the modules that were loaded (a lesson's set-up cell went from 8.8 s to 3.3 s on this 2-core machine). The list
includes torch's compiler stack (dynamo, inductor, sympy), which ``torch.use_deterministic_algorithms`` imports:
4.4 s from source against 1.4 s from bytecode, measured.

Usage: ``.venv/bin/python tools/compile_runtime.py`` (``tools/install.py`` runs it after installing the requirements).
"""

import compileall
import importlib.util
import os
import subprocess
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


# The third-party modules the lessons, exercises, scripts and tests import (directly or through the library).
IMPORTED = ["numpy", "scipy.signal", "scipy.ndimage", "scipy.stats", "scipy.optimize", "matplotlib.pyplot",
            "matplotlib_inline.backend_inline", "PIL.Image", "torch", "torch.nn", "torch.distributed",
            "torch.distributed.run", "torch.nn.parallel", "torch.ao.quantization", "torch.ao.quantization.quantize_fx",
            "torch.onnx", "torch._inductor.config", "torchvision", "torchvision.models", "torchvision.datasets",
            "torchvision.ops", "torchvision.transforms", "torchvision.transforms.v2", "torchmetrics",
            "torchmetrics.classification", "torchmetrics.detection", "sklearn.metrics", "sklearn.linear_model",
            "sklearn.model_selection", "sklearn.decomposition", "skimage", "optuna", "onnx", "onnxruntime",
            "pycocotools.coco", "pycocotools.cocoeval", "hypothesis", "hypothesis.extra.numpy", "tqdm.auto",
            "ipywidgets", "IPython.display", "nbformat", "threadpoolctl", "playwright.sync_api"]

WARM_UP = """
import importlib, pkgutil, sys
library, names = sys.argv[1] == "library", sys.argv[2:]
failed = []
for name in names:
    try:
        importlib.import_module(name)
    except Exception as error:          # an optional module that is missing is reported, not fatal
        failed.append(f"{name} ({type(error).__name__})")
if library:
    import helpers
    for info in pkgutil.walk_packages(helpers.__path__, "helpers."):
        try:
            importlib.import_module(info.name)
        except Exception as error:
            failed.append(f"{info.name} ({type(error).__name__})")
    from helpers.seeding import seed_everything
    seed_everything(0)
if failed:
    print("could not import (skipped):", ", ".join(failed))
"""


def warm_imports(names, library: bool = True) -> int:
    """Import ``names`` (and, if ``library``, every ``helpers`` module, and call ``seed_everything``)
    in a child process that may write bytecode, whatever ``PYTHONDONTWRITEBYTECODE`` says; its return code."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    argv = [sys.executable, "-c", WARM_UP, "library" if library else "names-only", *names]
    return subprocess.run(argv, env=env).returncode


def main() -> int:
    start = time.perf_counter()
    dirs = list(package_dirs(PACKAGES))
    ok = all(compileall.compile_dir(d, quiet=1, workers=0) for d in dirs)
    print(f"compiled the bytecode of {len(dirs)} packages in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    code = warm_imports(IMPORTED)
    print(f"cached the bytecode of the modules the book imports in {time.perf_counter() - start:.1f} s")
    return 0 if ok and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
