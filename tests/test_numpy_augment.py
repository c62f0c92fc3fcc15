"""Shift augmentation in NumPy (helpers.numpy.augment) against PyTorch's replicate padding and slicing."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy.augment import random_shift, shift_images


def torch_shift(x, offsets, m):
    """Reference: pad every side by m with edge copies, then crop the window moved by (dy, dx)."""
    padded = F.pad(torch.from_numpy(x), [m] * 4, mode="replicate")
    h, w = x.shape[2:]
    return np.stack([p[:, m - dy: m - dy + h, m - dx: m - dx + w].numpy()
                     for p, (dy, dx) in zip(padded, offsets, strict=True)])


@pytest.mark.parametrize("shape, m", [((7, 1, 28, 28), 2), ((5, 3, 9, 6), 3), ((1, 2, 4, 4), 1)])
def test_shift_images_matches_replicate_padding_in_torch(shape, m):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    offsets = rng.integers(-m, m + 1, (shape[0], 2))
    out = shift_images(x, offsets, m)
    assert out.dtype == x.dtype and out.shape == x.shape and out.flags.writeable
    np.testing.assert_array_equal(out, torch_shift(x, offsets, m))


def test_a_shift_moves_the_picture_and_repeats_the_border():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    down_right = shift_images(x, np.array([[1, 2]]))[0, 0]
    np.testing.assert_array_equal(down_right[1:, 2:], x[0, 0, :3, :2])          # moved down 1, right 2
    np.testing.assert_array_equal(down_right[0, 2:], x[0, 0, 0, :2])            # top row repeated
    np.testing.assert_array_equal(down_right[:, 0], down_right[:, 1])           # left column repeated
    up_left = shift_images(x, np.array([[-1, -1]]))[0, 0]
    np.testing.assert_array_equal(up_left[:3, :3], x[0, 0, 1:, 1:])
    np.testing.assert_array_equal(shift_images(x, np.zeros((1, 2), dtype=int)), x)


def test_random_shift_is_seeded_bounded_and_does_not_touch_its_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 10, 10)).astype(np.float32)
    before = x.copy()
    a, b = random_shift(x, 2, rng=5), random_shift(x, 2, rng=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, before)
    offsets = np.random.default_rng(5).integers(-2, 3, (64, 2))
    np.testing.assert_array_equal(a, torch_shift(x, offsets, 2))
    assert len({tuple(o) for o in offsets}) > 10                                 # many different shifts in a batch
    np.testing.assert_array_equal(random_shift(x, 0, rng=0), x)
    assert random_shift(x[:0], 2, rng=0).shape == (0, 1, 10, 10)


def test_bad_arguments_say_what_was_expected():
    x = np.zeros((2, 1, 5, 5), dtype=np.float32)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        random_shift(x[0], 2, rng=0)
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(x, -1, rng=0)
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        shift_images(x, np.zeros((3, 2), dtype=int))
    with pytest.raises(ValueError, match="integer array"):
        shift_images(x, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        shift_images(x, np.array([[0, 2], [0, 0]]), max_shift=1)
