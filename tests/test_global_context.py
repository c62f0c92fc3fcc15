"""Two-digit pair canvases (layout, labels, swapped twins) and the four context models (order-blind or not)."""

import numpy as np
import pytest
import torch

from helpers.torch.global_context import CONTEXT_KINDS, context_model, digit_pair_canvases


def test_pair_canvases_layout_labels_and_both_orders():
    gen = np.random.default_rng(0)
    images = gen.integers(1, 256, (50, 28, 28), dtype=np.uint8)
    labels = np.arange(50) % 5
    x, y, pairs = digit_pair_canvases(images, labels, 40, classes=(3, 1), gap=12, margin=10, seed=0)
    assert x.shape == (40, 28, 88) and x.dtype == np.uint8 and 0.2 < y.mean() < 0.8
    np.testing.assert_array_equal(x[:, :, 10:38], images[pairs[:, 0]])
    np.testing.assert_array_equal(x[:, :, 50:78], images[pairs[:, 1]])
    assert (x[:, :, :10] == 0).all() and (x[:, :, 38:50] == 0).all()
    np.testing.assert_array_equal(y, labels[pairs[:, 0]] == 3)
    assert set(labels[pairs].ravel()) == {1, 3}
    xb, yb, _ = digit_pair_canvases(images, labels, 10, classes=(3, 1), seed=1, both_orders=True)
    np.testing.assert_array_equal(xb[5:, :, 50:78], xb[:5, :, 10:38])
    assert yb[:5].all() and not yb[5:].any()
    with pytest.raises(ValueError, match="even"):
        digit_pair_canvases(images, labels, 9, both_orders=True, classes=(3, 1))
    with pytest.raises(ValueError, match="occur"):
        digit_pair_canvases(images, labels, 4, classes=(3, 7))
    with pytest.raises(ValueError, match="28, 28"):
        digit_pair_canvases(images[:, :20], labels, 4)


@pytest.mark.parametrize("kind", CONTEXT_KINDS)
def test_order_blind_models_give_the_same_logits_for_swapped_digits(kind):
    gen = np.random.default_rng(1)
    images, labels = gen.integers(0, 256, (20, 28, 28), dtype=np.uint8), np.arange(20) % 2
    x, _, _ = digit_pair_canvases(images, labels, 16, classes=(0, 1), seed=0, both_orders=True)
    t = torch.from_numpy(x).float().div(255).unsqueeze(1)
    torch.manual_seed(0)
    model = context_model(kind).eval()
    with torch.no_grad():
        out = model(t)
    gap = float((out[:8] - out[8:]).abs().max())
    if kind in ("local", "attention_nopos"):
        assert gap < 1e-3
    else:
        assert gap > 1e-4          # a model that can see the arrangement tells the two orders apart
    with pytest.raises(ValueError, match="kind"):
        context_model("global")
