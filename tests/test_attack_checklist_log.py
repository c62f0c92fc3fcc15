"""The committed log of scripts/attack_checklist.py is consistent and its first 100 digits reproduce."""

import json

import pytest
import torch
from offline_data import needs

from helpers import data
from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.models import load_mnist_classifier
from helpers.torch.robustness import attack_checklist, from_survivors, survival

LOG = checkpoint_dir() / "attack_checklist.json"


def test_log_is_consistent():
    log = json.loads(LOG.read_text())
    flags = {name: from_survivors(s) for name, s in log["survivors"].items()}
    assert set(flags) == set(log["accuracy"]) and len(flags) == 6
    for name, ok in flags.items():
        assert len(ok) == log["args"]["n"]
        assert float(ok.float().mean()) == pytest.approx(log["accuracy"][name], abs=1e-4)
    worst = float(torch.stack(list(flags.values())).all(0).float().mean())
    assert worst == pytest.approx(log["all_attacks"], abs=1e-4)
    assert log["all_attacks"] <= min(log["accuracy"].values())
    sweep = {float(e): a for e, a in log["sweep_pgd20"].items()}
    assert sorted(sweep) == [0.1, 0.2, 0.3, 0.4, 0.5]           # the lesson reads 0.1 and 0.3, checks 0.2 live
    # the sweep's PGD-20 at the checklist's eps is the checklist's first attack, the same call: the same accuracy
    assert sweep[log["args"]["eps"]] == pytest.approx(log["accuracy"]["PGD-20, cross-entropy"], abs=1e-9)
    assert all(a >= b for a, b in zip(list(sweep.values()), list(sweep.values())[1:], strict=False))


@needs("mnist", "test")
def test_first_100_digits_reproduce():
    torch.set_num_threads(1)
    log = json.loads(LOG.read_text())
    test = data.load_mnist("test", download=False)
    x = torch.from_numpy(test.x[:100]).float().div(255)[:, None]
    y = torch.from_numpy(test.y[:100]).long()
    robust, _ = load_mnist_classifier(log["model"])
    standard, _ = load_mnist_classifier(log["reference"])
    again = survival(robust, x, y, attack_checklist(robust, standard, log["args"]["eps"]), batch_size=log["batch_size"])
    for name, ok in again.items():
        # identical on the machine that wrote the log; at most 2 of 100 flips allowed for another CPU's rounding
        assert int((ok != from_survivors(log["survivors"][name])[:100]).sum()) <= 2, name
