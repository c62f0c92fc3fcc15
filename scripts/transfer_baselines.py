"""The transfer lesson's from-scratch baseline over seeds: a small CNN on 10 or 50 images per class of 5 new classes.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/transfer_baselines.py [--shots 10,50] [--seeds 0,1,2] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/transfer_baselines.py [same options]

The lesson's close-domain target: CIFAR-10 classes 5-9 (dog, frog, horse, ship, truck), relabelled 0-4;
``few_shot_indices(train labels, N, seed=0)`` labelled training images and ``few_shot_indices(test labels, 200,
seed=0)`` test images (1,000). Every run is :func:`helpers.torch.transfer.train_small_cnn` (300 Adam steps of
50 images with 2-pixel shifts and flips, seeded) and its accuracy on the 1,000 test images. Writes
``transfer_baselines.json`` next to the other logs with the wall time, the machine and the number of processes.
``--threads`` defaults to all cores shared among the processes on this machine; under torchrun the runs
(N x seed, independent) are dealt out over the processes, each run as in one process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from helpers.data import class_subset, few_shot_indices, load_cifar10
from helpers.machine import default_threads
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_sweep_log
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.transfer import train_small_cnn

TARGET = [5, 6, 7, 8, 9]


def to_pixels(a) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) images as float (N, 3, 32, 32) in [0, 1]."""
    return torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=lambda s: [int(v) for v in s.split(",")], default=[10, 50])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    t_train, t_test = class_subset(load_cifar10("train"), TARGET), class_subset(load_cifar10("test"), TARGET)
    test_pick = few_shot_indices(t_test.y, 200, seed=0)
    x_test, y_test = to_pixels(t_test.x[test_pick]), torch.from_numpy(t_test.y[test_pick])
    wall = time.perf_counter()

    def one(job):
        n, seed = job
        pick = few_shot_indices(t_train.y, n, seed=0)
        start = time.perf_counter()
        acc = train_small_cnn(to_pixels(t_train.x[pick]), torch.from_numpy(t_train.y[pick]), x_test, y_test, seed)
        print(f"N = {n:3d} seed {seed}: test accuracy {acc:.4f} ({time.perf_counter() - start:.0f} s)", flush=True)
        return {"n_per_class": n, "seed": seed, "test_acc": acc, "seconds": round(time.perf_counter() - start, 1)}

    runs = run_sharded(one, [(n, seed) for n in args.shots for seed in args.seeds])
    if is_main():
        save_sweep_log("transfer_baselines", args, {"source": t_train.source, "classes": TARGET,
                                                    "test_images": len(x_test)}, runs, wall, dist_info.world_size,
                       args.out)
    teardown()


if __name__ == "__main__":
    main()
