"""The NumPy residual block against an equivalent PyTorch module, and numerical gradients."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers.numpy.gradcheck import numerical_gradient, rel_error
from helpers.numpy.residual import ResidualBlock


class TorchBlock(nn.Module):
    """The same block in PyTorch (torchvision's BasicBlock)."""

    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.shortcut = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


TORCH_NAMES = {  # our parameter name -> PyTorch's
    "conv1.w": "conv1.weight", "bn1.gamma": "bn1.weight", "bn1.beta": "bn1.bias",
    "conv2.w": "conv2.weight", "bn2.gamma": "bn2.weight", "bn2.beta": "bn2.bias",
    "shortcut_conv.w": "shortcut.0.weight", "shortcut_bn.gamma": "shortcut.1.weight",
    "shortcut_bn.beta": "shortcut.1.bias",
}


def copied_pair(in_ch, out_ch, stride, seed):
    rng = np.random.default_rng(seed)
    block = ResidualBlock(in_ch, out_ch, stride, rng=rng, dtype=np.float64)
    for name, p in block.params.items():
        if "bn" in name:  # non-trivial scales and shifts
            p[:] = rng.uniform(0.5, 1.5, p.shape) if name.endswith("gamma") else rng.standard_normal(p.shape) * 0.3
    ref = TorchBlock(in_ch, out_ch, stride).double()
    torch_params = dict(ref.named_parameters())
    with torch.no_grad():
        for name, p in block.params.items():
            torch_params[TORCH_NAMES[name]].copy_(torch.from_numpy(p))
    return block, ref, rng


@pytest.mark.parametrize("in_ch,out_ch,stride,hw", [(3, 3, 1, 6), (3, 5, 1, 5), (4, 6, 2, 7), (2, 2, 2, 8)])
def test_forward_backward_and_running_stats_match_pytorch(in_ch, out_ch, stride, hw):
    block, ref, rng = copied_pair(in_ch, out_ch, stride, seed=in_ch * 10 + out_ch + stride)
    assert block.projection == (in_ch != out_ch or stride != 1)
    assert len(block.params) == (9 if block.projection else 6)
    torch_params = dict(ref.named_parameters())
    for _ in range(2):
        x = rng.standard_normal((3, in_ch, hw, hw))
        out = block.forward(x, train=True)
        dout = rng.standard_normal(out.shape)
        dx = block.backward(dout)
        tx = torch.tensor(x, requires_grad=True)
        ref.zero_grad()
        t_out = ref.train()(tx)
        t_out.backward(torch.tensor(dout))
        assert out.shape == tuple(t_out.shape) == (3, out_ch, -(-hw // stride), -(-hw // stride))
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
        assert set(block.grads) == set(block.params)
        for name, g in block.grads.items():
            np.testing.assert_allclose(g, torch_params[TORCH_NAMES[name]].grad.numpy(), rtol=1e-5, atol=1e-5)
    for ours, theirs in ((block.bn1, ref.bn1), (block.bn2, ref.bn2)):
        np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=1e-5, atol=1e-5)
    x = rng.standard_normal((2, in_ch, hw, hw))
    np.testing.assert_allclose(block.forward(x, train=False), ref.eval()(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("in_ch,out_ch,stride", [(2, 2, 1), (2, 3, 2)])
def test_gradients_pass_numerical_check(in_ch, out_ch, stride):
    block, _, rng = copied_pair(in_ch, out_ch, stride, seed=5)
    x = rng.standard_normal((2, in_ch, 4, 4))
    out = block.forward(x, train=True)
    dout = rng.standard_normal(out.shape)
    dx = block.backward(dout)
    grads = {name: g.copy() for name, g in block.grads.items()}
    f = lambda _: block.forward(x, train=True)  # the perturbed array is x itself or one of block.params
    assert rel_error(dx, numerical_gradient(lambda v: block.forward(v, train=True), x, dout)) < 1e-7
    for name, p in block.params.items():
        assert rel_error(grads[name], numerical_gradient(f, p, dout)) < 1e-7, name


def test_identity_shortcut_passes_the_gradient_straight_through():
    # With the main path's output scale at zero the block is relu(x): the shortcut alone carries x and dout.
    block = ResidualBlock(2, 2, rng=0, dtype=np.float64)
    block.params["bn2.gamma"][:] = 0
    block.params["bn2.beta"][:] = 0
    x = np.random.default_rng(1).standard_normal((2, 2, 3, 3))
    np.testing.assert_allclose(block.forward(x), np.maximum(x, 0))
    np.testing.assert_allclose(block.backward(np.ones_like(x)), (x > 0).astype(float))


def test_params_are_the_inner_layers_arrays_and_errors():
    block = ResidualBlock(3, 4, stride=2, rng=0)
    assert block.params["conv1.w"] is block.conv1.params["w"]
    assert block.params["conv1.w"].dtype == np.float32 and "shortcut_conv.w" in block.params
    assert repr(block) == "ResidualBlock(3, 4, stride=2)"
    with pytest.raises(ValueError, match=r"expects x of shape \(N, 3, H, W\)"):
        block.forward(np.zeros((1, 2, 8, 8)))
    with pytest.raises(RuntimeError, match="train=True"):
        block.forward(np.zeros((2, 3, 8, 8), np.float32), train=False)
        block.backward(np.zeros((2, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="stride must be"):
        ResidualBlock(3, 4, stride=0)
    with pytest.raises(ValueError, match="rng must be"):
        ResidualBlock(3, 4, rng="seed")


# --------------------------------------------------------------------------- regressions


def test_stride_pair_equals_the_int_stride():
    # ResidualBlock(stride=(2, 2)) used to raise, although Conv2D takes (2, 2)
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7))
    dout = np.random.default_rng(1).standard_normal((2, 4, 4, 4))
    blocks = [ResidualBlock(3, 4, stride=s, rng=0, dtype=np.float64) for s in (2, (2, 2), [2, 2])]
    outs = [b.forward(x) for b in blocks]
    dxs = [b.backward(dout) for b in blocks]
    for b, out, dx in zip(blocks[1:], outs[1:], dxs[1:], strict=True):
        assert b.stride == 2 and repr(b) == "ResidualBlock(3, 4, stride=2)"
        np.testing.assert_array_equal(out, outs[0])
        np.testing.assert_array_equal(dx, dxs[0])
        for name, g in b.grads.items():
            np.testing.assert_array_equal(g, blocks[0].grads[name])
    assert not ResidualBlock(3, 3, stride=(1, 1)).projection


def test_non_square_stride_matches_pytorch():
    block, ref, rng = copied_pair(3, 4, (2, 1), seed=7)
    assert block.stride == (2, 1) and block.projection
    x = rng.standard_normal((2, 3, 6, 5))
    xt = torch.tensor(x, requires_grad=True)
    out, t_out = block.forward(x), ref(xt)
    assert out.shape == (2, 4, 3, 5)
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-10, atol=1e-10)
    dout = rng.standard_normal(out.shape)
    t_out.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(block.backward(dout), xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    torch_params = dict(ref.named_parameters())
    for name, g in block.grads.items():
        np.testing.assert_allclose(g, torch_params[TORCH_NAMES[name]].grad.numpy(), rtol=1e-8, atol=1e-10)


def test_block_uses_the_layer_protocol_of_the_base_class():
    from helpers.numpy.layers import Layer

    assert "forward" not in vars(ResidualBlock) and "backward" not in vars(ResidualBlock)
    assert ResidualBlock.forward is Layer.forward and ResidualBlock.backward is Layer.backward
    block = ResidualBlock(2, 2, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    block.forward(x)
    block.forward(x, train=False)  # inference drops the cache: no backward pass any more
    with pytest.raises(RuntimeError, match="train=True"):
        block.backward(np.ones((2, 2, 4, 4)))
