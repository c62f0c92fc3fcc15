"""A fresh Colab session, simulated here: every lesson's set-up cell installs the library from the repository,
and the lessons' data and checkpoints come from the repository, with nothing prepared.

The simulation: a new virtual environment in which the book's library is *not* importable (it sees the
test environment's third-party packages, as Colab has its own torch and NumPy), a stub ``google.colab``
module, no ``CNN_BOOK_DATA``, an empty home directory, a working directory outside the checkout, and the
repository served by a local HTTP server: git's ``url.insteadOf`` sends the set-up cell's
``pip install git+https://github.com/...`` to a bare clone of this checkout, and ``CNN_BOOK_RAW_URL``
sends the downloads of committed files (the DSB2018 file, the checkpoints) to a clone of it.
MNIST and CIFAR-10 come from torchvision's own servers in Colab; with no internet here, the test checks
that their loaders fail with the book's clear message instead.

Runs from a git checkout (it serves the committed HEAD, so commit before running it).
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from local_server import serve

from helpers import project

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (ROOT / ".git").exists() or shutil.which("git") is None,
                                reason="needs a git checkout of the book and git")

DRIVER = textwrap.dedent('''
    import json, sys, importlib, socket
    import google.colab                        # Colab imports it at start-up; the set-up cell checks for it
    report = {"lessons": {}}
    for path in sys.argv[1:]:
        nb = json.load(open(path))
        cell = "".join(nb["cells"][1]["source"])
        code = "\\n".join(line for line in cell.splitlines() if not line.startswith("%"))   # IPython magics
        namespace = {}
        exec(compile(code, path, "exec"), namespace)
        importlib.invalidate_caches()
        report["lessons"][path.rsplit("/", 1)[-1]] = sorted(k for k in namespace if not k.startswith("_"))[:3]
    import helpers
    report["helpers_file"] = helpers.__file__
    from helpers.data import load_dsb2018, data_dir
    ds = load_dsb2018()
    report["dsb2018"] = [list(ds.x.shape), ds.source]
    report["data_dir"] = str(data_dir())
    from helpers.torch.checkpoints import load_checkpoint
    report["checkpoints"] = {}
    for name in CHECKPOINTS:
        state, log = load_checkpoint(name)
        report["checkpoints"][name] = len(state)
    def refuse(*args, **kwargs):
        raise OSError("no internet in this simulation")
    socket.create_connection = refuse
    socket.socket.connect = refuse
    from helpers.data import load_mnist, DataUnavailableError
    try:
        load_mnist("test")
        report["mnist"] = "loaded?"
    except DataUnavailableError as error:
        report["mnist"] = str(error).splitlines()[0]
    print("REPORT " + json.dumps(report))
''')


def test_every_lesson_sets_up_in_a_fresh_colab_session(tmp_path):
    served, home, work, stubs = (tmp_path / d for d in ("served", "home", "work", "stubs"))
    for d in (served, home, work, stubs / "google" / "colab"):
        d.mkdir(parents=True)
    (stubs / "google" / "colab" / "__init__.py").write_text("# a stand-in for Colab's module\n")
    git = lambda *args: subprocess.run(["git", *args], check=True, capture_output=True)  # noqa: E731
    git("clone", "--quiet", "--bare", str(ROOT), str(served / "cnn-book.git"))
    git("-C", str(served / "cnn-book.git"), "update-server-info")             # git's plain-HTTP protocol
    git("clone", "--quiet", str(ROOT), str(served / "raw"))
    httpd = serve(served)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        colab = tmp_path / "colab-venv"
        subprocess.run([sys.executable, "-m", "venv", str(colab)], check=True, capture_output=True)
        python = colab / "bin" / "python"
        # Colab builds the package in an isolated environment with setuptools >= 77 from PyPI (pyproject.toml's
        # build-system); offline, the build uses this environment's setuptools instead of venv's old bundled one.
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", "setuptools"], capture_output=True)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              check=True, capture_output=True, text=True).stdout.strip()
        # Colab's own packages: this environment's site-packages, whose .pth files (the editable install
        # of the book) are not processed there, plus the stub google.colab.
        (Path(site) / "colab_packages.pth").write_text(f"{stubs}\n{sysconfig.get_paths()['purelib']}\n")
        (home / ".gitconfig").write_text(f'[url "{base}/cnn-book.git"]\n\tinsteadOf = {project.REPOSITORY_URL}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CNN_BOOK", "PYTHON", "VIRTUAL_ENV"))}
        env.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"), PIP_NO_BUILD_ISOLATION="0",
                   PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", MPLBACKEND="Agg",
                   **{project.RAW_URL_ENV: f"{base}/raw/"})
        probe = subprocess.run([str(python), "-c", "import importlib.util as u; print(u.find_spec('helpers'))"],
                               env=env, cwd=work, capture_output=True, text=True)
        assert probe.stdout.strip() == "None", "the simulated Colab must start without the book's library"
        checkpoints = sorted(p.stem for p in (ROOT / "book" / "lessons" / "checkpoints").glob("*.pt"))
        driver = work / "driver.py"
        driver.write_text(DRIVER.replace("CHECKPOINTS", repr(checkpoints)))
        lessons = [str(p) for p in sorted((ROOT / "book" / "lessons").glob("*.ipynb"))]
        run = subprocess.run([str(python), str(driver), *lessons], env=env, cwd=work, capture_output=True,
                             text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        report = json.loads(run.stdout.split("REPORT ", 1)[1])
        print(json.dumps(report, indent=1))                 # the simulation's output, for the record
    finally:
        httpd.shutdown()
    assert len(report["lessons"]) == len(lessons) == len(list((ROOT / "book" / "lessons").glob("*.ipynb")))
    assert str(colab) in report["helpers_file"], "the library must come from the install, not the checkout"
    assert report["dsb2018"][0] == [664, 96, 96, 3] and str(home) in report["data_dir"]
    assert (home / "cnn-book-data" / "dsb2018_nuclei_96.npz").is_file()             # downloaded, hash-checked
    assert set(report["checkpoints"]) == set(checkpoints) and all(report["checkpoints"].values())
    assert "MNIST is not in the data folder" in report["mnist"]
