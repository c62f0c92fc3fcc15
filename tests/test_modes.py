"""Train/eval mode handling: eval_mode, preserve_mode, ensure_training, and every library function that
switches a model's mode gives each submodule its own mode back (a deliberately frozen batch norm stays frozen)."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.torch.architectures import summarize
from helpers.torch.attacks import adversarial_train_epoch, fgsm, pgd
from helpers.torch.metrics import accuracy, count_correct, model_device, predict, predict_labels
from helpers.torch.modes import ensure_training, eval_mode, preserve_mode, set_frozen_bn_eval
from helpers.torch.training import evaluate, train_epoch
from helpers.torch.transfer import extract_features, fine_tune
from helpers.torch.unet import UNet, predict_probs


def classifier():
    """A tiny image classifier with a batch norm and a dropout, in train mode, its batch norm put in eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.2),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    model.train()
    model[1].eval()  # a deliberately frozen batch norm inside a training model
    return model


def data(n=12):
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.arange(n) % 3


def modes(model):
    return [m.training for m in model.modules()]


def test_eval_mode_restores_nested_flags_and_requires_grad():
    model = classifier()
    before = modes(model)
    grads = [p.requires_grad for p in model.parameters()]
    model[0].bias.requires_grad_(False)  # a frozen parameter must stay frozen
    grads[1] = False
    with eval_mode(model, freeze=True) as m:
        assert m is model and not any(modes(model))
        assert not any(p.requires_grad for p in model.parameters())
    assert modes(model) == before and model.training and not model[1].training
    assert [p.requires_grad for p in model.parameters()] == grads
    with eval_mode(model):  # without freeze the parameters keep requiring gradients
        assert [p.requires_grad for p in model.parameters()] == grads


def test_eval_mode_restores_on_exception():
    model = classifier()
    before = modes(model)
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model, freeze=True):
        raise RuntimeError("boom")
    assert modes(model) == before
    assert all(p.requires_grad for p in model.parameters())


def test_eval_mode_passes_plain_functions_through():
    def f(x):
        return x

    with eval_mode(f, freeze=True) as g:
        assert g is f


def test_preserve_mode_and_ensure_training():
    model = classifier()
    before = modes(model)
    with pytest.raises(ValueError), preserve_mode(model):
        model.eval()
        raise ValueError
    assert modes(model) == before
    assert ensure_training(model) is model and modes(model) == before  # already training: untouched
    model.eval()
    ensure_training(model)
    assert all(modes(model))                                            # eval -> everything in train mode


def test_set_frozen_bn_eval_only_touches_frozen_batch_norms():
    model = classifier()
    model.train()
    assert set_frozen_bn_eval(model) == 0
    for p in model[1].parameters():
        p.requires_grad_(False)
    assert set_frozen_bn_eval(model) == 1 and not model[1].training and model[0].training


def test_count_correct_and_model_device():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]])
    assert count_correct(logits, torch.tensor([0, 1, 1])) == 2
    with pytest.raises(ValueError, match="labels"):
        count_correct(logits, torch.tensor([0, 1]))
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu") == model_device(nn.ReLU())


def _evaluate(model, x, y):
    evaluate(model, DataLoader(TensorDataset(x, y), batch_size=5))


def _predict(model, x, y):
    predict(model, DataLoader(TensorDataset(x, y), batch_size=5))


def _summarize(model, x, y):
    summarize(model, (1, 1, 8, 8), repeats=1)


def _fine_tune(model, x, y):
    fine_tune(model, x, y, torch.optim.SGD(model.parameters(), lr=0.01), steps=2, batch_size=4)


@pytest.mark.parametrize("call", [
    _evaluate,
    _predict,
    lambda model, x, y: predict_labels(model, x),
    lambda model, x, y: accuracy(model, x, y),
    _summarize,
    lambda model, x, y: extract_features(model, x),
    lambda model, x, y: fgsm(model, x, y, 0.1),
    lambda model, x, y: pgd(model, x, y, 0.1, steps=2),
    _fine_tune,
], ids=["evaluate", "predict", "predict_labels", "accuracy", "summarize", "extract_features", "fgsm", "pgd",
        "fine_tune"])
def test_functions_keep_a_frozen_batch_norm_frozen(call):
    model = classifier()
    before = modes(model)
    x, y = data()
    call(model, x, y)
    assert modes(model) == before
    assert model.training and not model[1].training


def test_predict_probs_keeps_a_frozen_batch_norm_frozen():
    torch.manual_seed(0)
    model = UNet(width=4, depth=1).train()
    model.down[0][1].eval()
    before = modes(model)
    predict_probs(model, torch.rand(2, 3, 8, 8), tta=True)
    assert modes(model) == before and not model.down[0][1].training


def test_training_loops_keep_a_frozen_batch_norm_frozen():
    x, y = data()
    model = classifier()
    train_epoch(model, DataLoader(TensorDataset(x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.01),
                progress=False)
    assert model.training and not model[1].training
    adversarial_train_epoch(model, [(x, y)], torch.optim.SGD(model.parameters(), lr=0.01), 0.1, steps=1)
    assert model.training and not model[1].training
    model.eval()  # a model in eval mode is switched to training mode entirely
    train_epoch(model, DataLoader(TensorDataset(x, y), batch_size=4), torch.optim.SGD(model.parameters(), lr=0.01),
                progress=False)
    assert all(modes(model))
