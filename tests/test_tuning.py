"""The search helpers, and the committed tuning and regularization logs re-checked against fresh runs."""

import json

import numpy as np
import pytest
import torch

from helpers import data
from helpers.numpy.regularization import early_stopping_epoch
from helpers.torch import tuning
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint
from helpers.torch.metrics import accuracy
from helpers.torch.models import Normalize, cifar_cnn


def _have(name):
    try:
        getattr(data, f"load_{name}")("test", download=False)
    except data.DataUnavailableError:
        return False
    return True


def _digits(n, start=0):
    rng = np.random.default_rng(start)
    x = torch.from_numpy(rng.standard_normal((n, 1, 28, 28)).astype(np.float32))
    return x, torch.from_numpy(rng.integers(0, 10, n)).long()


def test_grid_and_random_configs():
    grid = tuning.grid_configs(lr=[0.1, 1.0], momentum=[0.0, 0.5, 0.9])
    assert len(grid) == 6 and {"lr": 1.0, "momentum": 0.5} in grid
    configs = tuning.random_configs(200, seed=3)
    assert configs == tuning.random_configs(200, seed=3) and configs != tuning.random_configs(200, seed=4)
    lrs = np.array([c["lr"] for c in configs])
    assert lrs.min() >= 1e-3 and lrs.max() <= 1.0
    assert 0.3 < np.mean(lrs < 10 ** -1.5) < 0.7          # log-uniform: half the draws below the geometric middle
    with pytest.raises(ValueError, match="non-empty list"):
        tuning.grid_configs(lr=[])
    with pytest.raises(ValueError, match="scale of lr"):
        tuning.random_configs(2, space={"lr": (0.1, 1.0, "cubic")})


def test_train_small_cnn_is_seeded_learns_and_checks_arguments():
    x, y = _digits(256)
    x[y == 3] += 1.0                                      # a learnable signal: digit 3 is brighter
    a = tuning.train_small_cnn(x, y, lr=0.05, seed=1, epochs=2)
    b = tuning.train_small_cnn(x, y, lr=0.05, seed=1, epochs=2)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert tuning.train_small_cnn(x, y, on_half_epoch=lambda m: True) is None
    with pytest.raises(ValueError, match=r"MNIST images \(N, 1, 28, 28\)"):
        tuning.train_small_cnn(torch.zeros(4, 28, 28), y[:4])
    with pytest.raises(ValueError, match="lr must be a finite number"):
        tuning.train_small_cnn(x, y, lr=float("nan"))


def test_optuna_search_prunes_with_the_reported_score_and_finds_the_optimum():
    calls = []

    def objective(cfg, on_half_epoch):
        score = -abs(np.log10(cfg["lr"]) + 1)             # best at lr = 0.1
        calls.append(cfg)
        if on_half_epoch(score):
            return None
        return score
    study = tuning.optuna_search(objective, n_trials=30, seed=0, space={"lr": (1e-3, 1.0, "log")})
    assert len(calls) == 30
    assert abs(np.log10(study.best_params["lr"]) + 1) < 0.2
    assert any(t.state.name == "PRUNED" for t in study.trials)


def _tuning_log():
    return json.loads((checkpoint_dir() / "tuning_experiments.json").read_text())


@pytest.mark.skipif(not _have("mnist"), reason="set CNN_BOOK_DATA to the offline data folder")
def test_the_logged_grid_search_trial_and_schedule_run_reproduce():
    import importlib.util
    spec = importlib.util.spec_from_file_location("tuning_experiments",
                                                  checkpoint_dir().parents[2] / "scripts" / "tuning_experiments.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    log = _tuning_log()
    x, y, search_data, x_test, y_test = script.data()
    same = tuning.search_split(data.load_mnist("train", download=False))
    assert all(torch.equal(a, b) for a, b in zip(same, search_data, strict=True))
    assert torch.equal(search_data[0], x[:2000]) and torch.equal(search_data[2], x[2000:3000])
    grid = log["searches"]["runs"]["grid"][0]
    best = grid["best"]
    assert tuning.validation_objective(search_data, **best["config"]) == pytest.approx(best["value"], abs=0.005)
    logged = log["schedules"]["runs"]["one-cycle"][0]
    fresh = script.schedule_run(script.schedules()["one-cycle"], logged["seed"], x, y, x_test, y_test)
    assert fresh["test_acc"] == pytest.approx(logged["test_acc"], abs=0.003)


@pytest.mark.skipif(not _have("cifar10"), reason="set CNN_BOOK_DATA to the offline data folder")
@pytest.mark.parametrize("method", ["none", "augmentation"])
def test_regularization_checkpoints_score_what_the_sweep_logged(method):
    state, log = load_checkpoint(f"regularization_{method}")
    model = torch.nn.Sequential(Normalize(log["mean"], log["std"]), cifar_cnn(log["model"]["width"]))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    test = data.load_cifar10("test", download=False)
    x = torch.from_numpy(test.x).permute(0, 3, 1, 2).float().div(255)
    acc = accuracy(model.eval(), x, torch.from_numpy(test.y).long())
    assert acc == pytest.approx(log["test_acc"], abs=0.002)
    sweep = json.loads((checkpoint_dir() / "regularization_sweep.json").read_text())
    run = next(r for r in sweep["runs"] if r["method"] == method and r["seed"] == log["seed"])
    assert run["test_acc"][str(len(run["val_loss"]))] == pytest.approx(log["test_acc"], abs=0.002)
    stop, best = early_stopping_epoch(run["val_loss"], 3)
    assert str(best) in run["test_acc"]                     # the early-stopped weights were tested too
