"""The library's shape: the NumPy half never imports PyTorch, packaging declares what the code imports,
every module says what it holds, and the book's repository is named in one place."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from helpers import project

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "helpers"
# import name -> distribution name, for what the library imports
DISTRIBUTIONS = {"numpy": "numpy", "torch": "torch", "torchvision": "torchvision", "tqdm": "tqdm",
                 "matplotlib": "matplotlib", "ipywidgets": "ipywidgets", "IPython": "ipython",
                 "skimage": "scikit-image", "PIL": "pillow", "optuna": "optuna", "scipy": "scipy"}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", ["helpers.numpy." + p.stem for p in sorted((SRC / "numpy").glob("[a-z]*.py"))]
                         + ["helpers.data", "helpers.checks", "helpers.project", "helpers.seeding"])
def test_numpy_half_imports_without_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch was imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_numpy_half_never_names_torch_at_module_level():
    for path in (SRC / "numpy").glob("*.py"):
        top = {n.names[0].name.split(".")[0] for n in ast.parse(path.read_text()).body if isinstance(n, ast.Import)}
        top |= {n.module.split(".")[0] for n in ast.parse(path.read_text()).body
                if isinstance(n, ast.ImportFrom) and n.module}
        assert "torch" not in top, path.name


def test_pyproject_declares_every_third_party_import_with_requirements_floors():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {}
    for spec in meta["dependencies"] + [s for extra in meta["optional-dependencies"].values() for s in extra]:
        m = re.match(r"([A-Za-z0-9_.-]+)(.*)", spec)
        declared[m.group(1).lower()] = m.group(2)
    floors = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        m = re.match(r"([A-Za-z0-9_.-]+)(>=[^\s#]+)", line)
        if m:
            floors[m.group(1).lower()] = m.group(2)
    stdlib = set(sys.stdlib_module_names) | {"helpers"}
    used = set().union(*(_imports(p) for p in _modules())) - stdlib
    assert used <= set(DISTRIBUTIONS), f"unmapped imports: {used - set(DISTRIBUTIONS)}"
    for name in used:
        dist = DISTRIBUTIONS[name].lower()
        assert dist in declared, f"{name} is imported by the library but {dist} is not in pyproject.toml"
        if dist in floors:
            assert declared[dist] == floors[dist], f"{dist}: pyproject {declared[dist]} vs requirements {floors[dist]}"


def test_every_module_has_a_docstring_and_names_no_lesson_number():
    for path in _modules():
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{path.relative_to(ROOT)} has no module docstring"
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                doc = ast.get_docstring(node) or ""
                assert not re.search(r"\bLesson \d", doc), f"{path.name}: a docstring cites a lesson number"


def test_no_private_name_is_imported_across_modules():
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.relative_to(ROOT)} imports {private} from {node.module}"


def test_repository_is_named_once():
    assert project.REPOSITORY_URL == f"https://github.com/{project.REPOSITORY}"
    config = (ROOT / "_config.yml").read_text()
    assert f"url: {project.REPOSITORY_URL}\n" in config
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == project.REPOSITORY_URL
    for path in _modules():
        if path.name != "project.py":
            assert "github.com" not in path.read_text() and "githubusercontent" not in path.read_text(), path.name
    for nb_path in sorted((ROOT / "book").rglob("*.ipynb")):
        for cell in json.loads(nb_path.read_text())["cells"]:
            for url in re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", "".join(cell["source"])):
                assert url == project.REPOSITORY_URL, f"{nb_path.name} names {url}"


def test_raw_url_and_repo_root(monkeypatch):
    monkeypatch.setenv(project.RAW_URL_ENV, "http://127.0.0.1:8000/mirror/")
    assert project.raw_url("data/x.npz") == "http://127.0.0.1:8000/mirror/data/x.npz"
    monkeypatch.delenv(project.RAW_URL_ENV)
    assert project.raw_url("data/README.md").endswith(f"/{project.REPOSITORY}/{project.BRANCH}/data/README.md")
    with pytest.raises(ValueError, match="relative"):
        project.raw_url("/etc/passwd")
    assert project.repo_root() == ROOT


def test_a_fork_changes_one_line_and_the_script_writes_it_everywhere(tmp_path):
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for rel in ("_config.yml", "pyproject.toml", "src/helpers/project.py", "book/lessons/01_convolution.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, tmp_path / rel)
    project_py = tmp_path / "src/helpers/project.py"
    project_py.write_text(project_py.read_text().replace('REPOSITORY = "cnn-book/cnn-book"',
                                                         'REPOSITORY = "someone/their-fork"'))
    result = subprocess.run([sys.executable, str(root / "tools" / "set_repository.py"), "--root", str(tmp_path)],
                            capture_output=True, text=True, check=True)
    assert "someone/their-fork" in result.stdout
    assert "url: https://github.com/someone/their-fork\n" in (tmp_path / "_config.yml").read_text()
    assert 'Repository = "https://github.com/someone/their-fork"' in (tmp_path / "pyproject.toml").read_text()
    notebook = (tmp_path / "book/lessons/01_convolution.ipynb").read_text()
    assert "git+https://github.com/someone/their-fork" in notebook and "cnn-book/cnn-book" not in notebook


def test_lesson_notebooks_are_small_enough_to_download():
    root = Path(__file__).resolve().parents[1]
    sizes = {p.name: p.stat().st_size for p in sorted((root / "book" / "lessons").glob("*.ipynb"))}
    assert len(sizes) >= 12
    too_big = {name: f"{size / 1e6:.2f} MB" for name, size in sizes.items() if size > 2_000_000}
    assert not too_big, f"lesson notebooks over 2 MB: {too_big}"
    assert sum(sizes.values()) < 15_000_000, f"all lessons together: {sum(sizes.values()) / 1e6:.1f} MB"
    for name in sizes:                            # no stored widgets: they show as interactive(...) off-line
        nb = json.loads((root / "book" / "lessons" / name).read_text())
        assert "widgets" not in nb["metadata"], name
        assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                       for c in nb["cells"] for o in c.get("outputs", [])), name
