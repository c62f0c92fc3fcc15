"""The committed digit-strip readers load into today's model code and reach the test scores their logs report."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from offline_data import needs

from helpers.numpy.ctc import character_error_rate
from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.sequence import load_digit_reader, read_digits


def _script():
    path = Path(__file__).resolve().parents[1] / "scripts" / "train_digit_reader.py"
    spec = importlib.util.spec_from_file_location("train_digit_reader", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["crnn", "cnn_ctc", "heads"])
def test_reader_checkpoint_matches_its_log(kind):
    model, log = load_digit_reader(f"digit_reader_{kind}")
    assert sum(p.numel() for p in model.parameters()) == log["model"]["parameters"]
    assert len(log["history"]["loss"]) == log["args"]["steps"]
    assert np.mean(log["history"]["loss"][-50:]) < np.mean(log["history"]["loss"][:50]) / 3
    assert (Path(checkpoint_dir()) / f"digit_reader_{kind}.pt").stat().st_size < 2_000_000


@needs("mnist", "test")
@pytest.mark.parametrize("kind", ["crnn", "heads"])
def test_reader_reaches_the_reported_test_scores(kind):
    model, log = load_digit_reader(f"digit_reader_{kind}")
    x, y = _script().strips("test", data=log["data"])
    pred = read_digits(model, x)
    truth = [list(map(int, t)) for t in y]
    acc = np.mean([p == t for p, t in zip(pred, truth, strict=True)])
    assert acc == pytest.approx(log["test"]["sequence_accuracy"], abs=0.003)
    assert character_error_rate(pred, truth) == pytest.approx(log["test"]["cer"], abs=0.002)
