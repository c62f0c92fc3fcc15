"""The committed log of scripts/dropout_sweep.py: complete and consistent, and its first epochs re-run."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers.machine import same_build
from helpers.torch.checkpoints import load_log

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dropout_sweep as script  # noqa: E402


@pytest.fixture(scope="module")
def log():
    return load_log("dropout_sweep")


def test_log_holds_every_p_and_seed_with_whole_curves(log):
    args = log["args"]
    assert [(r["p"], r["seed"]) for r in log["runs"]] == [(p, s) for p in args["ps"] for s in args["seeds"]]
    assert args["ps"] == [0.0, 0.25, 0.5] and len(args["seeds"]) == 3
    for r in log["runs"]:
        assert len(r["train_acc"]) == len(r["test_acc"]) == args["epochs"]
        assert all(0.0 <= a <= 1.0 for a in r["train_acc"] + r["test_acc"])
    assert log["data"]["train_images"] == log["data"]["test_images"] == 2000
    assert log["wall_seconds"] > 0 and {"torch", "threads", "cpus"} <= set(log["machine"])


def test_logged_curves_show_what_the_lesson_says(log):
    """The lesson's claims, re-checked on the log: the gap shrinks with p, p = 0.5 leads in every seed."""
    by_p = {p: [r for r in log["runs"] if r["p"] == p] for p in log["args"]["ps"]}
    gap = {p: np.array([r["train_acc"][-1] - r["test_acc"][-1] for r in rs]) for p, rs in by_p.items()}
    last5 = {p: np.array([np.mean(r["test_acc"][-5:]) for r in rs]) for p, rs in by_p.items()}
    assert np.all(gap[0.0] > gap[0.25]) and np.all(gap[0.25] > gap[0.5])
    assert np.all(last5[0.5] > last5[0.0])
    assert round(float(gap[0.0].mean()), 3) == 0.466 and round(float(gap[0.5].mean()), 3) == 0.260


@needs("cifar10", "train")
def test_first_epochs_of_one_run_rerun(log, tmp_path):
    threads = torch.get_num_threads()
    try:
        script.main(["--ps", "0.5", "--seeds", "1", "--epochs", "2", "--threads", str(log["machine"]["threads"]),
                     "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    rerun = load_log("dropout_sweep", tmp_path)["runs"][0]
    logged = next(r for r in log["runs"] if r["p"] == 0.5 and r["seed"] == 1)
    atol = 0.0 if same_build(log["machine"]) else 0.03
    np.testing.assert_allclose(rerun["train_acc"], logged["train_acc"][:2], atol=atol)
    np.testing.assert_allclose(rerun["test_acc"], logged["test_acc"][:2], atol=atol)
