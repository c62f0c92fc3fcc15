import numpy as np
import pytest
import torch
from torch import nn

from helpers.torch.params import count_params
from helpers.torch.resnet import BasicBlock, CifarResNet, gradient_norms


def _weight_layers(model):
    return [m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and "shortcut" not in n]


@pytest.mark.parametrize("depth", [8, 20, 32])
def test_depth_counts_weight_layers_and_output_shape(depth):
    torch.manual_seed(0)
    model = CifarResNet(depth, width=4)
    assert len(_weight_layers(model)) == depth
    assert model(torch.randn(3, 3, 32, 32)).shape == (3, 10)


def test_plain_network_differs_only_by_the_skips():
    torch.manual_seed(0)
    res = CifarResNet(14, width=4, residual=True)
    plain = CifarResNet(14, width=4, residual=False)
    res_state, plain_state = res.state_dict(), plain.state_dict()
    assert set(plain_state) < set(res_state)
    assert all("shortcut" in k for k in set(res_state) - set(plain_state))
    plain.load_state_dict({k: res_state[k] for k in plain_state})  # same weights on the main path
    assert count_params(res, trainable_only=True) > count_params(plain, trainable_only=True)
    x = torch.randn(2, 3, 32, 32)
    res.eval(), plain.eval()
    assert not torch.allclose(res(x), plain(x))


def test_block_adds_the_identity_and_zero_init_makes_it_relu_of_input():
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    nn.init.zeros_(block.bn2.weight)
    nn.init.zeros_(block.bn2.bias)
    x = torch.randn(2, 4, 8, 8)
    assert torch.allclose(block(x), torch.relu(x))
    plain = BasicBlock(4, 4, residual=False).eval()
    nn.init.zeros_(plain.bn2.weight)
    nn.init.zeros_(plain.bn2.bias)
    assert torch.count_nonzero(plain(x)) == 0


def test_zero_init_residual_sets_last_gamma_to_zero():
    model = CifarResNet(8, width=4, zero_init_residual=True)
    assert all(torch.count_nonzero(b.bn2.weight) == 0 for b in model.blocks)
    assert all(torch.count_nonzero(b.bn1.weight) > 0 for b in model.blocks)


def test_zeropad_shortcut_has_no_parameters_and_keeps_channels():
    proj = BasicBlock(4, 8, stride=2, shortcut="projection")
    pad = BasicBlock(4, 8, stride=2, shortcut="zeropad")
    # the projection's 1x1 conv + BN gamma/beta
    assert count_params(proj, trainable_only=True) - count_params(pad, trainable_only=True) == 4 * 8 + 2 * 8
    x = torch.randn(2, 4, 8, 8)
    short = pad.shortcut(x)
    assert short.shape == (2, 8, 4, 4)
    assert torch.equal(short[:, :4], x[:, :, ::2, ::2]) and torch.count_nonzero(short[:, 4:]) == 0
    assert pad(x).shape == proj(x).shape == (2, 8, 4, 4)


def test_gradient_norms_follow_the_main_path():
    torch.manual_seed(0)
    model = CifarResNet(8, width=4)
    with pytest.raises(ValueError, match="backward"):
        gradient_norms(model)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    norms = gradient_norms(model)
    assert [n for n, _ in norms][0] == "stem.0" and norms[-1][0] == "head.2"
    assert len(norms) == 8 and all(np.isfinite(v) and v > 0 for _, v in norms)
    expected = float(model.stem[0].weight.grad.norm())
    assert norms[0][1] == pytest.approx(expected)


@pytest.mark.parametrize("kwargs, match", [
    (dict(depth=10), "6n"), (dict(depth=2), "6n"), (dict(width=0), "width"), (dict(shortcut="conv"), "shortcut"),
])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CifarResNet(**kwargs)


def test_wrong_input_shape_is_explained():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        CifarResNet(8, width=4)(torch.zeros(2, 1, 32, 32))
