"""Overfitting, seen in the curves: the first CIFAR-10 lesson's CNN on 2,000 images, without and with augmentation.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/overfitting_curves.py [--seeds 0,1,2] [--epochs 15] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/overfitting_curves.py [same options]

The lesson's small run: ``image_loaders(cifar10 train, batch_size=64, subset=2500, val_fraction=0.2,
augment=..., seed=0)`` (2,000 training and 500 validation images, the same for every run), ``cifar_cnn()``
(the lesson's network) with weights from ``torch.manual_seed(seed)``, Adam with learning rate 1e-3, ``fit`` for
``--epochs`` epochs; the random crops and flips draw from PyTorch's global generator, seeded the same way.
Writes ``overfitting_curves.json`` next to the other logs: per run (augmentation off/on x seed) the per-epoch
history, with the wall time, the machine and the number of processes. ``--threads`` defaults to all cores shared
among the processes on this machine; under torchrun the runs are dealt out over the processes, each as in one.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from helpers.data import load_cifar10
from helpers.machine import default_threads
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_sweep_log
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.loaders import image_loaders
from helpers.torch.models import cifar_cnn
from helpers.torch.training import fit


def small_run(train_set, augment: bool, seed: int, epochs: int):
    """One run of the lesson's overfitting experiment; returns its :class:`helpers.history.History`."""
    tl, vl, _, _ = image_loaders(train_set, batch_size=64, subset=2500, val_fraction=0.2, augment=augment, seed=0)
    torch.manual_seed(seed)
    net = cifar_cnn()
    return fit(net, tl, vl, epochs, torch.optim.Adam(net.parameters(), lr=1e-3), device="cpu", progress=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    train_set = load_cifar10("train")
    wall = time.perf_counter()

    def one(job):
        augment, seed = job
        start = time.perf_counter()
        history = small_run(train_set, augment, seed, args.epochs)
        print(f"augment={augment} seed {seed}: final train acc {history.train_acc[-1]:.3f}, "
              f"val acc {history.val_acc[-1]:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)
        return {"augment": augment, "seed": seed, "history": history.as_dict(),
                "seconds": round(time.perf_counter() - start, 1)}

    runs = run_sharded(one, [(augment, seed) for augment in (False, True) for seed in args.seeds])
    if is_main():
        save_sweep_log("overfitting_curves", args, {"source": train_set.source, "train_images": 2000,
                                                    "val_images": 500}, runs, wall, dist_info.world_size, args.out)
    teardown()


if __name__ == "__main__":
    main()
