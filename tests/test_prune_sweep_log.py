"""The committed log of scripts/prune_sweep.py (the deployment lesson's pruning sweep), re-checked."""

import sys
from pathlib import Path

import pytest
from offline_data import needs

from helpers.seeding import torch_threads
from helpers.torch.checkpoints import load_log

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import prune_sweep as script  # noqa: E402


def test_log_holds_every_setting_and_reads_as_the_lesson_says():
    log = load_log("prune_sweep")
    acc = {(r["method"], r["amount"]): r["test_acc"] for r in log["runs"]}
    assert set(acc) == {(m, a) for m in ("unstructured", "structured") for a in log["args"]["amounts"]}
    for r in log["runs"]:
        assert r["sparsity"] == pytest.approx(r["amount"], abs=0.01)      # pruned fraction of all weights
    assert acc["unstructured", 0.25] > acc["unstructured", 0.5] > acc["unstructured", 0.75]
    assert acc["structured", 0.25] < acc["unstructured", 0.25] - 0.2      # whole filters cost more
    assert log["data"]["test_images"] == 2000 and {"torch", "threads"} <= set(log["machine"])


@needs("cifar10", "test")
def test_one_logged_setting_reruns(tmp_path):
    log = load_log("prune_sweep")
    with torch_threads(log["machine"]["threads"]):
        script.main(["--methods", "structured", "--amounts", "0.1", "--threads", str(log["machine"]["threads"]),
                     "--out", str(tmp_path)])
    (rerun,) = load_log("prune_sweep", tmp_path)["runs"]
    logged = next(r for r in log["runs"] if (r["method"], r["amount"]) == ("structured", 0.1))
    assert rerun["sparsity"] == pytest.approx(logged["sparsity"], abs=1e-9)
    assert rerun["test_acc"] == pytest.approx(logged["test_acc"], abs=1e-3)   # 2 images of 2,000 at most


def test_unknown_methods_are_refused(capsys):
    with pytest.raises(SystemExit):
        script.main(["--methods", "random"])
    assert "methods must be unstructured and/or structured" in capsys.readouterr().err
