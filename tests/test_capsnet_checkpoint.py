"""The committed capsule network and its CNN baseline (scripts/train_capsnet.py) score what their logs report."""

import numpy as np
import pytest
import torch

from helpers import data
from helpers.numpy.capsules import dynamic_routing
from helpers.torch.capsules import TinyCapsNet
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.metrics import logits_in_slices
from helpers.torch.models import mnist_classifier
from helpers.torch.params import count_params


def _mnist_test():
    try:
        test = data.load_mnist("test", download=False)
    except data.DataUnavailableError:
        pytest.skip("MNIST is not available offline")
    return torch.from_numpy(test.x).float().div(255)[:, None], torch.from_numpy(test.y).long()


@pytest.mark.parametrize("name", ["capsnet_mnist", "capsnet_cnn_baseline"])
def test_checkpoint_reproduces_logged_accuracy(name):
    x, y = _mnist_test()
    state, log = load_checkpoint(name)
    net = TinyCapsNet() if log["model"] == "capsnet" else mnist_classifier(**log["config"])
    net.load_state_dict(state)
    net.eval()
    run = next(r for r in log["runs"] if r["model"] == log["model"] and r["seed"] == log["seed"])
    assert count_params(net) == run["parameters"]
    with torch.no_grad():
        out = logits_in_slices(net, x)        # cache-sized slices of 128 images: the same outputs, faster
    scores = out.norm(dim=-1) if log["model"] == "capsnet" else out
    acc = (scores.argmax(1) == y).float().mean().item()
    assert abs(acc - log["test_acc"]) <= 2 / len(y)           # float16 round trip / BLAS: at most 2 images flip
    assert abs(run["test_acc"] - log["test_acc"]) < 0.01
    assert len({r["seed"] for r in log["runs"]}) >= 3


def test_numpy_routing_reproduces_the_trained_network():
    x, y = _mnist_test()
    state, _ = load_checkpoint("capsnet_mnist")
    net = TinyCapsNet()
    net.load_state_dict(state)
    with torch.no_grad():
        _, u_hat, v, c = net.eval().capsules(x[:64])
    v_np, c_np = dynamic_routing(u_hat.double().numpy(), net.iterations)
    np.testing.assert_allclose(v_np, v.double().numpy(), atol=1e-5)
    np.testing.assert_allclose(c_np, c.double().numpy(), atol=1e-5)
