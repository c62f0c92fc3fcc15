"""Train the first CIFAR-10 lesson's CNN (``helpers.torch.models.cifar_cnn``) and save its weights and training log.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_cifar_cnn.py [--epochs 8] [--threads N] [--seed 0] [--out book/lessons/checkpoints]
    torchrun --standalone --nproc_per_node 2 scripts/train_cifar_cnn.py [same options]

The lesson's recipe: ``cifar10_loaders(batch_size=64, seed=0)`` (the seeded 90/10 split of the training images,
random crops and flips), Adam with learning rate 1e-3, ``fit`` for ``--epochs`` epochs, weights initialized after
``torch.manual_seed(seed)``. Writes ``cifar_cnn.pt`` (float16 weights) and ``cifar_cnn.json`` (the arguments, the
data copy, the per-epoch history, the test loss and accuracy, the training and wall time, the machine and the
number of processes).

``--threads`` defaults to all cores shared among the processes on this machine
(:func:`helpers.machine.default_threads`). Under torchrun every process builds the same seeded model,
:func:`helpers.torch.distributed.ddp` averages the gradients, and each process trains on its share of every
global batch of 64 images (:func:`helpers.torch.distributed.shard_loader`), so the steps and the learning rate
mean the same as in one process; rank 0 evaluates and writes the files. ``--limit N`` (quick runs only) trains
on a seeded subset of N training images and tests on the first N test images.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from helpers.data import ArrayDataset, load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import ddp, is_main, setup, shard_loader, teardown, unwrap
from helpers.torch.loaders import cifar10_loaders, image_loaders
from helpers.torch.models import cifar_cnn
from helpers.torch.training import evaluate, fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="quick runs: a seeded subset of LIMIT training images, the first LIMIT test images")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    seed_everything(args.seed, threads=args.threads)
    if args.limit is None:
        train_loader, val_loader, test_loader, info = cifar10_loaders(batch_size=64, seed=0)
    else:
        test = load_cifar10("test")
        test = ArrayDataset(test.x[:args.limit], test.y[:args.limit], test.classes, test.source)
        train_loader, val_loader, test_loader, info = image_loaders(load_cifar10("train"), test, batch_size=64,
                                                                    seed=0, subset=args.limit)
    train_loader = shard_loader(train_loader, seed=0)          # unchanged in one process
    torch.manual_seed(args.seed)                                # the same initial weights on every rank
    model = cifar_cnn()
    net = ddp(model)                                            # the model itself in one process
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    history = fit(net, train_loader, val_loader, args.epochs, optimizer, device="cpu", progress=False)
    seconds = time.perf_counter() - start
    model = unwrap(net)
    if not is_main():
        teardown()
        return
    test_loss, test_acc = evaluate(model, test_loader, device="cpu")
    stored = cifar_cnn()
    stored.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    _, stored_acc = evaluate(stored, test_loader, device="cpu")
    log = {
        "model": "cifar_cnn(width=32)",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "data": {"source": info["source"], "sizes": info["sizes"], "mean": info["mean"], "std": info["std"]},
        "history": history.as_dict(),
        "train_seconds": round(seconds, 1),
        "test_loss": round(test_loss, 4),
        "test_acc": round(test_acc, 4),
        "test_acc_float16_weights": round(stored_acc, 4),
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": machine_info(),
        "world_size": dist_info.world_size,
    }
    save_checkpoint(model, log, "cifar_cnn", args.out)
    print(f"cifar_cnn: test accuracy {test_acc:.4f} (float16 weights {stored_acc:.4f}), {seconds:.0f} s of training")
    teardown()


if __name__ == "__main__":
    main()
