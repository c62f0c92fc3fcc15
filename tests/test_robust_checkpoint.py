"""The committed MNIST checkpoints of scripts/train_mnist_robust.py load and reach the accuracy their logs report."""

import pytest
import torch
from offline_data import needs

from helpers import data
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.metrics import accuracy
from helpers.torch.models import load_mnist_classifier
from helpers.torch.params import count_params

NAMES = ["mnist_cnn_standard", "mnist_cnn_pgd"]


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_loads_and_its_log_is_complete(name):
    model, log = load_mnist_classifier(name)
    assert count_params(model) == log["model"]["parameters"]
    assert len(log["history"]["loss"]) == log["epochs"]
    assert log["train_seconds"] > 0
    assert set(log["pgd_acc_first1000"]) == {"0.1", "0.2", "0.3"}
    assert 0.95 < log["clean_acc_test"] <= 1.0


def test_the_logs_show_what_adversarial_training_bought():
    _, standard = load_checkpoint("mnist_cnn_standard")
    _, robust = load_checkpoint("mnist_cnn_pgd")
    assert standard["adversarial_training"] is None
    assert robust["adversarial_training"]["eps"] >= 0.2
    assert standard["pgd_acc_first1000"]["0.2"] < 0.05
    assert robust["pgd_acc_first1000"]["0.2"] >= 0.7
    assert robust["train_seconds"] > standard["train_seconds"]


@needs("mnist", "test")
@pytest.mark.parametrize("name", NAMES)
def test_clean_accuracy_on_1000_test_digits_matches_the_log(name):
    model, log = load_mnist_classifier(name)
    test = data.load_mnist("test", download=False)
    x = torch.from_numpy(test.x[:1000]).float().div(255).unsqueeze(1)
    y = torch.from_numpy(test.y[:1000])
    assert accuracy(model, x, y) == pytest.approx(log["clean_acc_first1000"], abs=0.01)
