"""The imbalance lesson's four training fixes and threshold moving over seeds, on MNIST with 3 rare digits.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/imbalance_methods.py [--seeds 0,1,2] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/imbalance_methods.py [same options]

Data as in the lesson: :func:`helpers.torch.imbalance.imbalanced_split` of the MNIST training labels (digits 2,
5 and 8 with 15 training images each, the others 500; a disjoint validation set with the same counts; seed 0);
the 10,000 test digits. Every run is :func:`helpers.torch.imbalance.train_imbalance_variant` on the book's
small MNIST CNN (``mnist_classifier(width=8, hidden=0)``; 250 Adam steps of 64). For every plain run, threshold
moving picks ``tau`` in 0, 0.1, ..., 2.5 on the validation split (highest balanced accuracy) and applies it to
the test logits. Each run logs :func:`helpers.numpy.classification_metrics.imbalance_scores` on the test set.
Writes ``imbalance_methods.json`` next to the other logs with the wall time, the machine and the number of
processes; under torchrun the runs are dealt out over the processes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from helpers.data import load_mnist, normalize_mnist
from helpers.machine import default_threads
from helpers.numpy.classification_metrics import balanced_accuracy, imbalance_scores, logit_adjusted_predictions
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_sweep_log
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.imbalance import IMBALANCE_METHODS, imbalanced_split, train_imbalance_variant
from helpers.torch.models import mnist_classifier

MINORITY, N_MAJOR, N_MINOR = [2, 5, 8], 500, 15
TAUS = np.round(np.arange(0, 2.51, 0.1), 1)


def small_cnn():
    """The lesson's network: conv 8 - pool - conv 16 - pool - dense 10 (weights from PyTorch's random state)."""
    return mnist_classifier(width=8, hidden=0)


def imbalanced_mnist():
    """The lesson's data: (x_train, y_train, x_val, y_val, x_test, y_test, prior, source)."""
    mnist_train, mnist_test = load_mnist("train"), load_mnist("test")
    train_idx, val_idx = imbalanced_split(mnist_train.y, MINORITY, N_MAJOR, N_MINOR, seed=0)
    y_train = mnist_train.y[train_idx]
    counts = np.bincount(y_train, minlength=10)
    return (torch.from_numpy(normalize_mnist(mnist_train.x[train_idx])), torch.from_numpy(y_train).long(),
            torch.from_numpy(normalize_mnist(mnist_train.x[val_idx])), mnist_train.y[val_idx],
            torch.from_numpy(normalize_mnist(mnist_test.x)), mnist_test.y, counts / counts.sum(), mnist_train.source)


def choose_tau(val_logits, y_val, prior) -> float:
    """The tau of :data:`TAUS` with the highest validation balanced accuracy (the first one on ties)."""
    val_bal = [balanced_accuracy(logit_adjusted_predictions(val_logits, prior, tau), y_val, 10) for tau in TAUS]
    return float(TAUS[int(np.argmax(val_bal))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--methods", type=lambda s: s.split(","), default=list(IMBALANCE_METHODS))
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    unknown = sorted(set(args.methods) - set(IMBALANCE_METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(IMBALANCE_METHODS)}")

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    x_train, y_train, x_val, y_val, x_test, y_test, prior, source = imbalanced_mnist()
    wall = time.perf_counter()

    def one(job):
        method, seed = job
        start = time.perf_counter()
        model = train_imbalance_variant(small_cnn, method, x_train, y_train, seed, steps=args.steps)
        with torch.no_grad():
            val_logits, test_logits = model(x_val).numpy(), model(x_test).numpy()
        out = [{"method": method, "seed": seed,
                "scores": imbalance_scores(test_logits.argmax(1), y_test, prior, MINORITY, 10)}]
        if method == "plain":
            tau = choose_tau(val_logits, y_val, prior)
            out.append({"method": "threshold moving", "seed": seed, "tau": tau,
                        "scores": imbalance_scores(logit_adjusted_predictions(test_logits, prior, tau), y_test,
                                                   prior, MINORITY, 10)})
        seconds = round(time.perf_counter() - start, 2)
        for r in out:
            r["seconds"] = seconds
        print(f"{method:14s} seed {seed}: minority recall "
              f"{out[0]['scores']['minority recall (mean of 2, 5, 8)']:.3f} ({seconds:.1f} s)", flush=True)
        return out

    runs = [r for rs in run_sharded(one, [(m, s) for s in args.seeds for m in args.methods]) for r in rs]
    if is_main():
        save_sweep_log("imbalance_methods", args, {"source": source, "minority": MINORITY,
                                                   "train_per_class": [N_MAJOR, N_MINOR],
                                                   "test_images": len(y_test), "prior": prior.tolist()},
                       runs, wall, dist_info.world_size, args.out)
    teardown()


if __name__ == "__main__":
    main()
