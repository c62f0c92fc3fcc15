"""The committed NumPy MNIST checkpoint of scripts/train_mnist_numpy.py: past 99% on the full test set, as logged."""

import numpy as np
import pytest
from offline_data import needs

from helpers import data
from helpers.numpy.checkpoints import load_numpy_checkpoint
from helpers.numpy.training import evaluate
from helpers.numpy.wide_cnn import mnist_cnn_wide

NAME = "mnist_numpy_99"


def _network(log):
    return mnist_cnn_wide(seed=0, channels=tuple(log["model"]["channels"]), hidden=log["model"]["hidden"])


def test_the_log_is_complete_and_reports_three_seeds_past_99_percent():
    weights, log = load_numpy_checkpoint(NAME)
    net = _network(log)
    net.load_weights(weights)
    assert net.num_parameters() == log["model"]["parameters"]
    runs = log["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2] and log["checkpoint_seed"] == 0
    for r in runs:
        assert len(r["train_loss"]) == len(r["val_acc"]) == len(r["epoch_seconds"]) == log["args"]["epochs"]
        assert r["test_acc"] >= 0.99 and 0 < r["train_seconds"] <= 120     # the issue: >= 99% within 2 minutes
    accs = np.array([r["test_acc"] for r in runs])
    assert log["summary"]["test_acc_mean"] == pytest.approx(accs.mean(), abs=1e-12)
    assert log["summary"]["test_acc_sd"] == pytest.approx(accs.std(ddof=1), abs=1e-12)
    assert log["data"] == {"train": 55000, "val": 5000, "test": 10000, "val_split": log["data"]["val_split"]}
    machine = log["machine"]
    assert machine["cpu_count"] >= 1 and machine["numpy"] and machine["blas_threads"] >= 1
    assert sum(w.nbytes for w in weights.values()) < 2e6


@needs("mnist", "test")
def test_the_committed_weights_reach_the_logged_test_accuracy():
    weights, log = load_numpy_checkpoint(NAME)
    net = _network(log)
    net.load_weights(weights)
    test = data.load_mnist("test", download=False)
    _, acc = evaluate(net, data.normalize_mnist(test.x), test.y, batch_size=1000)
    assert acc == pytest.approx(log["checkpoint_test_acc"], abs=0.001)
    assert acc >= 0.99
