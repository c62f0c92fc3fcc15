"""The committed distilled-student checkpoint loads into today's code and reaches the accuracy its log reports."""

import numpy as np
import pytest
import torch

from helpers import data
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.models import cifar_cnn
from helpers.torch.params import count_params


def _student():
    state, log = load_checkpoint("distill_student")
    model = cifar_cnn(width=log["model"]["width"])
    model.load_state_dict(state)  # strict: names and shapes must match today's builder
    return model.eval(), log


def test_log_is_complete():
    model, log = _student()
    assert count_params(model) == log["model"]["parameters"]
    seeds = log["args"]["seeds"]
    assert len(seeds) >= 3
    assert sorted((r["seed"], r["arm"]) for r in log["runs"]) == sorted(
        (s, a) for s in seeds for a in ("plain", "distilled"))
    assert all(0.1 < r["test_acc"] < 1.0 for r in log["runs"])


def test_stored_student_reaches_the_logged_test_accuracy():
    model, log = _student()
    try:
        test = data.load_cifar10("test", download=False)
    except data.DataUnavailableError:
        pytest.skip("set CNN_BOOK_DATA to the offline data folder")
    x = torch.from_numpy(test.x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        pred = torch.cat([model(x[s:s + 1000]).argmax(1) for s in range(0, len(x), 1000)]).numpy()
    acc = float(np.mean(pred == test.y))
    assert acc == pytest.approx(log["stored"]["test_acc_float16_weights"], abs=0.002)
    run = next(r for r in log["runs"] if r["seed"] == log["stored"]["seed"] and r["arm"] == "distilled")
    assert acc == pytest.approx(run["test_acc"], abs=0.005)
