"""helpers.torch.normalization: normalization layers against PyTorch's functional forms, the CNN's layout, the run."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from helpers.torch.normalization import NORMS, norm_cnn, norm_layer, seeded_run, train_logged


@pytest.mark.parametrize("shape", [(4, 8, 5, 5), (2, 16, 3, 7), (1, 8, 1, 1)])
def test_norm_layers_match_functional_references(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64) * 3 + 1
    c = shape[1]
    refs = {"none": x,
            "LayerNorm": F.layer_norm(x, x.shape[1:]),
            "GroupNorm": F.group_norm(x, 4),
            "LRN": F.local_response_norm(x, 5, alpha=1e-4, beta=0.75, k=2.0)}
    if shape[0] * shape[2] * shape[3] > 1:
        refs["BN"] = F.batch_norm(x, None, None, training=True)
    for kind, ref in refs.items():
        layer = norm_layer(kind, c).double().train()
        torch.testing.assert_close(layer(x), ref, rtol=1e-10, atol=1e-10)


def test_layernorm_kind_ignores_the_batch_and_bn_does_not():
    torch.manual_seed(1)
    x = torch.randn(6, 8, 4, 4)
    for kind in ("LayerNorm", "GroupNorm", "LRN"):
        layer = norm_layer(kind, 8).train()
        torch.testing.assert_close(layer(x[:1]), layer(x)[:1])
    bn = norm_layer("BN", 8).train()
    assert not torch.allclose(bn(x[:2])[:1], bn(x)[:1])


def _expected_params(norm, width=16, hidden=0, output_bn=False, where="before", dense_norm=None):
    total, c_in = 0, 3
    for c_out in (width, 2 * width, 4 * width):
        bias = not (norm in ("BN", "LayerNorm", "GroupNorm") and where == "before")
        total += 9 * c_in * c_out + (c_out if bias else 0)
        total += 2 * c_out if norm in ("BN", "LayerNorm", "GroupNorm") else 0
        c_in = c_out
    if hidden:
        total += c_in * hidden + (hidden if dense_norm == "none" else 2 * hidden)
        c_in = hidden
    total += c_in * 10 + 10
    return total + (20 if output_bn else 0)


@pytest.mark.parametrize("options", [dict(norm="BN"), dict(norm="none"), dict(norm="LRN"),
                                     dict(norm="GroupNorm", width=8), dict(norm="BN", where="after"),
                                     dict(norm="BN", hidden=64),
                                     dict(norm="BN", hidden=32, dense_norm="none"), dict(norm="LayerNorm", hidden=16),
                                     dict(norm="BN", output_bn=True)])
def test_norm_cnn_layout_and_parameter_count(options):
    net = norm_cnn(**options)
    n = sum(p.numel() for p in net.parameters())
    assert n == _expected_params(**options)
    out = net.train()(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 10)
    convs = [m for m in net if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    kinds = [type(m).__name__ for m in net]
    first_relu, first_norm = kinds.index("ReLU"), kinds.index(type(norm_layer(options["norm"], 16)).__name__)
    assert (first_norm < first_relu) == (options.get("where", "before") == "before")
    assert isinstance(net[-1], nn.BatchNorm1d) == options.get("output_bn", False)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="norm must be one of"):
        norm_layer("batchnorm", 8)
    with pytest.raises(ValueError, match="multiple of 4"):
        norm_layer("GroupNorm", 6)
    with pytest.raises(ValueError, match="where must be"):
        norm_cnn("BN", where="middle")
    with pytest.raises(ValueError, match="hidden must be"):
        norm_cnn("BN", hidden=-1)
    with pytest.raises(ValueError, match="width must be"):
        norm_cnn("BN", width=6)
    with pytest.raises(ValueError, match="dense_norm"):
        norm_cnn("BN", hidden=8, dense_norm="BN")
    with pytest.raises(ValueError, match="lr must be"):
        train_logged(norm_cnn("BN"), [], [], lr=0.0)
    with pytest.raises(ValueError, match="epochs must be"):
        train_logged(norm_cnn("BN"), [], [], lr=0.1, epochs=0)
    with pytest.raises(ValueError, match="generator"):
        seeded_run("BN", 0.1, (DataLoader(TensorDataset(torch.zeros(2, 3, 8, 8), torch.zeros(2).long())), None))
    assert set(NORMS) == {"none", "BN", "LayerNorm", "GroupNorm", "LRN"}


def _toy_loaders(seed=0):
    """Ten classes told apart by their colour (a fixed offset per channel): learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat(16)
    colours = torch.randn(10, 3, generator=g) * 1.5
    x = torch.randn(len(y), 3, 16, 16, generator=g) * 0.3 + colours[y][:, :, None, None]
    train = DataLoader(TensorDataset(x[:120], y[:120]), batch_size=20, shuffle=True,
                       generator=torch.Generator().manual_seed(123))
    val = DataLoader(TensorDataset(x[120:], y[120:]), batch_size=40)
    return train, val


def test_seeded_run_is_reproducible_logs_every_step_and_learns():
    torch.set_num_threads(1)
    loaders = _toy_loaders()
    model_a, log_a = seeded_run("BN", 0.1, loaders, epochs=3, seed=0, width=4)
    _, log_b = seeded_run("BN", 0.1, loaders, epochs=3, seed=0, width=4)
    _, log_c = seeded_run("BN", 0.1, loaders, epochs=3, seed=1, width=4)
    assert len(log_a["step_loss"]) == 3 * 6 and len(log_a["train_loss"]) == 3 and len(log_a["val_acc"]) == 3
    assert log_a["step_loss"] == log_b["step_loss"] and log_a["val_acc"] == log_b["val_acc"]
    assert log_a["step_loss"] != log_c["step_loss"]
    np.testing.assert_allclose(log_a["train_loss"], np.mean(np.reshape(log_a["step_loss"], (3, 6)), axis=1))
    assert log_a["train_loss"][-1] < log_a["step_loss"][0] - 0.3
    assert log_a["val_acc"][-1] > 0.3                     # chance: 0.1
    assert log_a["seconds_per_epoch"] > 0
    # the same loop written out by hand gives the same first-step loss
    torch.manual_seed(0)
    net = norm_cnn("BN", width=4)
    loaders[0].generator.manual_seed(0)
    x, y = next(iter(loaders[0]))
    assert F.cross_entropy(net.train()(x), y).item() == pytest.approx(log_a["step_loss"][0], rel=1e-6)
