"""The committed convolution benchmark log (benchmarks/conv2d_speed.py): what it measured, and that the script runs."""

import importlib.util
import json

import pytest

from helpers.committed_files import checkpoint_dir
from helpers.project import repo_root


def _benchmark():
    spec = importlib.util.spec_from_file_location("conv2d_speed", repo_root() / "benchmarks" / "conv2d_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_log_covers_the_benchmark_shapes_including_a_strided_one():
    log = json.loads((checkpoint_dir() / "conv2d_speed.json").read_text())
    shapes = [tuple(r["shape"].values()) for r in log["shapes"]]
    assert shapes == _benchmark().SHAPES and any(s[4] == 2 for s in shapes)
    assert log["rounds"] >= 10 and log["machine"]["cpus"] >= 1 and log["matmul_gflops"] > 0
    for r in log["shapes"]:
        assert 0 < r["ratio_min"] <= r["ratio_median"] <= r["ratio_max"]
        assert r["numpy_ms"] > 0 and r["torch_ms"] > 0
        n, c_in, c_out, size, stride = shapes[log["shapes"].index(r)]
        width = ((size - 1) // stride + 1) * -(-(size + 2) // stride)    # output rows x padded phase width
        assert r["product_gflop"] == pytest.approx(3 * 2 * c_out * c_in * 9 * width * n / 1e9, abs=1e-4)
        parts = r["ms_one_thread"]
        assert parts["columns"] + parts["products"] + parts["scatter"] + parts["rest"] == pytest.approx(
            parts["total"], abs=0.01)


def test_the_script_measures_and_writes_its_log(tmp_path, monkeypatch):
    bench = _benchmark()
    monkeypatch.setattr(bench, "SHAPES", [(2, 1, 2, 6, 1), (2, 2, 3, 7, 2)])
    monkeypatch.setattr(bench.time, "sleep", lambda s: None)
    monkeypatch.setattr(bench, "matmul_rate", lambda **kwargs: 1.0)       # the 2048x2048 product: seconds
    bench.main(["--rounds", "2", "--repeats", "1", "--out", str(tmp_path)])
    log = json.loads((tmp_path / "conv2d_speed.json").read_text())
    assert [tuple(r["shape"].values()) for r in log["shapes"]] == bench.SHAPES
    assert all(r["ratio_min"] <= r["ratio_median"] <= r["ratio_max"] for r in log["shapes"])
