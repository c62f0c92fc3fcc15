"""The transfer lesson's digit experiment over seeds: ResNet-20 from scratch, fine-tuned, or partly fine-tuned,
and a small CNN from scratch, on 10 or 50 labelled MNIST digits per class.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/transfer_digits.py [--shots 10,50] [--seeds 0,1,2] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/transfer_digits.py [same options]

The data are the lesson's: 2,000 MNIST test digits (``default_rng(0).choice(10000, 2000)``), and the first N
digits per class of ``few_shot_indices(train labels, 100, seed=0)``, as 32x32 colour images
(:func:`helpers.torch.transfer.digits_to_rgb32`). Methods (every run seeded by ``seed``):

* ``(a) from scratch``: :func:`helpers.torch.transfer.transfer_run` with random weights, everything trained;
* ``(c) full fine-tuning``: ``transfer_run`` from the CIFAR-10 weights, everything trained (backbone lr 0.01,
  head lr 0.05);
* ``last stage + head``: ``transfer_run`` from the CIFAR-10 weights with only the last stage and the head
  trained (N = 50 only, as in the lesson);
* ``small CNN from scratch``: :func:`helpers.torch.transfer.train_small_cnn` on the 28x28 grey digits
  (conv 16 - pool - conv 32 - pool - dense 64, 2-pixel shifts, no flips, 300 Adam steps).

The deterministic methods (the frozen-feature head and the raw-pixel baselines) run live in the lesson.
Writes ``transfer_digits.json`` next to the other logs with the wall time, the machine and the number of
processes. ``--threads`` defaults to all cores shared among the processes on this machine; under torchrun the
runs (independent) are dealt out over the processes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from helpers.data import few_shot_indices, load_mnist
from helpers.machine import default_threads
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_sweep_log
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.models import mnist_classifier, mnist_normalizer
from helpers.torch.params import count_params
from helpers.torch.transfer import digits_to_rgb32, train_small_cnn, transfer_run

METHODS = ("(a) from scratch", "(c) full fine-tuning", "small CNN from scratch")
LAST_STAGE = ("net.blocks.6", "net.blocks.7", "net.blocks.8", "net.head")


def digit_data():
    """The lesson's test digits and labelled pool: (x_test, y_test, x_pool, y_pool, rank within class)."""
    mnist_train, mnist_test = load_mnist("train"), load_mnist("test")
    test_idx = np.random.default_rng(0).choice(len(mnist_test.y), 2000, replace=False)
    pool_idx = few_shot_indices(mnist_train.y, 100, seed=0)
    y_pool = mnist_train.y[pool_idx]
    rank = np.zeros(len(pool_idx), dtype=int)
    for c in range(10):
        rank[y_pool == c] = np.arange(100)
    return (digits_to_rgb32(mnist_test.x[test_idx]), torch.from_numpy(mnist_test.y[test_idx]),
            digits_to_rgb32(mnist_train.x[pool_idx]), torch.from_numpy(y_pool), rank, mnist_train.source)


def grey(x_rgb: torch.Tensor) -> torch.Tensor:
    """The 28x28 digit back from its padded colour copy: (N, 1, 28, 28)."""
    return x_rgb[:, :1, 2:30, 2:30]


def small_digit_cnn() -> nn.Module:
    """The small CNN from scratch of the lesson's baselines (weights from PyTorch's current random state)."""
    return nn.Sequential(mnist_normalizer(), mnist_classifier(width=16, hidden=64))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=lambda s: [int(v) for v in s.split(",")], default=[10, 50])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--methods", type=lambda s: s.split(","), default=list(METHODS) + ["last stage + head"],
                        help="comma-separated subset of the methods (default: all four)")
    parser.add_argument("--steps", type=int, default=80, help="fine-tuning steps of every ResNet-20 run")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    x_test, y_test, x_pool, y_pool, rank, source = digit_data()
    wall = time.perf_counter()

    def one(job):
        method, n, seed = job
        keep = torch.from_numpy(rank < n)
        x, y = x_pool[keep], y_pool[keep]
        start = time.perf_counter()
        if method == "small CNN from scratch":
            acc = train_small_cnn(grey(x), y, grey(x_test), y_test, seed, model=small_digit_cnn, flip=False)
            r = {"acc": acc, "trainable": count_params(small_digit_cnn()), "loss": None}
        else:
            init = "random" if method == "(a) from scratch" else "pretrained"
            r = transfer_run(x, y, x_test, y_test, init=init, steps=args.steps, seed=seed,
                             trainable=LAST_STAGE if method == "last stage + head" else None)
        print(f"{method:24s} N = {n:3d} seed {seed}: test accuracy {r['acc']:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
        return {"method": method, "n_per_class": n, "seed": seed, "test_acc": r["acc"], "trainable": r["trainable"],
                "final_loss": r["loss"], "seconds": round(time.perf_counter() - start, 1)}

    unknown = set(args.methods) - set(METHODS) - {"last stage + head"}
    if unknown:
        parser.error(f"unknown methods {sorted(unknown)}; choose from {list(METHODS) + ['last stage + head']}")
    jobs = [(m, n, s) for n in args.shots for m in METHODS if m in args.methods for s in args.seeds]
    if "last stage + head" in args.methods:
        jobs += [("last stage + head", max(args.shots), s) for s in args.seeds]
    runs = run_sharded(one, jobs)
    if is_main():
        save_sweep_log("transfer_digits", args, {"source": source, "test_images": len(x_test),
                                                 "pool": "few_shot_indices(train labels, 100, seed=0)"},
                       runs, wall, dist_info.world_size, args.out)
    teardown()


if __name__ == "__main__":
    main()
