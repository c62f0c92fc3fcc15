"""The small Vision Transformer: patch embedding by hand, the encoder against nn.MultiheadAttention, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.torch.params import count_params
from helpers.torch.vit import SmallViT


def test_patch_tokens_are_a_linear_map_of_each_patch():
    torch.manual_seed(0)
    vit = SmallViT(image_size=8, patch=4, dim=6, depth=1, heads=2)
    x = torch.randn(2, 3, 8, 8)
    tokens = vit.tokens(x)
    assert tokens.shape == (2, 4, 6)
    w = vit.embed.weight.reshape(6, -1)                                  # (dim, 3*4*4)
    for k, (i, j) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):        # row by row
        patch = x[:, :, i:i + 4, j:j + 4].reshape(2, -1)
        torch.testing.assert_close(tokens[:, k], patch @ w.T + vit.embed.bias, atol=1e-5, rtol=1e-5)


def test_forward_by_hand_one_layer():
    torch.manual_seed(1)
    vit = SmallViT(image_size=8, patch=4, dim=8, depth=1, heads=2, mlp_ratio=2, n_classes=5).eval()
    x = torch.randn(3, 3, 8, 8)
    layer = vit.encoder.layers[0]
    t = torch.cat([vit.cls.expand(3, -1, -1), vit.tokens(x)], 1) + vit.pos
    h = layer.norm1(t)
    attn, _ = F.multi_head_attention_forward(
        h.transpose(0, 1), h.transpose(0, 1), h.transpose(0, 1), 8, 2, layer.self_attn.in_proj_weight,
        layer.self_attn.in_proj_bias, None, None, False, 0.0, layer.self_attn.out_proj.weight,
        layer.self_attn.out_proj.bias, training=False, need_weights=False)
    t = t + attn.transpose(0, 1)
    t = t + layer.linear2(F.gelu(layer.linear1(layer.norm2(t))))
    expected = vit.head(vit.norm(t[:, 0]))
    torch.testing.assert_close(vit(x), expected, atol=1e-5, rtol=1e-5)


def test_parameter_count_and_class_token_position():
    vit = SmallViT(dim=48, depth=2, heads=4)
    d = 48
    per_layer = 4 * d * d + 4 * d + 2 * (2 * d * d) + 2 * d + d + 4 * d
    expected = (3 * 16 * d + d) + d + 65 * d + 2 * per_layer + 2 * d + (d * 10 + 10)
    assert count_params(vit) == expected
    # permuting the patches without the position embedding changes nothing but the token order
    torch.manual_seed(2)
    vit = SmallViT(image_size=8, patch=4, dim=8, depth=1, heads=2).eval()
    with torch.no_grad():
        vit.pos.zero_()
    x = torch.randn(1, 3, 8, 8)
    swapped = x.clone()
    swapped[..., :4, :], swapped[..., 4:, :] = x[..., 4:, :], x[..., :4, :]
    torch.testing.assert_close(vit(x), vit(swapped), atol=1e-5, rtol=1e-5)
    assert not np.allclose(x.numpy(), swapped.numpy())


def test_errors():
    with pytest.raises(ValueError, match="multiple of patch"):
        SmallViT(image_size=30, patch=4)
    with pytest.raises(ValueError, match="multiple of heads"):
        SmallViT(dim=50, heads=4)
    with pytest.raises(ValueError, match="dropout"):
        SmallViT(dropout=1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        SmallViT()(torch.zeros(1, 3, 28, 28))
