"""Analytic receptive fields agree with the support of autograd gradients (and known values)."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers.torch.global_context import context_model
from helpers.torch.receptive_field import gradient_receptive_field, receptive_field


@pytest.mark.parametrize("seed", range(6))
def test_analytic_matches_gradient_on_random_stacks(seed):
    gen = np.random.default_rng(seed)
    layers, ch = [], 2
    for _ in range(gen.integers(1, 5)):
        k, s, d = int(gen.integers(1, 4)), int(gen.integers(1, 3)), int(gen.integers(1, 3))
        if gen.random() < 0.3:
            layers.append(nn.MaxPool2d(k + 1, s))
        else:
            layers += [nn.Conv2d(ch, 3, k, s, dilation=d), nn.LeakyReLU(0.1)]
            ch = 3
    model = nn.Sequential(*layers)
    torch.manual_seed(seed)
    r = receptive_field(model)["size"]
    measured = gradient_receptive_field(model, (2, 120, 120), unit=(0, 0))   # top-left unit: no padding, no clip
    # max pooling routes the gradient through one pixel per window, so it can only be smaller
    assert measured["size"][0] <= r[0] and measured["size"][1] <= r[1]
    if not any(isinstance(m, nn.MaxPool2d) for m in layers):
        assert measured["size"] == r and measured["box"][:2] == (0, 0)


def test_known_values_and_context_trunks():
    assert receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)))["size"] == (5, 5)
    assert receptive_field([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)]) == {"size": (7, 7), "jump": (2, 2)}
    assert receptive_field(nn.Conv2d(1, 1, (3, 5), dilation=(1, 2)))["size"] == (3, 9)
    assert receptive_field(context_model("local").trunk)["size"] == (18, 18)
    assert receptive_field(context_model("dilated").trunk)["size"] == (86, 86)


def test_receptive_field_errors():
    with pytest.raises(ValueError, match="knows convolutions"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1)))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        gradient_receptive_field(nn.Conv2d(1, 1, 3), (8, 8))
    with pytest.raises(ValueError, match="outside"):
        gradient_receptive_field(nn.Conv2d(1, 1, 3), (1, 8, 8), unit=(9, 0))
