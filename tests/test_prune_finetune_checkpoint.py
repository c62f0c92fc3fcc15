"""The committed pruned-and-fine-tuned ResNet-20 checkpoints keep their sparsity and reach their logged accuracy."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers import data
from helpers.torch.deploy import sparsity
from helpers.torch.metrics import accuracy
from helpers.torch.resnet import load_cifar_resnet

NAMES = ["resnet20_pruned_unstructured75", "resnet20_pruned_structured25"]


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_keeps_its_pruning(name):
    model, log = load_cifar_resnet(name, pixel_input=True)
    amount = log["pruning"]["amount"]
    assert sparsity(model) == pytest.approx(log["sparsity_float16_weights"], abs=1e-4)
    for conv in (m for m in model.modules() if isinstance(m, nn.Conv2d)):
        if log["pruning"]["structured"]:   # whole filters are zero: round(amount * out_channels) of them
            zero_filters = int((conv.weight.flatten(1) == 0).all(dim=1).sum())
            assert zero_filters >= round(amount * conv.out_channels)
        else:
            assert int((conv.weight == 0).sum()) >= round(amount * conv.weight.numel())


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_reaches_the_logged_accuracy(name):
    model, log = load_cifar_resnet(name, pixel_input=True)
    try:
        test = data.load_cifar10("test", download=False)
    except data.DataUnavailableError:
        pytest.skip("set CNN_BOOK_DATA to the offline data folder")
    pick = np.random.default_rng(0).choice(len(test.y), 2000, replace=False)
    x = torch.from_numpy(test.x[pick]).permute(0, 3, 1, 2).float() / 255
    acc = accuracy(model, x, test.y[pick], channels_last=True)   # slices of 128, channels-last: faster
    assert acc == pytest.approx(log["test_acc_float16_weights"], abs=0.002)
    assert acc == pytest.approx(log["test_acc"], abs=0.01)
    assert log["test_acc"] > log["test_acc_before_fine_tuning"]
