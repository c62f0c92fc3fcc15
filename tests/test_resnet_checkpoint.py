"""The committed checkpoints load into today's model code and still score what their logs recorded."""

import pytest
import torch
from offline_data import needs
from torch.utils.data import DataLoader

from helpers import data
from helpers.torch.loaders import ImageDataset, image_transform
from helpers.torch.params import count_params
from helpers.torch.resnet import load_cifar_resnet
from helpers.torch.training import evaluate


def test_resnet_checkpoint_matches_its_log():
    model, log = load_cifar_resnet("resnet20_cifar10")  # strict: every name and shape must match today's model
    assert count_params(model, trainable_only=True) == log["model"]["parameters"]
    assert len(log["history"]["train_loss"]) == log["args"]["epochs"]
    assert len(log["data"]["mean"]) == 3 and len(log["data"]["std"]) == 3


@needs("cifar10", "test")
def test_resnet_checkpoint_reaches_the_logged_test_accuracy():
    model, log = load_cifar_resnet("resnet20_cifar10")
    test = data.load_cifar10("test", download=False)
    loader = DataLoader(ImageDataset(test.x, test.y, image_transform(log["data"]["mean"], log["data"]["std"])),
                        batch_size=500)
    _, acc = evaluate(model, loader, device="cpu", channels_last=True)   # faster, same predictions
    assert acc == pytest.approx(log["test_acc_float16_weights"], abs=0.002)
    assert acc > 0.74


def test_pixel_input_model_normalizes_with_the_logged_statistics():
    model, log = load_cifar_resnet("resnet20_cifar10")
    pixel_model, _ = load_cifar_resnet("resnet20_cifar10", pixel_input=True)
    assert not pixel_model.training and isinstance(pixel_model.net, type(model))
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    mean = torch.tensor(log["data"]["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(log["data"]["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(pixel_model(x), model((x - mean) / std))


def test_five_class_source_checkpoint_matches_its_log():
    model, log = load_cifar_resnet("resnet20_cifar10_classes01234")
    assert log["args"]["classes"] == [0, 1, 2, 3, 4] and log["model"]["num_classes"] == 5
    assert model.head[-1].out_features == 5
    assert count_params(model, trainable_only=True) == log["model"]["parameters"]


@needs("cifar10", "test")
def test_five_class_source_checkpoint_reaches_its_logged_accuracy_on_its_own_classes():
    model, log = load_cifar_resnet("resnet20_cifar10_classes01234")
    test = data.class_subset(data.load_cifar10("test", download=False), log["args"]["classes"])
    loader = DataLoader(ImageDataset(test.x, test.y, image_transform(log["data"]["mean"], log["data"]["std"])),
                        batch_size=500)
    _, acc = evaluate(model, loader, device="cpu", channels_last=True)   # faster, same predictions
    assert acc == pytest.approx(log["test_acc_float16_weights"], abs=0.002)
