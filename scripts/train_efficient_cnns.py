"""Train the architectures lesson's accuracy-per-FLOP comparison: one small CIFAR-10 CNN in three designs.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_efficient_cnns.py [--epochs 10] [--seeds 0,1,2] [--per-class 1000] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_efficient_cnns.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the
independent runs (design x seed) are dealt out over the processes (:func:`helpers.torch.distributed.shard`),
each run exactly as in one process, and rank 0 gathers them and writes the same files as a plain run.

The designs (:func:`helpers.torch.architectures.small_cifar_net`) differ only in their 3x3 convolutions:
standard, depthwise-separable, and separable + Squeeze-and-Excitation. Each trains on the same
``--per-class`` training images per class (seeded), with random flips and 2-pixel shifts, Adam with a
one-cycle learning rate, for ``--epochs`` epochs, once per seed; each is tested on the same 2,000 test
images (200 per class). Writes ``book/lessons/checkpoints/efficient_cnn_<design>.{pt,json}`` (seed 0's
weights, float16, and a log with the results of every seed: test accuracy, parameters, multiply-adds per
image, training seconds; the wall time, the machine and the number of processes). Seeded: the same command on
the same machine gives the same numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from helpers.data import few_shot_indices, load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.architectures import SMALL_NET_DESIGNS, count_macs, small_cifar_net
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import gather, is_main, setup, shard, teardown
from helpers.torch.loaders import random_shift
from helpers.torch.metrics import accuracy
from helpers.torch.models import Normalize
from helpers.torch.params import count_params

TEST_PER_CLASS = 200


def pixels(images) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) -> float32 (N, 3, 32, 32) in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def build(design: str, args, mean, std) -> torch.nn.Sequential:
    """The network as trained and stored: Normalize(training mean/std) then the design; takes pixels in [0, 1]."""
    return torch.nn.Sequential(Normalize(mean, std), small_cifar_net(design, widths=args.widths,
                                                                     blocks_per_stage=args.blocks))


def train_one(design, seed, args, x, y, x_test, y_test, mean, std):
    seed_everything(seed, threads=args.threads)
    model = build(design, args, mean, std)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(x) // args.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.max_lr / 10, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch)
    start = time.perf_counter()
    model.train()
    for _ in range(args.epochs):
        for idx in torch.randperm(len(x), generator=gen).split(args.batch_size):
            xb = random_shift(x[idx], 2, gen)
            flip = torch.rand(len(idx), generator=gen) < 0.5
            xb[flip] = xb[flip].flip(-1)
            loss = F.cross_entropy(model(xb), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
    seconds = time.perf_counter() - start
    model.eval()
    stored = build(design, args, mean, std)
    stored.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    return model, {"seed": seed, "test_acc": round(accuracy(stored.eval(), x_test, y_test), 4),
                   "train_seconds": round(seconds, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=1000, help="training images per class")
    parser.add_argument("--widths", type=lambda s: tuple(int(v) for v in s.split(",")), default=(16, 32, 64))
    parser.add_argument("--blocks", type=int, default=2, help="blocks per stage")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--designs", type=lambda s: s.split(","), default=list(SMALL_NET_DESIGNS))
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    train, test = load_cifar10("train"), load_cifar10("test")
    pick = few_shot_indices(train.y, args.per_class, seed=0)
    x, y = pixels(train.x[pick]), torch.from_numpy(train.y[pick]).long()
    test_pick = few_shot_indices(test.y, TEST_PER_CLASS, seed=0)
    x_test, y_test = pixels(test.x[test_pick]), torch.from_numpy(test.y[test_pick]).long()
    mean, std = x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()
    jobs = [(i, design, seed) for i, (design, seed) in enumerate((d, s) for d in args.designs for s in args.seeds)]
    mine = []
    for i, design, seed in shard(jobs):                   # all of them in one process
        model, run = train_one(design, seed, args, x, y, x_test, y_test, mean, std)
        print(f"{design} seed {seed}: test accuracy {run['test_acc']:.4f}, {run['train_seconds']:.0f} s", flush=True)
        mine.append((i, design, run, model.state_dict() if seed == args.seeds[0] else None))
    done = sorted((job for part in gather(mine) for job in part), key=lambda job: job[0])
    if not is_main():
        teardown()
        return
    for design in args.designs:
        runs = [run for _, d, run, _ in done if d == design]
        kept = build(design, args, mean, std)
        kept.load_state_dict(next(state for _, d, _, state in done if d == design and state is not None))
        net = small_cifar_net(design, widths=args.widths, blocks_per_stage=args.blocks)
        accs = np.array([r["test_acc"] for r in runs])
        log = {
            "model": {"builder": "helpers.torch.architectures.small_cifar_net", "design": design,
                      "widths": list(args.widths), "blocks_per_stage": args.blocks, "parameters": count_params(net),
                      "macs_per_image": count_macs(net, (1, 3, 32, 32)), "input": "pixels in [0, 1], Normalize first"},
            "args": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
                     for k, v in vars(args).items() if k != "out"},
            "data": {"source": train.source, "train_images": len(x), "test_images": len(x_test),
                     "test_pick": f"few_shot_indices(test.y, {TEST_PER_CLASS}, seed=0)", "mean": mean, "std": std},
            "runs": runs,
            "test_acc_mean": round(float(accs.mean()), 4),
            "test_acc_std": round(float(accs.std(ddof=1)), 4) if len(accs) > 1 else None,
            "stored_seed": args.seeds[0],
            "wall_seconds": round(time.perf_counter() - wall, 3),
            "machine": machine_info(),
            "world_size": dist_info.world_size,
        }
        save_checkpoint(kept, log, f"efficient_cnn_{design.replace('+', '_')}", args.out)
        print(f"{design}: {accs.mean():.4f} +- {accs.std(ddof=1) if len(accs) > 1 else 0:.4f} over seeds {args.seeds}",
              flush=True)
    teardown()


if __name__ == "__main__":
    main()
