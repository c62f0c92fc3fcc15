"""Run the optimization lesson's two training sweeps: learning-rate schedules, and three hyperparameter searches.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/tuning_experiments.py [--threads N] [--search-seeds 0,1,2,3,4] [--budget 12]
    torchrun --standalone --nproc_per_node 2 scripts/tuning_experiments.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the
independent runs of each phase (schedule runs, searches, retrainings) are dealt out over the processes
(:func:`helpers.torch.distributed.shard`), each run exactly as in one process, and rank 0 gathers them and
writes the same file as a plain run. ``--schedule-seeds`` and ``--retrain-seeds`` (quick tests) run fewer seeds.

1. Schedules. ``mnist_classifier(width=8, hidden=32)`` trained with SGD (momentum 0.9, peak rate 0.05) for
   3 epochs of 6,400 MNIST training digits (batch 64, 300 steps) under five schedules of
   :mod:`helpers.numpy.schedules` (constant, step, cosine, warm-up + cosine, one-cycle), seeds 0, 1, 2;
   logged: the final loss on those 6,400 digits and the accuracy on the 10,000 test digits.
2. Searches. One trial is :func:`helpers.torch.tuning.validation_objective`: one epoch on MNIST training
   digits 0-1,999, scored on digits 2,000-2,999. With the same budget of ``--budget`` trials: a grid
   (3 learning rates x 2 momenta x 2 weight decays), random search and Optuna's TPE with median pruning,
   the last two once per search seed. Each search's best configuration is retrained with seeds 10, 11, 12
   and tested on the 10,000 test digits.

Writes ``book/lessons/checkpoints/tuning_experiments.json`` (with the wall time, the machine and the number of
processes). Seeded: the same command on the same machine
gives the same numbers (the test ``tests/test_tuning.py`` re-runs logged trials and compares).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from helpers.data import load_mnist, normalize_mnist
from helpers.machine import default_threads, machine_info
from helpers.numpy.schedules import cosine_lr, one_cycle_lr, step_lr, warmup_lr
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.distributed import gather, is_main, setup, shard, teardown
from helpers.torch.metrics import accuracy
from helpers.torch.tuning import (
    grid_configs,
    optuna_search,
    random_configs,
    search_split,
    train_small_cnn,
    validation_objective,
)

PEAK, TOTAL = 0.05, 300
GRID = dict(lr=[1e-3, 3e-2, 1.0], momentum=[0.0, 0.9], weight_decay=[1e-6, 1e-3])
RETRAIN_SEEDS = (10, 11, 12)


def schedules() -> dict:
    """The five schedules compared, each a function ``step -> lr`` over ``TOTAL`` steps with peak ``PEAK``."""
    return {
        "constant": lambda t: PEAK,
        "step": step_lr(PEAK, step_size=100, gamma=0.3),
        "cosine": cosine_lr(PEAK, TOTAL),
        "warm-up + cosine": warmup_lr(cosine_lr(PEAK, TOTAL - 30), warmup_steps=30, start_factor=0.1),
        "one-cycle": one_cycle_lr(PEAK, TOTAL),
    }


def data():
    """Tensors: schedule training digits, search train/val digits, test digits."""
    train, test = load_mnist("train"), load_mnist("test")
    x = torch.from_numpy(normalize_mnist(train.x[:6400]))
    y = torch.from_numpy(train.y[:6400]).long()
    x_test, y_test = torch.from_numpy(normalize_mnist(test.x)), torch.from_numpy(test.y).long()
    return x, y, search_split(train), x_test, y_test


def schedule_run(schedule, seed, x, y, x_test, y_test) -> dict:
    """One schedule run: the trained network's final training loss and test accuracy."""
    model = train_small_cnn(x, y, lr=PEAK, momentum=0.9, schedule=schedule, epochs=3, batch_size=64, width=8,
                            hidden=32, seed=seed)
    with torch.no_grad():
        train_loss = F.cross_entropy(model(x), y).item()
    return {"seed": seed, "train_loss": round(train_loss, 4), "test_acc": round(accuracy(model, x_test, y_test), 4)}


def run_shared(jobs, fn) -> list:
    """``[fn(*job) for job in jobs]``, with the jobs dealt out over the processes and the results in job order."""
    mine = [(i, fn(*job)) for i, job in shard(enumerate(jobs))]
    return [result for _, result in sorted((r for part in gather(mine) for r in part), key=lambda r: r[0])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--schedule-seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--retrain-seeds", type=lambda s: [int(v) for v in s.split(",")],
                        default=list(RETRAIN_SEEDS))
    parser.add_argument("--search-seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2, 3, 4])
    parser.add_argument("--budget", type=int, default=12, help="trials per search")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x, y, search_data, x_test, y_test = data()
    wall = time.perf_counter()

    names = list(schedules())
    sched_jobs = [(name, s) for name in names for s in args.schedule_seeds]
    results = run_shared(sched_jobs, lambda name, s: schedule_run(schedules()[name], s, x, y, x_test, y_test))
    sched_log = {name: [r for (n, _), r in zip(sched_jobs, results, strict=True) if n == name] for name in names}
    for name in names:
        print(f"{name:17s}", [r["test_acc"] for r in sched_log[name]], flush=True)
    sched_seconds = time.perf_counter() - wall

    def trial(cfg, seed=0, cb=None):
        return validation_objective(search_data, **cfg, seed=seed, on_half_epoch=cb)

    grid = grid_configs(**GRID)
    if len(grid) != args.budget:
        raise SystemExit(f"the grid has {len(grid)} points but the budget is {args.budget}")

    def search(kind, s):
        if kind == "grid":
            return {"search_seed": None, "trials": [{"config": c, "value": trial(c)} for c in grid]}
        if kind == "random":
            run = {"search_seed": s, "trials": [{"config": c, "value": trial(c)}
                                                for c in random_configs(args.budget, seed=s)]}
        else:
            study = optuna_search(lambda cfg, cb: trial(cfg, cb=cb), args.budget, seed=s)
            run = {"search_seed": s, "trials": [{"config": t.params, "value": t.value, "state": t.state.name}
                                                for t in study.trials]}
        print(f"search seed {s}: {kind} best {max(t['value'] for t in run['trials'] if t['value'] is not None):.4f}",
              flush=True)
        return run

    search_jobs = [("grid", None)] + [(kind, s) for s in args.search_seeds for kind in ("random", "Optuna TPE")]
    searches = {"grid": [], "random": [], "Optuna TPE": []}
    for (kind, _), run in zip(search_jobs, run_shared(search_jobs, search), strict=True):
        searches[kind].append(run)
    retrain_jobs = []
    for kind, runs in searches.items():
        for k, run in enumerate(runs):
            done = [t for t in run["trials"] if t["value"] is not None]
            run["best"] = max(done, key=lambda t: t["value"])
            run["retrained_test_acc"] = []
            retrain_jobs += [(kind, k, seed) for seed in args.retrain_seeds]

    def retrain(kind, k, seed):
        model = train_small_cnn(search_data[0], search_data[1], seed=seed, **searches[kind][k]["best"]["config"])
        return round(accuracy(model, x_test, y_test), 4)

    for (kind, k, _), acc in zip(retrain_jobs, run_shared(retrain_jobs, retrain), strict=True):
        searches[kind][k]["retrained_test_acc"].append(acc)
    if not is_main():
        teardown()
        return
    log = {
        "schedules": {"peak_lr": PEAK, "steps": TOTAL, "train_digits": len(y), "test_digits": len(y_test),
                      "model": "mnist_classifier(width=8, hidden=32), SGD momentum 0.9, batch 64, 3 epochs",
                      "runs": sched_log, "seconds": round(sched_seconds, 1)},
        "searches": {"budget": args.budget, "grid": GRID, "retrain_seeds": list(args.retrain_seeds),
                     "model": "mnist_classifier(width=4, hidden=0), SGD, batch 32, 1 epoch",
                     "train_digits": "MNIST train 0-1999", "val_digits": "MNIST train 2000-2999",
                     "runs": searches},
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": {**machine_info(), "optuna": optuna.__version__},
        "world_size": dist_info.world_size,
    }
    out = (args.out or Path(".")) / "tuning_experiments.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(log, indent=1) + "\n")
    summary = {k: np.mean([r["best"]["value"] for r in v]) for k, v in searches.items()}
    print(f"wrote {out} in {log['wall_seconds']:.0f} s; mean best validation accuracy {summary}")
    teardown()


if __name__ == "__main__":
    main()
