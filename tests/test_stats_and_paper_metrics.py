"""The metrics papers and competitions use, and the intervals the lessons print around them."""

import numpy as np
import pytest
from scipy import ndimage

from helpers.numpy.metrics import (
    confusion_matrix,
    instance_score,
    object_iou_matrix,
    pixel_iou,
    threshold_averaged_mean_iou,
    two_class_mean_iou,
)
from helpers.stats import bootstrap_interval, paired_bootstrap_difference, welch_interval, wilson_interval


def test_two_class_mean_iou_equals_the_confusion_matrix_definition():
    rng = np.random.default_rng(0)
    truth = rng.random((4, 9, 9)) < 0.2
    pred = truth ^ (rng.random(truth.shape) < 0.1)
    cm = confusion_matrix(pred.ravel().astype(int), truth.ravel().astype(int), 2)
    per_class = np.diag(cm) / (cm.sum(0) + cm.sum(1) - np.diag(cm))       # TF's mean_iou, class by class
    assert two_class_mean_iou(pred, truth) == pytest.approx(per_class.mean())
    assert per_class[1] == pytest.approx(pixel_iou(pred, truth))
    assert two_class_mean_iou(pred, truth) > pixel_iou(pred, truth)        # the easy background lifts it


def test_threshold_averaged_mean_iou_averages_over_thresholds():
    rng = np.random.default_rng(1)
    truth = rng.random((3, 8, 8)) < 0.3
    probs = np.clip(truth * 0.7 + rng.random(truth.shape) * 0.3, 0, 1)
    expected = np.mean([two_class_mean_iou(probs > t, truth) for t in np.arange(0.5, 0.96, 0.05)])
    assert threshold_averaged_mean_iou(probs, truth) == pytest.approx(expected)
    assert threshold_averaged_mean_iou(probs, truth, [0.5]) == pytest.approx(two_class_mean_iou(probs > 0.5, truth))
    with pytest.raises(ValueError, match="probabilities"):
        threshold_averaged_mean_iou(probs * 3, truth)


def _two_squares(shift=0):
    m = np.zeros((12, 12), dtype=int)
    m[1:5, 1 + shift:5 + shift] = 1
    m[7:11, 7:11] = 2
    return m


def test_object_iou_matrix_by_hand():
    truth = _two_squares()
    pred = _two_squares(shift=1)                   # first square moved by one pixel: 12/20 overlap
    ious = object_iou_matrix(pred, truth)
    np.testing.assert_allclose(ious, [[12 / 20, 0], [0, 1]])


def test_instance_score_counts_matches_per_threshold():
    truth = _two_squares()
    assert instance_score(truth, truth) == 1.0
    # object 1 at IoU 0.6 matches at t = 0.5, 0.55 only; object 2 matches everywhere
    per_t = [(2 if t < 0.6 else 1) / (2 + 2 - (2 if t < 0.6 else 1)) for t in np.arange(0.5, 0.96, 0.05)]
    assert instance_score(_two_squares(shift=1), truth) == pytest.approx(np.mean(per_t))
    merged, _ = ndimage.label(np.ones((12, 12), dtype=bool) & (_two_squares() > 0) | _bridge())
    assert merged.max() == 1                      # the two squares joined into one blob: at most one match
    assert instance_score(merged, truth) == 0.0   # the blob overlaps neither square by more than half
    empty = np.zeros((12, 12), dtype=int)
    assert instance_score(empty, empty) == 1.0 and instance_score(empty, truth) == 0.0


def _bridge():
    b = np.zeros((12, 12), dtype=bool)
    b[4:8, 4:8] = True
    return b


def test_instance_score_ignores_unused_label_numbers_and_rejects_masks():
    truth = _two_squares()
    relabelled = np.where(truth == 2, 5, truth)    # labels 1 and 5; 2-4 unused
    assert instance_score(relabelled, truth) == 1.0
    with pytest.raises(ValueError, match="label image"):
        instance_score(truth > 0, truth)
    with pytest.raises(ValueError, match="same shape"):
        object_iou_matrix(truth[:5], truth)


def test_bootstrap_interval_of_a_mean_covers_the_truth_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 50), rng.normal(1.0, 1.0, 800)
    lo_s, hi_s = bootstrap_interval(lambda i: small[i].mean(), len(small), n_boot=1000)
    lo_l, hi_l = bootstrap_interval(lambda i: large[i].mean(), len(large), n_boot=1000)
    assert lo_s < small.mean() < hi_s and lo_l < 1.0 < hi_l
    assert hi_l - lo_l < (hi_s - lo_s) / 2
    # the width is close to 2 * 1.96 standard errors
    assert (hi_l - lo_l) == pytest.approx(2 * 1.96 * large.std() / np.sqrt(len(large)), rel=0.15)
    assert bootstrap_interval(lambda i: small[i].mean(), 50, n_boot=200, seed=3) == \
        bootstrap_interval(lambda i: small[i].mean(), 50, n_boot=200, seed=3)


def test_paired_bootstrap_difference_sees_a_consistent_small_gain():
    rng = np.random.default_rng(0)
    a = rng.random(100)
    b = a + 0.01                                  # b beats a by 0.01 on every item
    diff, lo, hi = paired_bootstrap_difference(lambda i: a[i].mean(), lambda i: b[i].mean(), 100, n_boot=300)
    assert diff == pytest.approx(0.01) and lo == pytest.approx(0.01) and hi == pytest.approx(0.01)
    noisy = a + rng.normal(0, 0.2, 100)
    _, lo, hi = paired_bootstrap_difference(lambda i: a[i].mean(), lambda i: noisy[i].mean(), 100, n_boot=300)
    assert lo < 0 < hi


def test_wilson_interval_matches_the_textbook_value():
    lo, hi = wilson_interval(32, 50)
    assert (round(lo, 3), round(hi, 3)) == (0.501, 0.759)   # by hand: centre 0.630, half-width 0.129
    assert wilson_interval(0, 10)[0] == pytest.approx(0.0, abs=1e-12) and wilson_interval(0, 10)[1] > 0.2
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="between 0 and trials"):
        wilson_interval(11, 10)


def test_welch_interval_equals_scipys_welch_test_and_covers_the_truth():
    from scipy import stats
    a, b = [0.895, 0.891, 0.887], [0.891, 0.891, 0.893]
    diff, lo, hi = welch_interval(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert diff == pytest.approx(np.mean(a) - np.mean(b)) and (lo, hi) == pytest.approx((ref.low, ref.high))
    assert lo < 0 < hi and welch_interval(a, b, level=0.5)[1] > lo          # a lower level, a narrower interval
    rng = np.random.default_rng(0)                 # coverage: true difference 0.3, 3 runs each, 2,000 trials
    hits = sum(lo <= 0.3 <= hi for lo, hi in (welch_interval(rng.normal(0.3, 1, 3), rng.normal(0, 2, 3))[1:]
                                              for _ in range(2000)))
    assert 0.93 < hits / 2000 < 0.99
    assert welch_interval([1, 1], [0, 0]) == (1.0, 1.0, 1.0)                # no spread: the difference itself
    with pytest.raises(ValueError, match="at least 2 finite values"):
        welch_interval([0.9], [0.8, 0.85])
