"""The committed global-context networks load into today's model code and score what their log recorded."""

from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers import data
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint
from helpers.torch.global_context import context_model, digit_pair_canvases


def _models():
    state, log = load_checkpoint("global_context")
    models = {}
    for key, entry in log["models"].items():
        model = context_model(entry["kind"], log["args"]["width"], canvas=(28, 2 * log["data"]["margin"] + 56
                                                                          + log["data"]["gap"]))
        model.load_state_dict({k.split(".", 1)[1]: v.float() for k, v in state.items() if k.split(".")[0] == key})
        models[key] = model.eval()
    return models, log


def test_checkpoint_matches_its_log():
    models, log = _models()
    assert len(models) == len(log["args"]["seeds"]) * len(log["args"]["kinds"])
    for key, model in models.items():
        kind = log["models"][key]["kind"]
        assert sum(p.numel() for p in model.parameters()) == log["parameters"][kind]
        assert len(log["models"][key]["val_acc"]) == log["args"]["epochs"]
    assert (Path(checkpoint_dir()) / "global_context.pt").stat().st_size < 2_000_000


@needs("mnist", "test")
def test_checkpoint_reaches_the_logged_test_accuracy():
    # the quick subset (the first 200 test pairs and their swapped twins) keeps this test to seconds;
    # the script scored the same stored weights on it and on all 4,000 canvases
    models, log = _models()
    d = log["data"]
    digits = data.load_mnist("test")
    x, y, _ = digit_pair_canvases(digits.x, digits.y, d["n_test"], tuple(d["classes"]), d["gap"], d["margin"],
                                  seed=d["test_seed"], both_orders=True)
    quick = np.r_[0:200, d["n_test"] // 2:d["n_test"] // 2 + 200]
    x, y = torch.from_numpy(x[quick]).float().div(255).unsqueeze(1), torch.from_numpy(y[quick])
    for key, model in models.items():
        with torch.no_grad():
            acc = float((model(x).argmax(1) == y).float().mean())
        assert acc == pytest.approx(log["models"][key]["test_acc_quick_float16_weights"], abs=0.003), key
        if log["models"][key]["kind"] in ("dilated", "attention"):
            assert acc > 0.85, key                # networks that can relate the two digits solve the task
            assert log["models"][key]["test_acc_float16_weights"] > 0.9, key
        else:
            assert acc == 0.5, key                # order-blind networks: a canvas and its twin get the same answer
