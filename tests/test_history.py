"""The one training history (helpers.history.History) that PyTorch's fit and the NumPy train both return."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from helpers.history import History


def filled():
    h = History()
    h.add_epoch(1.0, 0.5, 0.9, 0.6, 2.0, 0.1)
    h.add_epoch(0.8, 0.7, 0.95, 0.8, 3.0, 0.05)
    h.add_epoch(0.6, 0.8, math.nan, math.nan, 1.5, 0.01)
    return h


def test_add_epoch_best_len_and_total_seconds():
    h = filled()
    assert len(h) == 3 and h.seconds == [2.0, 3.0, 1.5] and h.total_seconds == 6.5
    assert h.best("val_acc") == (2, 0.8) and h.best("val_loss") == (1, 0.9)  # NaN epochs are skipped
    assert h.best("train_loss") == (3, 0.6) and h.best("train_acc") == (3, 0.8)
    with pytest.raises(ValueError, match="metric must be one of"):
        h.best("seconds")
    with pytest.raises(ValueError, match="no val_acc recorded yet"):
        History().best()
    empty_val = History()
    empty_val.add_epoch(1.0, 0.5)  # no validation: NaN
    assert math.isnan(empty_val.val_loss[0]) and math.isnan(empty_val.seconds[0])
    with pytest.raises(ValueError, match="no finite value"):
        empty_val.best("val_loss")
    h.add_epoch(0.5, 0.9, None, None, 1.0, 0.01)  # None is stored as NaN
    assert math.isnan(h.val_acc[-1]) and all(isinstance(v, float) for v in h.train_loss)


def test_steps_as_dict_and_curves():
    h = filled()
    h.add_step(np.float32(2.5), 0.1)
    h.add_step(2.0)
    assert h.step_loss == [2.5, 2.0] and h.step_lr == [0.1]
    d = h.as_dict()
    assert set(d) == {"train_loss", "train_acc", "val_loss", "val_acc", "seconds", "lr", "step_loss", "step_lr"}
    d["train_loss"].append(99.0)
    assert len(h.train_loss) == 3  # a copy
    json.loads(json.dumps(d))  # plain lists of floats (NaN is allowed by Python's json)
    assert list(h.curves()) == ["train loss", "val loss", "train acc", "val acc"]
    no_val = History()
    no_val.add_epoch(1.0, 0.5, seconds=1.0, lr=0.1)
    assert list(no_val.curves()) == ["train loss", "train acc"]


def test_one_class_for_both_training_loops_and_no_framework_import():
    from helpers.numpy import training as numpy_training
    from helpers.torch import training as torch_training

    assert torch_training.History is History is numpy_training.History
    code = "import sys, helpers.history; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
