"""How many filters? The first CIFAR-10 lesson's CNN at widths 8, 16, 32 and 64 (first-stage channels; the later
stages double them), each trained the same way over 3 seeds, with parameters, time per epoch and test accuracy.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/width_sweep.py [--widths 8,16,32,64] [--seeds 0,1,2] [--epochs 10] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/width_sweep.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the runs
(width x seed, independent) are dealt out over the processes (:func:`helpers.torch.distributed.run_sharded`),
each run exactly as in one process, and rank 0 gathers them and writes the same log as a plain run.

Every run: ``cifar_cnn(width)`` on ``image_loaders(cifar10 train, subset=4500, val_fraction=1/9, augment=True,
seed=0)`` (4,000 training images), Adam with learning rate 1e-3, batch 64, ``--epochs`` epochs, the weights
initialized after ``torch.manual_seed(seed)``; scored on the full 10,000-image test set after the last epoch
(nothing is selected on it). Writes ``width_sweep.json`` next to the other logs: per width and seed the history,
the test accuracy and the seconds per epoch, plus the wall time, the machine and the number of processes.
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
from helpers.torch.params import count_params
from helpers.torch.training import evaluate, fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=lambda s: [int(v) for v in s.split(",")], default=[8, 16, 32, 64])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    train, test = load_cifar10("train"), load_cifar10("test")
    wall = time.perf_counter()

    def one(job):
        width, seed = job
        train_loader, val_loader, test_loader, info = image_loaders(train, test, batch_size=64, subset=4500,
                                                                    val_fraction=1 / 9, augment=True, seed=0)
        torch.manual_seed(seed)
        model = cifar_cnn(width=width)
        start = time.perf_counter()
        history = fit(model, train_loader, val_loader, args.epochs, torch.optim.Adam(model.parameters(), lr=1e-3),
                      device="cpu", progress=False)
        seconds = time.perf_counter() - start
        _, test_acc = evaluate(model, test_loader, device="cpu")
        print(f"width {width:3d} seed {seed}: test accuracy {test_acc:.4f}, {seconds / args.epochs:.1f} s/epoch",
              flush=True)
        return {"seed": seed, "parameters": count_params(model), "test_acc": round(test_acc, 4),
                "seconds_per_epoch": round(seconds / args.epochs, 2), "history": history.as_dict()}, info

    jobs = [(width, seed) for width in args.widths for seed in args.seeds]
    done = run_sharded(one, jobs)                   # in one process: every run in this order
    if not is_main():
        teardown()
        return
    runs = {str(width): [] for width in args.widths}
    for (width, _), (run, _) in zip(jobs, done, strict=True):
        runs[str(width)].append(run)
    info = done[-1][1]                              # the data description (the same for every run)
    save_sweep_log("width_sweep", args, {"source": info["source"], "sizes": info["sizes"]}, runs, wall,
                   dist_info.world_size, args.out)
    teardown()


if __name__ == "__main__":
    main()
