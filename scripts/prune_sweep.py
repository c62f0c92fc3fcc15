"""The deployment lesson's pruning sweep: magnitude and structured pruning of every convolution, no fine-tuning.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/prune_sweep.py [--amounts 0.1,0.25,0.5,0.75,0.9] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/prune_sweep.py [same options]

The book's CIFAR-10 ResNet-20 (``load_cifar_resnet(pixel_input=True)``) pruned with
:func:`helpers.torch.deploy.prune_convs` at every amount, unstructured (smallest |w|) and structured (whole
filters with the smallest L2 norm); for each, the sparsity over all conv and linear weights
(:func:`helpers.torch.deploy.sparsity`) and the accuracy on the 2,000 CIFAR-10 test images the lesson uses
(``default_rng(0).choice(10000, 2000, replace=False)``). Deterministic: no training, no random numbers.
Writes ``prune_sweep.json`` next to the other logs with the wall time, the machine and the number of processes;
under torchrun the settings are dealt out over the processes.
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
from helpers.torch.deploy import predict, prune_convs, sparsity
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.resnet import load_cifar_resnet


def deployment_test_set():
    """The lesson's 2,000 CIFAR-10 test images as float (N, 3, 32, 32) in [0, 1], their labels, and the source."""
    test = load_cifar10("test")
    pick = np.random.default_rng(0).choice(len(test.y), 2000, replace=False)
    x = torch.from_numpy(test.x[pick]).permute(0, 3, 1, 2).float().div(255).contiguous()
    return x, torch.from_numpy(test.y[pick]).long(), test.source


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amounts", type=lambda s: [float(v) for v in s.split(",")],
                        default=[0.1, 0.25, 0.5, 0.75, 0.9])
    parser.add_argument("--methods", type=lambda s: s.split(","), default=["unstructured", "structured"])
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    if set(args.methods) - {"unstructured", "structured"}:
        parser.error(f"methods must be unstructured and/or structured; got {args.methods}")

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    teacher = load_cifar_resnet(pixel_input=True)[0]
    x_test, y_test, source = deployment_test_set()
    wall = time.perf_counter()

    def one(job):
        method, amount = job
        start = time.perf_counter()
        model = prune_convs(teacher, amount, structured=method == "structured")
        acc = float((predict(model, x_test).argmax(1) == y_test).float().mean())
        print(f"{method:12s} amount {amount:.2f}: test accuracy {acc:.4f}", flush=True)
        return {"method": method, "amount": amount, "sparsity": sparsity(model), "test_acc": acc,
                "seconds": round(time.perf_counter() - start, 2)}

    runs = run_sharded(one, [(m, a) for m in args.methods for a in args.amounts])
    if is_main():
        save_sweep_log("prune_sweep", args, {"source": source, "test_images": len(y_test),
                                             "model": "resnet20_cifar10 (pixel input)"},
                       runs, wall, dist_info.world_size, args.out)
    teardown()


if __name__ == "__main__":
    main()
