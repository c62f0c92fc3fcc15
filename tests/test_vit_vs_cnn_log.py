"""The committed log and checkpoints of scripts/vit_vs_cnn.py: the saved CNN and ViT score what the log says."""

import json

import numpy as np
import pytest
import torch

from helpers import data
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint
from helpers.torch.models import Normalize, cifar_cnn
from helpers.torch.params import count_params
from helpers.torch.vit import SmallViT


def _test_subset(n):
    """The script's fixed test subset: per class one seeded permutation, the first n/10 images."""
    test = data.load_cifar10("test", download=False)
    rng = np.random.default_rng(0)
    classes = np.unique(test.y)
    order = {c: rng.permutation(np.flatnonzero(test.y == c)) for c in classes}
    pick = np.sort(np.concatenate([order[c][: n // len(classes)] for c in classes]))
    x = torch.from_numpy(test.x[pick]).permute(0, 3, 1, 2).float().div_(255)
    return x, torch.from_numpy(test.y[pick]).long()


def _build(log):
    cfg = log["config"]
    body = cifar_cnn(cfg["width"]) if log["model"] == "cnn" else SmallViT(dim=cfg["vit_dim"], depth=cfg["vit_depth"],
                                                                          heads=cfg["vit_heads"], mlp_ratio=2)
    return torch.nn.Sequential(Normalize(log["mean"], log["std"]), body)


def _summary():
    return json.loads((checkpoint_dir() / "vit_vs_cnn.json").read_text())


def test_log_is_complete_and_fair():
    s = _summary()
    runs = s["runs"]
    assert {r["model"] for r in runs} == {"cnn", "vit"}
    assert len({r["seed"] for r in runs}) >= 3 and len({r["train_images"] for r in runs}) >= 3
    # the same budget for both models: same steps, same sizes, same seeds
    keys = {m: sorted((r["train_images"], r["seed"]) for r in runs if r["model"] == m) for m in ("cnn", "vit")}
    assert keys["cnn"] == keys["vit"]
    assert 0.8 < s["parameters"]["cnn"] / s["parameters"]["vit"] < 1.25
    for r in runs:
        assert 0.2 < r["test_acc"] < 0.9 and r["epochs"] == round(s["args"]["steps"] * s["args"]["batch_size"]
                                                                   / r["train_images"], 2)


@pytest.mark.parametrize("model", ["cnn", "vit"])
def test_checkpoint_reproduces_logged_accuracy(model):
    try:
        x, y = _test_subset(_summary()["data"]["test_images"])
    except data.DataUnavailableError:
        pytest.skip("CIFAR-10 is not available offline")
    size = min(r["train_images"] for r in _summary()["runs"])
    state, log = load_checkpoint(f"vit_vs_cnn_{model}_{size}")
    net = _build(log)
    net.load_state_dict(state)
    assert count_params(net) == log["parameters"]
    with torch.no_grad():
        acc = (net.eval()(x).argmax(1) == y).float().mean().item()
    assert abs(acc - log["test_acc"]) <= 1 / len(y) + 1e-9     # at most one image flips (float16 round trip, BLAS)
    run = next(r for r in _summary()["runs"] if r["model"] == model and r["train_images"] == size
               and r["seed"] == log["seed"])
    assert abs(run["test_acc"] - log["test_acc"]) < 0.01       # the float16 copy scores like the trained weights
