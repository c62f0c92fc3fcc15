"""helpers.numpy.classification_metrics against sklearn.metrics (and torchmetrics), on random and edge cases."""

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from torchmetrics.functional.classification import multiclass_auroc, multiclass_average_precision

from helpers.numpy.classification_metrics import (
    average_precision,
    balanced_accuracy,
    precision_recall_curve,
    precision_recall_f1,
    roc_auc,
    roc_curve,
    top_k_accuracy,
)


def _random_preds(seed, n=300, k=5):
    g = np.random.default_rng(seed)
    labels = g.integers(0, k, n)
    preds = np.where(g.random(n) < 0.6, labels, g.integers(0, k, n))
    return preds, labels


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("average", [None, "macro", "micro", "weighted"])
def test_precision_recall_f1_match_sklearn(seed, average):
    preds, labels = _random_preds(seed)
    p, r, f = precision_recall_f1(preds, labels, 5, average=average)
    sp, sr, sf, _ = skm.precision_recall_fscore_support(labels, preds, labels=range(5), average=average,
                                                        zero_division=0)
    np.testing.assert_allclose([p, r, f], [sp, sr, sf], atol=1e-12)


def test_precision_zero_division_and_absent_class():
    labels = np.array([0, 0, 1, 1, 1])
    preds = np.array([0, 0, 0, 0, 0])                  # class 1 never predicted, class 2 absent everywhere
    for average in (None, "macro", "micro", "weighted"):
        ours = precision_recall_f1(preds, labels, 3, average=average)
        ref = skm.precision_recall_fscore_support(labels, preds, labels=range(3), average=average, zero_division=0)
        np.testing.assert_allclose(ours, ref[:3], atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_balanced_accuracy(seed):
    preds, labels = _random_preds(seed, k=4)
    labels[labels == 3] = 0                            # a class that is only ever predicted, never true
    assert balanced_accuracy(preds, labels, 4) == pytest.approx(skm.balanced_accuracy_score(labels, preds))


def test_balanced_accuracy_of_a_constant_predictor():
    labels = np.r_[np.zeros(97, int), np.ones(3, int)]
    assert balanced_accuracy(np.zeros(100, int), labels, 2) == 0.5


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_top_k_accuracy(k):
    g = np.random.default_rng(k)
    scores, labels = g.normal(size=(200, 6)), g.integers(0, 6, 200)
    assert top_k_accuracy(scores, labels, k) == pytest.approx(
        skm.top_k_accuracy_score(labels, scores, k=k, labels=range(6)))
    if k == 1:
        assert top_k_accuracy(scores, labels, 1) == np.mean(scores.argmax(1) == labels)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_pr_match_sklearn(seed, ties):
    g = np.random.default_rng(seed)
    labels = (g.random(250) < 0.2).astype(int)
    scores = g.normal(size=250) + labels
    if ties:
        scores = np.round(scores, 1)                   # many tied scores
    fpr, tpr, thr = roc_curve(labels, scores)
    sfpr, stpr, sthr = skm.roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sfpr)
    np.testing.assert_allclose(tpr, stpr)
    np.testing.assert_array_equal(thr, sthr)
    assert roc_auc(labels, scores) == pytest.approx(skm.roc_auc_score(labels, scores), abs=1e-12)
    p, r, t = precision_recall_curve(labels, scores)
    sp, sr, st = skm.precision_recall_curve(labels, scores)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(t, st)
    assert average_precision(labels, scores) == pytest.approx(skm.average_precision_score(labels, scores),
                                                              abs=1e-12)


def test_one_vs_rest_matches_torchmetrics():
    g = np.random.default_rng(7)
    logits, labels = g.normal(size=(400, 4)), g.integers(0, 4, 400)
    logits[np.arange(400), labels] += 1
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ours_auc = [roc_auc(labels == c, probs[:, c]) for c in range(4)]
    ours_ap = [average_precision(labels == c, probs[:, c]) for c in range(4)]
    pt, yt = torch.from_numpy(probs), torch.from_numpy(labels)
    np.testing.assert_allclose(ours_auc, multiclass_auroc(pt, yt, 4, average="none").numpy(), atol=1e-6)
    np.testing.assert_allclose(ours_ap, multiclass_average_precision(pt, yt, 4, average="none").numpy(), atol=1e-6)


def test_perfect_and_reversed_scores():
    labels = np.array([0, 0, 1, 1])
    assert roc_auc(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(labels, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc(labels, [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert average_precision(labels, [0.1, 0.2, 0.8, 0.9]) == 1.0


def test_errors():
    with pytest.raises(ValueError, match="average must be"):
        precision_recall_f1([0, 1], [0, 1], 2, average="binary")
    with pytest.raises(ValueError, match="integer class indices"):
        precision_recall_f1([0, 2], [0, 1], 2)
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        average_precision([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        roc_curve([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite"):
        roc_curve([0, 1], [0.1, np.nan])
    with pytest.raises(ValueError, match="k must be at most"):
        top_k_accuracy(np.zeros((3, 2)), [0, 1, 0], k=3)
    with pytest.raises(ValueError, match=r"shape \(N, K\)"):
        top_k_accuracy(np.zeros(3), [0, 1, 0], k=1)
    with pytest.raises(ValueError, match="must not be empty"):
        balanced_accuracy(np.zeros(0, int), np.zeros(0, int), 2)
