"""helpers.torch.models.deep_mlp, helpers.torch.training.train_deep_mlp, and the committed log of
scripts/activation_depth.py (the activation lesson's depth experiment over 3 seeds)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs
from torch import nn

from helpers.machine import same_build
from helpers.seeding import torch_threads
from helpers.torch.checkpoints import load_log
from helpers.torch.models import DEEP_MLP_ACTIVATIONS, deep_mlp
from helpers.torch.training import train_deep_mlp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import activation_depth as script  # noqa: E402


def test_deep_mlp_layers_and_initialization():
    torch.manual_seed(0)
    net = deep_mlp("tanh", depth=4, width=32)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert len(linears) == 5 and sum(isinstance(m, nn.Tanh) for m in net) == 4
    assert linears[0].weight.shape == (32, 784) and linears[-1].weight.shape == (10, 32)
    assert all(float(m.bias.detach().abs().max()) == 0 for m in linears[:-1])
    # Xavier-normal std sqrt(2 / (fan_in + fan_out)) for tanh, He-normal sqrt(2 / fan_in) for ReLU
    assert linears[1].weight.std().item() == pytest.approx((2 / 64) ** 0.5, rel=0.15)
    torch.manual_seed(0)
    relu = [m for m in deep_mlp("ReLU", depth=4, width=32) if isinstance(m, nn.Linear)]
    assert relu[1].weight.std().item() == pytest.approx((2 / 32) ** 0.5, rel=0.15)
    with pytest.raises(ValueError, match="activation must be one of"):
        deep_mlp("swish")


def _toy(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 20, generator=g) + 2.0 * y[:, None].float()
    return x, y


def test_train_deep_mlp_separates_an_easy_task_reproducibly_and_shows_the_sigmoid_gradient_decay():
    x, y = _toy()
    xt, yt = _toy(seed=1)
    a = train_deep_mlp("ReLU", 3, x, y, xt, yt, seed=0, epochs=3)
    b = train_deep_mlp("ReLU", 3, x, y, xt, yt, seed=0, epochs=3)
    assert a == b and a["acc"] > 0.9 and len(a["grads"]) == 4 and 0 <= a["dead"] <= 1
    deep = train_deep_mlp("sigmoid", 10, x, y, xt, yt, seed=0, epochs=1)
    assert deep["grads"][0] < 1e-2 * deep["grads"][-2]       # vanishing towards the input
    with pytest.raises(ValueError, match="flat"):
        train_deep_mlp("ReLU", 3, x.reshape(-1, 4, 5), y, xt, yt, seed=0)


def test_log_holds_every_configuration_and_seed():
    log = load_log("activation_depth")
    seeds = log["args"]["seeds"]
    assert len(seeds) >= 3
    keys = {(r["activation"], r["depth"], r["seed"]) for r in log["runs"]}
    assert keys == {(a, 10, s) for a in DEEP_MLP_ACTIVATIONS for s in seeds} | {("sigmoid", 3, s) for s in seeds}
    for r in log["runs"]:
        assert 0.05 < r["acc"] < 1 and len(r["grads"]) == r["depth"] + 1 and 0 <= r["dead"] <= 1
    sigmoid10 = [r["acc"] for r in log["runs"] if (r["activation"], r["depth"]) == ("sigmoid", 10)]
    relu10 = [r["acc"] for r in log["runs"] if (r["activation"], r["depth"]) == ("ReLU", 10)]
    assert max(sigmoid10) < 0.2 < 0.9 < min(relu10)
    assert log["data"]["train_images"] == 10000 and {"torch", "threads"} <= set(log["machine"])


@needs("mnist", "train", "test")
def test_one_logged_run_reruns(tmp_path):
    log = load_log("activation_depth")
    with torch_threads(log["machine"]["threads"]):
        script.main(["--configs", "tanh:10", "--seeds", "1", "--threads", str(log["machine"]["threads"]),
                     "--out", str(tmp_path)])
    (rerun,) = load_log("activation_depth", tmp_path)["runs"]
    logged = next(r for r in log["runs"] if (r["activation"], r["depth"], r["seed"]) == ("tanh", 10, 1))
    exact = same_build(log["machine"])
    assert rerun["acc"] == pytest.approx(logged["acc"], abs=0.0 if exact else 0.01)
    np.testing.assert_allclose(rerun["grads"], logged["grads"], rtol=1e-5 if exact else 1e-3)


def test_unknown_activations_are_refused(capsys):
    with pytest.raises(SystemExit):
        script.main(["--configs", "swish:10"])
    assert "unknown activations ['swish']" in capsys.readouterr().err
