"""The first CIFAR-10 lesson's committed CNN (scripts/train_cifar_cnn.py) loads and scores what its log recorded."""

import pytest
from offline_data import needs
from torch.utils.data import DataLoader

from helpers import data
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.loaders import ImageDataset, image_transform
from helpers.torch.models import cifar_cnn
from helpers.torch.training import evaluate


def test_cifar_cnn_log_describes_an_eight_epoch_run():
    state, log = load_checkpoint("cifar_cnn")
    cifar_cnn().load_state_dict(state)                     # strict: today's model has the same names and shapes
    assert len(log["history"]["val_acc"]) == log["args"]["epochs"] == 8
    assert log["history"]["val_acc"][-1] > log["history"]["val_acc"][0]
    assert {"threads", "cpus", "torch"} <= set(log["machine"])


@needs("cifar10", "test")
def test_cifar_cnn_reaches_the_logged_test_accuracy():
    state, log = load_checkpoint("cifar_cnn")
    model = cifar_cnn()
    model.load_state_dict(state)
    test = data.load_cifar10("test", download=False)
    loader = DataLoader(ImageDataset(test.x, test.y, image_transform(log["data"]["mean"], log["data"]["std"])),
                        batch_size=1000)
    _, acc = evaluate(model, loader, device="cpu", channels_last=True)   # faster, same predictions
    assert acc == pytest.approx(log["test_acc_float16_weights"], abs=0.002)
    assert acc > 0.6
