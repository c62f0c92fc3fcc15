"""Dropout against overfitting, over seeds: the dropout lesson's small CIFAR-10 CNN at p = 0, 0.25 and 0.5, 3 seeds.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/dropout_sweep.py [--ps 0,0.25,0.5] [--seeds 0,1,2] [--epochs 20] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/dropout_sweep.py [same options]

The data are the lesson's: 2,000 training images drawn at random (``default_rng(0)``) from the CIFAR-10 training
images, normalized with their own per-channel mean and std, and 2,000 test images drawn at random
(``default_rng(1)``) from the test set. Every run: ``cifar_dropout_cnn(p)`` with weights from
``torch.manual_seed(seed)``, then ``--epochs`` epochs of :func:`helpers.torch.training.train_steps` (Adam,
learning rate 1e-3, batch 64), the batch order of epoch ``e`` from seed ``e + 100 * seed`` (so seed 0 is the
lesson's live run, and the three values of p see the same batches); after every epoch the accuracy on the
2,000 training and the 2,000 test images. Nothing is selected on the test images: the lesson reports the
last epochs. Writes ``dropout_sweep.json`` next to the other logs, with the wall time, the machine and the
number of processes. ``--threads`` defaults to all cores shared among the processes on this machine; under
torchrun the runs (p x seed, independent) are dealt out over the processes, each run as in one process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from helpers.data import load_cifar10
from helpers.machine import default_threads
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_sweep_log
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.metrics import accuracy
from helpers.torch.models import cifar_dropout_cnn
from helpers.torch.training import train_steps


def lesson_data():
    """The lesson's 2,000 training and 2,000 test images as normalized tensors, and where they came from."""
    train, test = load_cifar10("train"), load_cifar10("test")
    subset = np.sort(np.random.default_rng(0).choice(len(train.x), 2000, replace=False))
    mean = train.x[subset].reshape(-1, 3).mean(0) / 255
    std = train.x[subset].reshape(-1, 3).std(0) / 255

    def to_tensor(x_uint8):
        return torch.tensor(((x_uint8 / 255 - mean) / std).transpose(0, 3, 1, 2).astype(np.float32))

    test_pick = np.sort(np.random.default_rng(1).choice(len(test.x), 2000, replace=False))
    return (to_tensor(train.x[subset]), torch.tensor(train.y[subset]), to_tensor(test.x[test_pick]),
            torch.tensor(test.y[test_pick]), train.source)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ps", type=lambda s: [float(v) for v in s.split(",")], default=[0.0, 0.25, 0.5])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    x_tr, y_tr, x_te, y_te, source = lesson_data()
    wall = time.perf_counter()

    def one(job):
        p, seed = job
        torch.manual_seed(seed)
        model = cifar_dropout_cnn(p)
        train_acc, test_acc = [], []
        start = time.perf_counter()
        for epoch in range(args.epochs):
            train_steps(model, x_tr, y_tr, epochs=1, batch_size=64, lr=1e-3, seed=epoch + 100 * seed)
            train_acc.append(round(accuracy(model, x_tr, y_tr), 4))
            test_acc.append(round(accuracy(model, x_te, y_te), 4))
        seconds = time.perf_counter() - start
        print(f"p = {p:.2f} seed {seed}: train {train_acc[-1]:.3f}, test {test_acc[-1]:.3f} ({seconds:.0f} s)",
              flush=True)
        return {"p": p, "seed": seed, "train_acc": train_acc, "test_acc": test_acc, "seconds": round(seconds, 1)}

    runs = run_sharded(one, [(p, seed) for p in args.ps for seed in args.seeds])
    if is_main():
        save_sweep_log("dropout_sweep", args, {"source": source, "train_images": len(x_tr), "test_images": len(x_te)},
                       runs, wall, dist_info.world_size, args.out)
    teardown()


if __name__ == "__main__":
    main()
