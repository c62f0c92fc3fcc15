"""The committed log of scripts/overfitting_curves.py: complete, shows what lesson 4 says, its first epoch reruns."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers import data
from helpers.machine import same_build
from helpers.torch.checkpoints import load_log

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import overfitting_curves as script  # noqa: E402


@pytest.fixture(scope="module")
def log():
    return load_log("overfitting_curves")


def test_log_holds_both_settings_for_every_seed_with_whole_histories(log):
    seeds, epochs = log["args"]["seeds"], log["args"]["epochs"]
    assert [(r["augment"], r["seed"]) for r in log["runs"]] == [(a, s) for a in (False, True) for s in seeds]
    assert len(seeds) == 3
    for r in log["runs"]:
        h = r["history"]
        assert len(h["train_loss"]) == len(h["val_loss"]) == len(h["train_acc"]) == len(h["val_acc"]) == epochs
    assert log["wall_seconds"] > 0 and {"torch", "threads", "cpus"} <= set(log["machine"])


def test_logged_runs_show_what_the_lesson_says(log):
    runs = {(r["augment"], r["seed"]): r["history"] for r in log["runs"]}
    for seed in log["args"]["seeds"]:
        plain, augmented = runs[False, seed], runs[True, seed]
        assert plain["val_loss"][-1] > 1.1 * min(plain["val_loss"])              # the validation loss turned up
        plain_gap = plain["train_acc"][-1] - plain["val_acc"][-1]
        assert plain_gap > 0.25
        assert augmented["train_acc"][-1] - augmented["val_acc"][-1] < plain_gap - 0.15


@needs("cifar10", "train")
def test_first_epoch_of_one_run_reruns(log):
    threads = torch.get_num_threads()
    torch.set_num_threads(log["machine"]["threads"])
    try:
        history = script.small_run(data.load_cifar10("train"), augment=False, seed=1, epochs=1)
    finally:
        torch.set_num_threads(threads)
    logged = next(r["history"] for r in log["runs"] if not r["augment"] and r["seed"] == 1)
    atol = 0.0 if same_build(log["machine"]) else 0.02
    np.testing.assert_allclose(history.val_loss, logged["val_loss"][:1], atol=atol)
    np.testing.assert_allclose(history.train_acc, logged["train_acc"][:1], atol=atol)
