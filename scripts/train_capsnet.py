"""A tiny capsule network against a CNN of the same size on a small MNIST subset, several seeds.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_capsnet.py [--train-images 3000] [--epochs 2] [--seeds 0,1,2] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_capsnet.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the runs
(seed x model, independent) are dealt out over the processes (:func:`helpers.torch.distributed.run_sharded`),
each run exactly as in one process, and rank 0 gathers them and writes the same files as a plain run.

Models: :class:`helpers.torch.capsules.TinyCapsNet` (conv 9x9, primary capsules, 3 routing iterations,
10 class capsules; trained with the margin loss; the class score is a capsule's length) and
:func:`helpers.torch.models.mnist_classifier` with ``width=16, hidden=80`` (about the same number of parameters;
cross-entropy). Both see the first ``--train-images`` MNIST training images (pixels in [0, 1]) for ``--epochs``
epochs, batch 50, Adam 3e-3, and are scored on the full 10,000-image test set. Writes
``book/lessons/checkpoints/capsnet_mnist.json`` (every seed of both) and the first seed's weights of both
(``capsnet_mnist.pt``, ``capsnet_cnn_baseline.pt``, float16), which ``tests/test_capsnet_checkpoint.py`` re-checks.
The logs also record the wall time, the machine and the number of processes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from helpers.data import load_mnist
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.capsules import TinyCapsNet, margin_loss
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.models import mnist_classifier
from helpers.torch.params import count_params

CNN = {"width": 16, "hidden": 80}


def scores(net, name, x):
    out = net(x)
    return out.norm(dim=-1) if name == "capsnet" else out


@torch.no_grad()
def test_accuracy(net, name, x, y, batch=1000) -> float:
    net.eval()
    return sum((scores(net, name, x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
               for i in range(0, len(x), batch)) / len(y)


def train_one(name, seed, x, y, args):
    seed_everything(seed, threads=args.threads)
    net = TinyCapsNet() if name == "capsnet" else mnist_classifier(**CNN)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    net.train()
    for _ in range(args.epochs):
        for idx in torch.randperm(len(x), generator=gen).split(args.batch_size):
            s = scores(net, name, x[idx])
            loss = margin_loss(s, y[idx]) if name == "capsnet" else F.cross_entropy(s, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval(), round(time.perf_counter() - start, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-images", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    train, test = load_mnist("train"), load_mnist("test")
    x = torch.from_numpy(train.x[:args.train_images]).float().div_(255)[:, None]
    y = torch.from_numpy(train.y[:args.train_images]).long()
    xt, yt = torch.from_numpy(test.x).float().div_(255)[:, None], torch.from_numpy(test.y).long()

    def one(job):
        seed, name = job
        net, seconds = train_one(name, seed, x, y, args)
        acc = test_accuracy(net, name, xt, yt)
        run = {"model": name, "seed": seed, "parameters": count_params(net), "test_acc": round(acc, 4),
               "train_seconds": seconds}
        print(f"{name:8s} seed {seed}: test accuracy {acc:.4f} ({seconds:.0f} s)", flush=True)
        return run, net if seed == args.seeds[0] else None      # the first seed's weights are stored

    done = run_sharded(one, [(seed, name) for seed in args.seeds for name in ("capsnet", "cnn")])
    if not is_main():
        teardown()
        return
    runs = [run for run, _ in done]
    first = {run["model"]: net for run, net in done if net is not None}
    common = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
              "data": {"source": train.source, "train": f"first {args.train_images} MNIST training images",
                       "test_images": len(yt)},
              "machine": machine_info(), "world_size": dist_info.world_size}
    for name, stem in (("capsnet", "capsnet_mnist"), ("cnn", "capsnet_cnn_baseline")):
        stored = TinyCapsNet() if name == "capsnet" else mnist_classifier(**CNN)
        stored.load_state_dict({k: v.half().float() for k, v in first[name].state_dict().items()})
        log = {"model": name, "builder": "helpers.torch.capsules.TinyCapsNet()" if name == "capsnet"
               else f"helpers.torch.models.mnist_classifier(**{CNN})", "config": {} if name == "capsnet" else CNN,
               "seed": args.seeds[0], "test_acc": round(test_accuracy(stored, name, xt, yt), 4),
               "runs": runs, "wall_seconds": round(time.perf_counter() - wall, 3), **common}
        print("wrote", save_checkpoint(first[name], log, stem, args.out))
    teardown()


if __name__ == "__main__":
    main()
