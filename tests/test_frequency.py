"""Gaussian low/high-pass, hybrid images and patch shuffling against scipy.ndimage and a naive loop."""

import numpy as np
import pytest
import scipy.ndimage as ndi

from helpers.numpy.frequency import blur_matrix, gaussian_kernel, high_pass, hybrid_image, low_pass, patch_shuffle


@pytest.mark.parametrize("sigma", [0.3, 1.0, 2.5, 7.0, 40.0])
def test_low_pass_matches_scipy_reflect(sigma):
    x = np.random.default_rng(0).random((2, 17, 23, 3))
    ref = ndi.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect")
    np.testing.assert_allclose(low_pass(x, sigma), ref, atol=1e-12)
    assert low_pass(x.astype(np.float32), sigma).dtype == np.float32


def test_grey_axes_and_uint8_input():
    x = np.random.default_rng(1).integers(0, 256, (4, 9, 12), dtype=np.uint8)
    ref = ndi.gaussian_filter(x.astype(np.float64), sigma=(0, 1.5, 1.5), mode="reflect")
    np.testing.assert_allclose(low_pass(x, 1.5, axes=(-2, -1)), ref, atol=1e-3)
    np.testing.assert_allclose(low_pass(x[0], 1.5, axes=(0, 1)), ref[0], atol=1e-3)


def test_kernel_matches_scipy_weights_and_zero_sigma_is_identity():
    w = gaussian_kernel(1.3)
    impulse = np.zeros(41)
    impulse[20] = 1
    r = len(w) // 2
    np.testing.assert_allclose(ndi.gaussian_filter1d(impulse, 1.3)[20 - r:21 + r], w, atol=1e-14)
    assert gaussian_kernel(0).tolist() == [1.0]
    np.testing.assert_allclose(blur_matrix(5, 0), np.eye(5))
    np.testing.assert_allclose(blur_matrix(6, 2.0).sum(1), 1.0)      # rows are weights that sum to 1


def test_high_pass_and_hybrid_decompose():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 16, 16, 3)), rng.random((3, 16, 16, 3))
    np.testing.assert_allclose(low_pass(a, 2) + high_pass(a, 2), a, atol=1e-12)
    h = hybrid_image(a, b, 1.5)
    np.testing.assert_allclose(h, ndi.gaussian_filter(a, (0, 1.5, 1.5, 0), mode="reflect")
                               + b - ndi.gaussian_filter(b, (0, 1.5, 1.5, 0), mode="reflect"), atol=1e-12)
    np.testing.assert_allclose(hybrid_image(a, b, 0), a)


def _naive_shuffle(x, grid, order):
    out = np.empty_like(x)
    ph, pw = x.shape[1] // grid, x.shape[2] // grid
    for n in range(len(x)):
        for dst, src in enumerate(order[n]):
            r0, c0 = divmod(dst, grid)
            r1, c1 = divmod(src, grid)
            out[n, r0 * ph:(r0 + 1) * ph, c0 * pw:(c0 + 1) * pw] = x[n, r1 * ph:(r1 + 1) * ph, c1 * pw:(c1 + 1) * pw]
    return out


@pytest.mark.parametrize("grid", [1, 2, 4])
def test_patch_shuffle_matches_a_loop(grid):
    x = np.random.default_rng(3).integers(0, 256, (5, 8, 12, 3), dtype=np.uint8)
    gen = np.random.default_rng(7)
    order = np.stack([gen.permutation(grid * grid) for _ in range(5)])
    np.testing.assert_array_equal(patch_shuffle(x, grid, seed=7), _naive_shuffle(x, grid, order))
    assert patch_shuffle(x, grid, seed=7).dtype == np.uint8


def test_bad_inputs_raise_clear_errors():
    x = np.zeros((2, 8, 8, 3))
    with pytest.raises(ValueError, match="sigma"):
        low_pass(x, -1)
    with pytest.raises(ValueError, match="axes"):
        low_pass(x, 1, axes=(1, 1))
    with pytest.raises(ValueError, match="same shape"):
        hybrid_image(x, np.zeros((2, 8, 8, 1)), 1)
    with pytest.raises(ValueError, match="divisible"):
        patch_shuffle(x, 3)
    with pytest.raises(ValueError, match="numeric"):
        low_pass(np.array([["a", "b"], ["c", "d"]]), 1, axes=(0, 1))
