"""helpers.torch.imbalance, helpers.numpy.classification_metrics.imbalance_scores / logit_adjusted_predictions,
and the committed log of scripts/imbalance_methods.py (the imbalance lesson's fixes over 3 seeds)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs
from sklearn import metrics as skm

from helpers.machine import same_build
from helpers.numpy.classification_metrics import imbalance_scores, logit_adjusted_predictions
from helpers.numpy.focal import softmax_focal_loss as softmax_focal_loss_np
from helpers.torch.checkpoints import load_log
from helpers.torch.imbalance import IMBALANCE_METHODS, imbalanced_split, softmax_focal_loss, train_imbalance_variant

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import imbalance_methods as script  # noqa: E402


def test_imbalanced_split_counts_disjointness_and_seed():
    labels = np.repeat(np.arange(4), 50)
    tr, va = imbalanced_split(labels, [1, 3], n_major=20, n_minor=5, seed=0)
    assert np.bincount(labels[tr]).tolist() == [20, 5, 20, 5] == np.bincount(labels[va]).tolist()
    assert not set(tr) & set(va)
    assert np.array_equal(tr, imbalanced_split(labels, [1, 3], 20, 5, seed=0)[0])
    assert not np.array_equal(tr, imbalanced_split(labels, [1, 3], 20, 5, seed=1)[0])
    with pytest.raises(ValueError, match="class 0 has 50 images; the split needs 60"):
        imbalanced_split(labels, [1], n_major=30, n_minor=5)


def test_softmax_focal_loss_matches_numpy_and_is_cross_entropy_at_gamma_zero():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(16, 5, generator=g, dtype=torch.float64), torch.randint(0, 5, (16,), generator=g)
    np_loss, _ = softmax_focal_loss_np(logits.numpy(), labels.numpy(), gamma=2.0)   # (loss, dlogits)
    assert float(softmax_focal_loss(logits, labels, 2.0)) == pytest.approx(np_loss, rel=1e-10)
    assert float(softmax_focal_loss(logits, labels, 0.0)) == pytest.approx(
        float(torch.nn.functional.cross_entropy(logits, labels)), rel=1e-12)


def test_imbalance_scores_against_sklearn_and_logit_adjustment():
    rng = np.random.default_rng(0)
    labels, preds = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    prior = np.array([0.4, 0.1, 0.4, 0.1])
    s = imbalance_scores(preds, labels, prior, [1, 3], 4)
    rec = skm.recall_score(labels, preds, average=None)
    assert s["accuracy (balanced test set)"] == pytest.approx(skm.accuracy_score(labels, preds))
    assert s["accuracy on the training distribution"] == pytest.approx(float(prior @ rec))
    assert s["minority recall (mean of 1, 3)"] == pytest.approx(rec[[1, 3]].mean())
    assert s["macro-F1"] == pytest.approx(skm.f1_score(labels, preds, average="macro"))
    assert s["balanced accuracy"] == pytest.approx(skm.balanced_accuracy_score(labels, preds))
    with pytest.raises(ValueError, match="summing to 1"):
        imbalance_scores(preds, labels, [0.5, 0.5, 0.5, 0.5], [1], 4)
    logits = np.log(np.array([[0.5, 0.3, 0.1, 0.1]]))
    assert logit_adjusted_predictions(logits, prior, 0.0)[0] == 0
    assert logit_adjusted_predictions(logits, prior, 1.0)[0] == 1       # 0.3 / 0.1 beats 0.5 / 0.4
    with pytest.raises(ValueError, match="positive"):
        logit_adjusted_predictions(logits, [0.5, 0.5, 0.0, 0.0], 1.0)


def _toy():
    g = torch.Generator().manual_seed(0)
    y = torch.cat([torch.zeros(60), torch.ones(6)]).long()
    x = torch.randn(66, 2, generator=g) + 1.5 * y[:, None].float()
    return x, y


def test_every_method_trains_reproducibly_and_the_fixes_help_the_rare_class():
    x, y = _toy()

    def make():
        return torch.nn.Linear(2, 2)

    recall = {}
    for method in IMBALANCE_METHODS:
        a = train_imbalance_variant(make, method, x, y, seed=0, steps=60, batch_size=16, lr=0.05, n_classes=2)
        b = train_imbalance_variant(make, method, x, y, seed=0, steps=60, batch_size=16, lr=0.05, n_classes=2)
        assert torch.equal(a.weight, b.weight) and not a.training
        with torch.no_grad():
            recall[method] = float((a(x[y == 1]).argmax(1) == 1).float().mean())
    assert recall["class weights"] > recall["plain"] and recall["resampling"] > recall["plain"]
    with pytest.raises(ValueError, match="method must be one of"):
        train_imbalance_variant(make, "smote", x, y, seed=0)


def test_log_holds_every_method_and_seed():
    log = load_log("imbalance_methods")
    seeds = log["args"]["seeds"]
    assert len(seeds) >= 3
    keys = {(r["method"], r["seed"]) for r in log["runs"]}
    assert keys == {(m, s) for m in (*IMBALANCE_METHODS, "threshold moving") for s in seeds}
    recall = {m: np.array([r["scores"]["minority recall (mean of 2, 5, 8)"] for r in log["runs"] if r["method"] == m])
              for m in (*IMBALANCE_METHODS, "threshold moving")}
    assert recall["class weights"].min() > recall["plain"].max()            # as the lesson reads it
    assert all(0 <= r.get("tau", 0) <= 2.5 for r in log["runs"])
    assert log["data"]["test_images"] == 10000 and {"torch", "threads"} <= set(log["machine"])


@needs("mnist", "train", "test")
def test_one_logged_run_reruns(tmp_path):
    from helpers.seeding import torch_threads

    log = load_log("imbalance_methods")
    with torch_threads(log["machine"]["threads"]):
        script.main(["--seeds", "1", "--methods", "resampling", "--threads", str(log["machine"]["threads"]),
                     "--out", str(tmp_path)])
    (rerun,) = load_log("imbalance_methods", tmp_path)["runs"]
    logged = next(r for r in log["runs"] if (r["method"], r["seed"]) == ("resampling", 1))
    tol = 0.0 if same_build(log["machine"]) else 0.02
    for k, v in logged["scores"].items():
        assert rerun["scores"][k] == pytest.approx(v, abs=tol), k


def test_unknown_methods_are_refused(capsys):
    with pytest.raises(SystemExit):
        script.main(["--methods", "smote"])
    assert "unknown methods ['smote']" in capsys.readouterr().err
