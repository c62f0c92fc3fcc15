"""The committed log of scripts/fgsm_rs_sweep.py is complete and one of its configurations reproduces.

The re-run is the small configuration the adversarial-examples lesson runs live (seed 0, one epoch on the
first 10,000 training digits), on one thread, compared with the log's one-thread entry.
"""

import json

import pytest
import torch
from offline_data import needs

from helpers import data
from helpers.torch.checkpoints import checkpoint_dir

LOG = checkpoint_dir() / "fgsm_rs_sweep.json"
KEYS = {"clean", "FGSM 0.3", "PGD-20 0.3"}


def test_log_is_complete():
    log = json.loads(LOG.read_text())
    assert [r["seed"] for r in log["runs"]] == log["args"]["seeds"] and len(log["runs"]) >= 3
    for r in log["runs"]:
        assert KEYS | {"PGD-20 0.2"} <= set(r) and r["epochs"] == log["args"]["epochs"]
        assert len(r["loss"]) == r["epochs"] and r["train_seconds"] > 0
        assert all(0 <= r[k] <= 1 for k in KEYS)
    assert {"torch", "threads", "cpus", "processor"} <= set(log["machine"])
    assert "1" in log["live"]


@needs("mnist", "test")
def test_the_live_configuration_reproduces_its_logged_accuracies():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import fgsm_rs_sweep

    log = json.loads(LOG.read_text())
    logged = log["live"]["1"]
    train, test = data.load_mnist("train", download=False), data.load_mnist("test", download=False)
    x, y = fgsm_rs_sweep.pixels(train.x[:logged["train_n"]]), torch.from_numpy(train.y[:logged["train_n"]]).long()
    xe, ye = fgsm_rs_sweep.pixels(test.x[:1000]), torch.from_numpy(test.y[:1000]).long()
    args = type("Args", (), {"eps": log["args"]["eps"]})()
    again = fgsm_rs_sweep.run(x, y, xe, ye, args, 0, logged["train_n"], logged["epochs"], 1, pgd_eps=(0.3,))
    # the same machine gives the same numbers; another CPU may sum in another order: 0.02 is the lesson's tolerance
    for key in KEYS:
        assert again[key] == pytest.approx(logged[key], abs=0.02), key
