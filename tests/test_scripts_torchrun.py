"""The training scripts run unchanged under torchrun (2 gloo processes) and as one plain process.

Tiny settings: a depth-8, width-4 CIFAR ResNet for one epoch on 512 images (one model trained data-parallel),
and one regularization-sweep run per seed (independent runs dealt out over the processes, whose results must
equal a plain run's). One more smoke run stands for the sweeps that deal out their seeds or settings with
:func:`helpers.torch.distributed.run_sharded` (one torchrun test per script would cost too much CI time): the
Catch policy's two seeds, the cheapest of them (the ResNet test covers the data-parallel trainers' pattern).
Everything is written to a temporary folder, never to book/lessons/checkpoints.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from offline_data import needs
from torch.utils.data import DataLoader

from helpers import data
from helpers.torch.checkpoints import load_checkpoint
from helpers.torch.loaders import ImageDataset, image_transform
from helpers.torch.resnet import CifarResNet
from helpers.torch.training import evaluate

ROOT = Path(__file__).resolve().parents[1]
DIST_VARS = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
RESNET_ARGS = ["--depth", "8", "--width", "4", "--epochs", "1", "--limit", "512", "--batch-size", "64",
               "--threads", "1"]
SWEEP_ARGS = ["--epochs", "2", "--seeds", "0,1", "--per-class", "10", "--methods", "none", "--width", "8",
              "--threads", "1"]
CATCH_ARGS = ["--iterations", "3", "--games", "8", "--seeds", "0,1", "--eval-episodes", "10", "--threads", "1"]
TIMING = ("seconds", "wall_seconds", "machine", "world_size")


pytestmark = needs("cifar10", "train", "test")


def _torchrun(script, args, timeout=300):
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(ROOT / "scripts" / script), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _plain(script, args, monkeypatch):
    """Run ``scripts/<script>``'s ``main(args)`` in this process, as ``python scripts/<script>`` would."""
    for var in DIST_VARS:
        monkeypatch.delenv(var, raising=False)
    spec = importlib.util.spec_from_file_location(Path(script).stem, ROOT / "scripts" / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    try:
        module.main(args)
    finally:
        torch.set_num_threads(threads)


def _check_run_info(log, world_size):
    assert log["world_size"] == world_size
    assert log["wall_seconds"] > 0      # logged to 1 ms: the tiny Catch run can take under 0.05 s
    machine = log["machine"]
    assert machine["cpus"] == os.cpu_count() and machine["threads"] == 1 and machine["torch"] == torch.__version__
    assert machine["local_processes"] == world_size and machine["processor"]


def _resnet_test_accuracy(tmp, log):
    """The stored (float16) checkpoint, loaded strictly into a fresh model, scored on the log's test images."""
    state, _ = load_checkpoint("resnet8_cifar10", tmp)
    model = CifarResNet(8, width=4, num_classes=10)
    model.load_state_dict(state)
    test = data.load_cifar10("test", download=False)
    n = log["data"]["sizes"]["test"]
    loader = DataLoader(ImageDataset(test.x[:n], test.y[:n], image_transform(log["data"]["mean"], log["data"]["std"])),
                        batch_size=256)
    return evaluate(model, loader, device="cpu")[1]


def test_train_cifar_resnet_under_torchrun_and_plain(tmp_path, monkeypatch):
    two, one = tmp_path / "two", tmp_path / "one"
    done = _torchrun("train_cifar_resnet.py", [*RESNET_ARGS, "--out", str(two)])
    assert done.stdout.count("resnet8_cifar10: test accuracy") == 1          # rank 0 alone reports
    log2 = json.loads((two / "resnet8_cifar10.json").read_text())
    _check_run_info(log2, 2)
    assert log2["data"]["sizes"] == {"train": 461, "val": 51, "test": 512}
    assert log2["args"]["batch_size"] == 64 and len(log2["history"]["train_loss"]) == 1
    assert _resnet_test_accuracy(two, log2) == pytest.approx(log2["test_acc_float16_weights"], abs=1e-4)

    _plain("train_cifar_resnet.py", [*RESNET_ARGS, "--out", str(one)], monkeypatch)
    log1 = json.loads((one / "resnet8_cifar10.json").read_text())
    _check_run_info(log1, 1)
    assert log1["data"] == log2["data"]                                     # the same data, the same split
    assert _resnet_test_accuracy(one, log1) == pytest.approx(log1["test_acc_float16_weights"], abs=1e-4)
    # one step per global batch of 64 in both: 461 images -> 8 steps (each process: 4 steps of <= 32 images)
    assert log1["history"]["lr"] == log2["history"]["lr"]


def test_regularization_sweep_under_torchrun_equals_a_plain_run(tmp_path, monkeypatch):
    two, one = tmp_path / "two", tmp_path / "one"
    _torchrun("regularization_sweep.py", [*SWEEP_ARGS, "--out", str(two)])
    _plain("regularization_sweep.py", [*SWEEP_ARGS, "--out", str(one)], monkeypatch)
    log2 = json.loads((two / "regularization_sweep.json").read_text())
    log1 = json.loads((one / "regularization_sweep.json").read_text())
    _check_run_info(log2, 2)
    _check_run_info(log1, 1)
    assert [(r["method"], r["seed"]) for r in log2["runs"]] == [("none", 0), ("none", 1)]   # gathered in order

    def results(log):
        return [{k: v for k, v in r.items() if k not in TIMING} for r in log["runs"]]

    assert results(log2) == results(log1)               # each run computed exactly as in one process
    assert results(log1)[0] != results(log1)[1]         # (and the seeds do differ)
    rest = [{k: v for k, v in log.items() if k not in (*TIMING, "runs")} for log in (log1, log2)]
    assert rest[0] == rest[1] and rest[0]["args"]["threads"] == 1
    stored2 = json.loads((two / "regularization_none.json").read_text())
    assert stored2 == json.loads((one / "regularization_none.json").read_text())
    state2, _ = load_checkpoint("regularization_none", two)
    state1, _ = load_checkpoint("regularization_none", one)
    assert state2.keys() == state1.keys() and all(torch.equal(state2[k], state1[k]) for k in state1)


def test_catch_seeds_under_torchrun_equal_a_plain_run(tmp_path, monkeypatch):
    two, one = tmp_path / "two", tmp_path / "one"
    done = _torchrun("train_catch.py", [*CATCH_ARGS, "--out", str(two)])
    assert done.stdout.count("seed 0:") == done.stdout.count("seed 1:") == 1       # each seed run once
    _plain("train_catch.py", [*CATCH_ARGS, "--out", str(one)], monkeypatch)
    log2 = json.loads((two / "catch_policy.json").read_text())
    log1 = json.loads((one / "catch_policy.json").read_text())
    _check_run_info(log2, 2)
    _check_run_info(log1, 1)

    def results(log):
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in log["runs"]]

    assert [r["seed"] for r in log2["runs"]] == [0, 1] and results(log2) == results(log1)
    state2, _ = load_checkpoint("catch_policy", two)
    state1, _ = load_checkpoint("catch_policy", one)
    assert state2.keys() == state1.keys() and all(torch.equal(state2[k], state1[k]) for k in state1)

