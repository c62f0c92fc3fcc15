"""The committed width-sweep log (scripts/width_sweep.py) describes today's networks and is reproduced by the script."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from offline_data import needs

from helpers.torch.checkpoints import load_log
from helpers.torch.models import cifar_cnn
from helpers.torch.params import count_params

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "width_sweep.py"


def test_log_matches_the_networks_and_holds_three_seeds_per_width():
    log = load_log("width_sweep")
    assert sorted(int(w) for w in log["runs"]) == [8, 16, 32, 64]
    for width, runs in log["runs"].items():
        assert [r["seed"] for r in runs] == [0, 1, 2]
        assert all(r["parameters"] == count_params(cifar_cnn(width=int(width))) for r in runs)
        assert all(len(r["history"]["val_acc"]) == log["args"]["epochs"] for r in runs)
        assert all(0.1 < r["test_acc"] < 1 for r in runs)
    means = [np.mean([r["test_acc"] for r in log["runs"][w]]) for w in ("8", "16", "32", "64")]
    assert means == sorted(means)


@needs("cifar10", "train")
def test_the_script_reproduces_the_first_epoch_of_the_logged_run(tmp_path):
    spec = importlib.util.spec_from_file_location("width_sweep", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    threads = torch.get_num_threads()
    try:
        script.main(["--widths", "8", "--seeds", "0", "--epochs", "1", "--threads", "1", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    new = json.loads((tmp_path / "width_sweep.json").read_text())["runs"]["8"][0]["history"]
    logged = load_log("width_sweep")["runs"]["8"][0]["history"]
    # epoch 1 does not depend on the number of epochs (constant learning rate); 1 thread as the logged run
    assert new["train_loss"][0] == pytest.approx(logged["train_loss"][0], abs=1e-4)
    assert new["val_acc"][0] == pytest.approx(logged["val_acc"][0], abs=0.005)
