"""helpers.torch.transfer.small_cifar_cnn / train_small_cnn, and the committed log of scripts/transfer_baselines.py."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers.machine import same_build
from helpers.torch.checkpoints import load_log
from helpers.torch.transfer import small_cifar_cnn, train_small_cnn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import transfer_baselines as script  # noqa: E402


def _toy(n=40, seed=0):
    """Two classes a small CNN separates at once: dark images against bright ones."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = 0.2 * torch.rand(n, 3, 32, 32, generator=g) + 0.6 * y[:, None, None, None].float()
    return x, y


def test_small_cifar_cnn_is_seeded_and_sized():
    a, b, c = small_cifar_cnn(5, seed=0), small_cifar_cnn(5, seed=0), small_cifar_cnn(5, seed=1)
    assert a(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    assert torch.equal(a[0].weight, b[0].weight) and not torch.equal(a[0].weight, c[0].weight)


def test_train_small_cnn_learns_an_easy_task_and_is_reproducible():
    x, y = _toy()
    xt, yt = _toy(seed=1)
    first = train_small_cnn(x, y, xt, yt, seed=0, n_classes=2, steps=30, batch_size=10)
    again = train_small_cnn(x, y, xt, yt, seed=0, n_classes=2, steps=30, batch_size=10)
    assert first == again and first > 0.9


def test_train_small_cnn_rejects_images_of_the_wrong_shape():
    x, y = _toy()
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        train_small_cnn(x[:, :1], y, x, y, seed=0)


def test_log_holds_every_shot_and_seed(tmp_path):
    log = load_log("transfer_baselines")
    assert [(r["n_per_class"], r["seed"]) for r in log["runs"]] == [(10, s) for s in (0, 1, 2)] + \
        [(50, s) for s in (0, 1, 2)]
    assert all(0.2 < r["test_acc"] < 1.0 for r in log["runs"])
    accs = {n: np.mean([r["test_acc"] for r in log["runs"] if r["n_per_class"] == n]) for n in (10, 50)}
    assert accs[50] > accs[10]                                 # more labels help the CNN from scratch
    assert log["data"]["test_images"] == 1000 and {"torch", "threads"} <= set(log["machine"])


@needs("cifar10", "train")
def test_one_logged_run_reruns(tmp_path):
    log = load_log("transfer_baselines")
    threads = torch.get_num_threads()
    try:
        script.main(["--shots", "10", "--seeds", "1", "--threads", str(log["machine"]["threads"]),
                     "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    rerun = load_log("transfer_baselines", tmp_path)["runs"][0]["test_acc"]
    logged = next(r["test_acc"] for r in log["runs"] if r["n_per_class"] == 10 and r["seed"] == 1)
    assert rerun == pytest.approx(logged, abs=0.0 if same_build(log["machine"]) else 0.03)
