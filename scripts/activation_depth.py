"""The activation lesson's depth experiment over seeds: which activation trains a plain 10-layer network?

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/activation_depth.py [--seeds 0,1,2] [--epochs 5] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/activation_depth.py [same options]

Every run is :func:`helpers.torch.training.train_deep_mlp`: a 10-layer, 128-unit multilayer perceptron with
sigmoid, tanh (both Xavier-initialized), ReLU, LeakyReLU or GELU (He-initialized), plus a 3-layer sigmoid
control; the weight-gradient norm of every layer before training, 5 epochs of SGD (learning rate 0.05,
momentum 0.9, batches of 128) on the first 10,000 MNIST training digits, then the accuracy on the 10,000 test
digits and the fraction of hidden units never above 0 on them. Writes ``activation_depth.json`` next to the
other logs with the wall time, the machine and the number of processes. ``--threads`` defaults to all cores
shared among the processes on this machine; under torchrun the runs are dealt out over the processes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from helpers.data import load_mnist, normalize_mnist
from helpers.machine import default_threads
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_sweep_log
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.models import DEEP_MLP_ACTIVATIONS
from helpers.torch.training import train_deep_mlp

CONFIGS = [(name, 10) for name in DEEP_MLP_ACTIVATIONS] + [("sigmoid", 3)]


def mnist_flat(train_images: int = 10000):
    """The first ``train_images`` training digits and all 10,000 test digits, normalized and flattened to 784."""
    mnist_train, mnist_test = load_mnist("train"), load_mnist("test")
    x_tr = torch.from_numpy(normalize_mnist(mnist_train.x[:train_images])).flatten(1)
    x_te = torch.from_numpy(normalize_mnist(mnist_test.x)).flatten(1)
    return (x_tr, torch.from_numpy(mnist_train.y[:train_images]).long(), x_te,
            torch.from_numpy(mnist_test.y).long(), mnist_train.source)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--configs", type=lambda s: [(c.split(":")[0], int(c.split(":")[1])) for c in s.split(",")],
                        default=CONFIGS, help="comma-separated activation:depth pairs (default: all six)")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    unknown = sorted({name for name, _ in args.configs} - set(DEEP_MLP_ACTIVATIONS))
    if unknown:
        parser.error(f"unknown activations {unknown}; choose from {list(DEEP_MLP_ACTIVATIONS)}")

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    x_tr, y_tr, x_te, y_te, source = mnist_flat()
    wall = time.perf_counter()

    def one(job):
        (name, depth), seed = job
        start = time.perf_counter()
        r = train_deep_mlp(name, depth, x_tr, y_tr, x_te, y_te, seed, epochs=args.epochs)
        print(f"{name:10s} {depth:2d} layers seed {seed}: test accuracy {r['acc']:.4f} "
              f"({time.perf_counter() - start:.1f} s)", flush=True)
        return {"activation": name, "depth": depth, "seed": seed, **r,
                "seconds": round(time.perf_counter() - start, 2)}

    runs = run_sharded(one, [(config, seed) for config in args.configs for seed in args.seeds])
    if is_main():
        save_sweep_log("activation_depth", args, {"source": source, "train_images": len(x_tr),
                                                  "test_images": len(x_te)}, runs, wall, dist_info.world_size,
                       args.out)
    teardown()


if __name__ == "__main__":
    main()
