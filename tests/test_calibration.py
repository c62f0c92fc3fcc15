"""helpers.numpy.calibration and helpers.torch.calibration against torchmetrics, PyTorch and a brute-force search."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import multiclass_calibration_error

from helpers.numpy.calibration import (
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
    sharpen_probabilities,
)
from helpers.torch.calibration import fit_temperature_lbfgs


def _data(seed, n=2000, k=5, scale=3.0):
    g = np.random.default_rng(seed)
    labels = g.integers(0, k, n)
    logits = g.normal(size=(n, k))
    logits[np.arange(n), labels] += 1.0
    return logits * scale, labels


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("n_bins", [5, 15])
def test_ece_matches_torchmetrics(seed, n_bins):
    z, y = _data(seed, scale=1 + seed)
    p = _softmax(z)
    ref = multiclass_calibration_error(torch.from_numpy(p), torch.from_numpy(y), 5, n_bins=n_bins, norm="l1")
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(float(ref), abs=1e-6)


def test_reliability_bins_by_hand():
    p = np.array([[0.95, 0.05], [0.92, 0.08], [0.55, 0.45], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    conf, acc, count = reliability_bins(p, y, n_bins=2)          # bins (0, .5], (.5, 1]
    np.testing.assert_array_equal(count, [0, 4])
    assert acc[1] == 0.75 and conf[1] == pytest.approx((0.95 + 0.92 + 0.55 + 0.7) / 4)
    assert np.isnan(acc[0])
    assert expected_calibration_error(p, y, 2) == pytest.approx(abs(0.75 - 0.78))
    conf, acc, count = reliability_bins(p, y, n_bins=10)
    np.testing.assert_array_equal(count, [0, 0, 0, 0, 0, 1, 1, 0, 0, 2])     # 0.55 -> (0.5, 0.6], 0.95 -> (0.9, 1]


def test_nll_matches_cross_entropy():
    z, y = _data(1)
    for t in (0.5, 1.0, 2.5):
        ref = F.cross_entropy(torch.from_numpy(z) / t, torch.from_numpy(y))
        assert negative_log_likelihood(z, y, t) == pytest.approx(float(ref), rel=1e-12)


@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0])
def test_fit_temperature_numpy_equals_lbfgs_and_grid(scale):
    z, y = _data(2, scale=scale)
    t_np = fit_temperature(z, y)
    t_pt = fit_temperature_lbfgs(torch.from_numpy(z), torch.from_numpy(y))
    assert t_np == pytest.approx(t_pt, rel=1e-5)
    grid = np.exp(np.linspace(np.log(t_np) - 0.05, np.log(t_np) + 0.05, 201))
    best = grid[np.argmin([negative_log_likelihood(z, y, t) for t in grid])]
    assert t_np == pytest.approx(best, rel=1e-3)
    assert negative_log_likelihood(z, y, t_np) <= negative_log_likelihood(z, y, 1.0)
    # overconfident logits (scale 4) need T > 1, underconfident (0.3) T < 1
    if scale != 1.0:
        assert (t_np > 1) == (scale > 1.5)


def test_temperature_keeps_predictions():
    z, y = _data(3)
    t = fit_temperature(z, y)
    assert np.array_equal((z / t).argmax(1), z.argmax(1))


def test_errors():
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="sum to 1"):
        expected_calibration_error(np.array([[0.5, 0.6], [0.2, 0.8]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="integer class indices"):
        expected_calibration_error(p, np.array([0, 2]))
    with pytest.raises(ValueError, match="n_bins"):
        reliability_bins(p, np.array([0, 1]), n_bins=0)
    with pytest.raises(ValueError, match="temperature"):
        negative_log_likelihood(np.zeros((2, 2)), np.array([0, 1]), temperature=0)
    with pytest.raises(ValueError, match="flat"):
        fit_temperature(np.zeros((3, 4)), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.array([[np.inf, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature_lbfgs(torch.zeros(2, 3), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        fit_temperature_lbfgs(torch.zeros(3), torch.tensor([0, 1, 2]))


def test_bin_edges_are_right_closed_as_guo_et_al_unlike_torchmetrics():
    # confidences 0.6, 0.8, 1.0, 0.7 with 5 bins: 0.6 and 0.8 lie exactly on edges
    probs = np.array([[0.6, 0.4], [0.8, 0.2], [1.0, 0.0], [0.7, 0.3]])
    labels = np.array([0, 1, 0, 0])
    ours = expected_calibration_error(probs, labels, n_bins=5)
    theirs = multiclass_calibration_error(torch.tensor(probs), torch.tensor(labels), num_classes=2, n_bins=5,
                                          norm="l1").item()
    assert ours == pytest.approx(0.225)      # bins (0.4, 0.6]: {0.6}, (0.6, 0.8]: {0.8, 0.7}, (0.8, 1]: {1.0}
    assert theirs == pytest.approx(0.375)    # torchmetrics: [0.6, 0.8): {0.6, 0.7}, [0.8, 1.0]: {0.8, 1.0}


def test_fit_temperature_says_why_when_every_prediction_is_right():
    with pytest.raises(ValueError, match="every prediction on these held-out samples is right"):
        fit_temperature(np.array([[5.0, 0.0], [0.0, 5.0], [4.0, 0.0]]), np.array([0, 1, 0]))


def test_sharpening_keeps_the_mask_at_the_threshold_and_moves_the_rest_towards_0_and_1():
    p = np.random.default_rng(0).random((4, 32, 32))
    p[0, 0, :4] = [0.0, 1.0, 0.3, 0.3 + 1e-9]
    np.testing.assert_allclose(sharpen_probabilities(p, 1.0), p, rtol=1e-12, atol=1e-15)     # T = 1, t = 0.5: itself
    for t in (0.3, 0.5, 0.8):
        for temperature in (0.01, 0.25, 1.0, 4.0):
            q = sharpen_probabilities(p, temperature, threshold=t)
            assert q.dtype == np.float64 and np.isfinite(q).all() and q.min() >= 0 and q.max() <= 1
            np.testing.assert_array_equal(q > 0.5, p > t)                # the mask at the threshold is unchanged
            assert np.all(np.diff(q.ravel()[np.argsort(p.ravel())]) >= 0)   # the order of the pixels too
        assert sharpen_probabilities(0.0, 0.5, t) == 0.0 and sharpen_probabilities(1.0, 0.5, t) == 1.0
    sharp, soft = sharpen_probabilities(p, 0.1), sharpen_probabilities(p, 4.0)
    assert np.all(np.abs(sharp - 0.5) >= np.abs(p - 0.5) - 1e-12)      # T < 1: away from 0.5
    assert np.all(np.abs(soft - 0.5) <= np.abs(p - 0.5) + 1e-12)       # T > 1: towards it
    assert np.mean((sharpen_probabilities(p, 1e-3) < 1e-6) | (sharpen_probabilities(p, 1e-3) > 1 - 1e-6)) > 0.99


@pytest.mark.parametrize("kwargs, message", [
    ({"temperature": 0.0}, "temperature"), ({"temperature": -1.0}, "temperature"),
    ({"temperature": 1.0, "threshold": 1.0}, "threshold"), ({"temperature": 1.0, "threshold": 0.0}, "threshold")])
def test_sharpening_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sharpen_probabilities(np.array([0.2, 0.7]), **kwargs)


def test_sharpening_refuses_values_that_are_not_probabilities():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]; got values from 0.2 to 1.5"):
        sharpen_probabilities(np.array([0.2, 1.5]), 0.5)
    with pytest.raises(ValueError, match="1 of 3 values are NaN or infinite"):
        sharpen_probabilities(np.array([0.2, np.nan, 0.7]), 0.5)


def test_sharpening_computes_the_rescaled_logit():
    expit = lambda z: 1 / (1 + np.exp(-z))                                  # noqa: E731
    logit = lambda p: np.log(p / (1 - p))                                   # noqa: E731
    assert sharpen_probabilities(0.8, 0.5) == pytest.approx(expit(2 * logit(0.8)), rel=1e-12)
    assert sharpen_probabilities(expit(logit(0.3) + 1), 0.25, threshold=0.3) == pytest.approx(expit(4.0), rel=1e-12)
    assert sharpen_probabilities(0.3, 0.1, threshold=0.3) == 0.5                # at the threshold: 0.5, not above
    t = 0.3
    just_above = np.nextafter(t, 1.0)                                         # its logit difference rounds to 0
    for temperature in (1.0, 4.0, 1e17):
        assert sharpen_probabilities(just_above, temperature, t) > 0.5       # the mask stays exact even then
        assert sharpen_probabilities(t, temperature, t) <= 0.5
