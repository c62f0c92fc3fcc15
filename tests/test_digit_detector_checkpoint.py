"""The committed digit detector loads into today's model code and reaches the test mAP its log reports."""

from pathlib import Path

import numpy as np
import pytest
from offline_data import needs

from helpers import data
from helpers.data.canvases import make_canvases
from helpers.numpy.boxes import mean_average_precision
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint
from helpers.torch.detection import DigitDetector, detect


def _model():
    state, log = load_checkpoint("digit_detector")
    model = DigitDetector(log["model"]["anchors"], n_classes=log["model"]["n_classes"], width=log["model"]["width"])
    model.load_state_dict(state)  # strict: every name and shape must match today's model
    return model.eval(), log


def test_digit_detector_checkpoint_matches_its_log():
    model, log = _model()
    assert sum(p.numel() for p in model.parameters()) == log["model"]["parameters"]
    assert np.allclose(model.anchors.numpy(), log["model"]["anchors"])      # float16-exact anchors
    assert len(log["history"]["loss"]) == log["args"]["steps"] // 25
    assert log["history"]["loss"][-1] < log["history"]["loss"][0] / 3
    assert (Path(checkpoint_dir()) / "digit_detector.pt").stat().st_size < 1_000_000


@needs("mnist", "test")
def test_digit_detector_reaches_the_reported_map():
    model, log = _model()
    d, rep = log["data"], log["test"]
    digits = data.load_mnist("test")
    test = make_canvases(digits.x, digits.y, d["n_test"], size=d["size"], max_digits=d["max_digits"],
                         scale=tuple(d["scale"]), max_overlap=d["max_overlap"], ink_threshold=d["ink_threshold"],
                         seed=d["test_seed"])
    n = rep["n_canvases"]
    dets = detect(model, test.x[:n], score_threshold=rep["score_threshold"], iou_threshold=rep["iou_threshold"])
    r = mean_average_precision(dets, test.targets(range(n)))
    assert r["map"] == pytest.approx(rep["map"], abs=0.002)
    assert r["map_50"] == pytest.approx(rep["map_50"], abs=0.002)
    assert rep["map_50"] > 0.8
