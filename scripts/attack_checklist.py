"""The attack checklist against the committed PGD-trained MNIST CNN, image by image, for the adversarial lesson.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/attack_checklist.py [--eps 0.2] [--n 1000] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/attack_checklist.py [--images 1000] [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the attacks
(each with its own fixed seeds, independent) and the sweep's radii are dealt out over the processes
(:func:`helpers.torch.distributed.run_sharded`), each run exactly as in one process, and rank 0 gathers them
and writes the same log as a plain run.

Loads ``mnist_cnn_pgd`` and ``mnist_cnn_standard`` (``scripts/train_mnist_robust.py``) and runs
:func:`helpers.torch.robustness.attack_checklist` at ``--eps`` on the first ``--n`` test digits in
batches of 500: PGD-20 from three random starts, PGD-100 with steps of 0.01, PGD-20 on the margin
loss and PGD-20 transferred from the standard model. For every attack it logs which digits survived
(a string of '1'/'0', one per digit, :func:`helpers.torch.robustness.survivors`) and the accuracy,
plus the per-image worst case and a PGD-20 sweep (:func:`helpers.torch.attacks.robust_accuracy`, seed 0) at
eps 0.1 to 0.5. The lesson reads this log: it takes the PGD-trained model's eps 0.1 and 0.3 points from the
sweep (and checks that the sweep's eps 0.2 equals its own live run of the same call), and it re-runs the
checklist on the first 100 digits to show they come out the same.
Writes ``book/lessons/checkpoints/attack_checklist.json`` (with the wall time, the machine and the number of
processes).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from helpers.data import load_mnist
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.attacks import pgd, robust_accuracy
from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.models import load_mnist_classifier
from helpers.torch.robustness import attack_checklist, survival, survivors

BATCH = 500
SWEEP = (0.1, 0.2, 0.3, 0.4, 0.5)   # the lesson reads 0.1 and 0.3, checks 0.2 against its own run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eps", type=float, default=0.2)
    parser.add_argument("--n", "--images", dest="n", type=int, default=1000,
                        help="the first N test digits (under torchrun spell it --images: torchrun takes --n for "
                             "one of its own options)")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    seed_everything(args.seed, threads=args.threads)
    torch.set_num_threads(args.threads)
    test = load_mnist("test")
    x = torch.from_numpy(test.x[:args.n]).float().div(255)[:, None]
    y = torch.from_numpy(test.y[:args.n]).long()
    robust, _ = load_mnist_classifier("mnist_cnn_pgd")
    standard, _ = load_mnist_classifier("mnist_cnn_standard")
    wall = time.perf_counter()
    attacks = attack_checklist(robust, standard, args.eps)

    def one(job):       # every attack seeds its own random starts, batch by batch: the jobs are independent
        kind, key = job
        if kind == "attack":
            return survival(robust, x, y, {key: attacks[key]}, batch_size=BATCH)[key]
        return robust_accuracy(robust, x, y, pgd, [key], batch_size=BATCH, steps=20, seed=0)[key]

    jobs = [("attack", name) for name in attacks] + [("sweep", eps) for eps in SWEEP]
    done = run_sharded(one, jobs)           # in one process: every attack, then the sweep, in order
    if not is_main():
        teardown()
        return
    survived = dict(zip(attacks, done[:len(attacks)], strict=True))
    worst = torch.stack(list(survived.values())).all(dim=0)
    sweep = dict(zip(SWEEP, done[len(attacks):], strict=True))
    log = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "model": "mnist_cnn_pgd", "reference": "mnist_cnn_standard",
        "images": f"first {args.n} test digits of {test.source}", "batch_size": BATCH,
        "accuracy": {name: round(float(ok.float().mean()), 4) for name, ok in survived.items()},
        "all_attacks": round(float(worst.float().mean()), 4),
        "survivors": {name: survivors(ok) for name, ok in survived.items()},
        "sweep_pgd20": {f"{e:g}": round(a, 4) for e, a in sweep.items()},
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": {**machine_info(), "load_average_at_end": [round(v, 1) for v in os.getloadavg()]},
        "world_size": dist_info.world_size,
    }
    out = (args.out or Path(".")) / "attack_checklist.json"
    out.write_text(json.dumps(log, indent=1) + "\n")
    print(json.dumps({k: log[k] for k in ("accuracy", "all_attacks", "sweep_pgd20", "wall_seconds")}, indent=1))
    print(f"wrote {out}")
    teardown()


if __name__ == "__main__":
    main()
