"""The committed log of scripts/batch_norm_sweeps.py: consistent, its weights score what it says, one run re-runs."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers import data
from helpers.machine import cpu_name
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.normalization import norm_cnn
from helpers.torch.training import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import batch_norm_sweeps as script  # noqa: E402

needs_data = needs("cifar10", "train")


@pytest.fixture(scope="module")
def checkpoint():
    return load_checkpoint("batch_norm_sweeps")


def test_log_holds_every_configuration_of_the_script(checkpoint):
    _, log = checkpoint
    expected = [(e, n, c) for e, n, c in script.configurations()]
    runs = log["runs"]
    assert [(r["experiment"], r["name"], r["config"]) for r in runs[:len(expected)]] == \
        [(e, n, c) for e, n, c in expected]
    assert len(runs) == len(expected) + 1                     # + GroupNorm at its best rate, batch 2
    gn = {r["config"]["lr"]: max(r["val_acc"]) for r in runs
          if r["experiment"] == "controls" and r["config"]["batch_size"] == 64}
    assert runs[-1]["config"]["lr"] == pytest.approx(max(gn, key=gn.get) * 2 / 64)
    for r in runs:
        epochs = r["config"]["epochs"]
        assert len(r["train_loss"]) == len(r["val_acc"]) == epochs
        steps = np.reshape(r["step_loss"], (epochs, -1))      # the same number of steps in every epoch
        np.testing.assert_allclose(steps.mean(axis=1), r["train_loss"], atol=1e-5)
        assert all(0 <= a <= 1 for a in r["val_acc"])
    for key in ("torch", "threads", "cpus", "processor"):
        assert key in log["machine"]
    assert log["wall_seconds"] > 0


@needs_data
def test_stored_weights_reach_the_logged_validation_accuracy(checkpoint):
    state, log = checkpoint
    model = norm_cnn("BN")
    model.load_state_dict(state)
    run = next(r for r in log["runs"] if r["name"] == log["stored_model"]["run"])
    train_set = data.load_cifar10("train", download=False)
    _, val = script.loaders(train_set, 64, run["config"]["subset"])
    _, acc = evaluate(model, val, device="cpu")
    assert acc == pytest.approx(run["val_acc"][-1], abs=0.01)  # float16 weights


@needs_data
def test_one_configuration_reruns_to_the_logged_numbers(checkpoint):
    _, log = checkpoint
    run = next(r for r in log["runs"] if r["name"] == "GroupNorm lr 0.1 batch 64")   # 114 steps, a few seconds
    threads = torch.get_num_threads()
    torch.set_num_threads(log["machine"]["threads"])
    try:
        _, rerun = script.run(data.load_cifar10("train", download=False), run["config"])
    finally:
        torch.set_num_threads(threads)
    same_setup = log["machine"]["torch"] == torch.__version__ and log["machine"]["cpu"] == cpu_name()
    if same_setup:   # same PyTorch, thread count and CPU: bit for bit (the log rounds step losses to 5 decimals)
        assert rerun["val_acc"] == run["val_acc"]
        assert rerun["train_loss"] == run["train_loss"]
        np.testing.assert_allclose(rerun["step_loss"], run["step_loss"], atol=5e-6, rtol=0)
    else:            # other arithmetic: last-bit differences grow over the SGD steps
        np.testing.assert_allclose(rerun["train_loss"], run["train_loss"], atol=0.05)
        np.testing.assert_allclose(rerun["val_acc"], run["val_acc"], atol=0.08)
