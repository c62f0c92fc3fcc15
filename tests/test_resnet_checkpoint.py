"""The committed checkpoints load into today's model code and still score what their logs recorded."""

import pytest
from torch.utils.data import DataLoader

from helpers import data
from helpers.checkpoints import load_checkpoint
from helpers.resnet import CifarResNet, count_parameters
from helpers.training import ImageDataset, evaluate, image_transform


def _have_cifar10_test():
    try:
        data.load_cifar10("test", download=False)
    except data.DataUnavailableError:
        return False
    return True


def test_resnet_checkpoint_matches_its_log():
    state, log = load_checkpoint("resnet20_cifar10")
    model = CifarResNet(log["model"]["depth"], width=log["model"]["width"])
    model.load_state_dict(state)  # strict: every name and shape must match today's model
    assert count_parameters(model) == log["model"]["parameters"]
    assert len(log["history"]["train_loss"]) == log["args"]["epochs"]
    assert len(log["data"]["mean"]) == 3 and len(log["data"]["std"]) == 3


@pytest.mark.skipif(not _have_cifar10_test(), reason="set CNN_BOOK_DATA to the offline data folder")
def test_resnet_checkpoint_reaches_the_logged_test_accuracy():
    state, log = load_checkpoint("resnet20_cifar10")
    model = CifarResNet(log["model"]["depth"], width=log["model"]["width"])
    model.load_state_dict(state)
    test = data.load_cifar10("test", download=False)
    loader = DataLoader(ImageDataset(test.x, test.y, image_transform(log["data"]["mean"], log["data"]["std"])),
                        batch_size=500)
    _, acc = evaluate(model, loader, device="cpu")
    assert acc == pytest.approx(log["test_acc_float16_weights"], abs=0.002)
    assert acc > 0.74
