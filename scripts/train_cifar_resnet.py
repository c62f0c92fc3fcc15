"""Train the small CIFAR-10 ResNet that the ResNet lesson loads, and save its checkpoint and training log.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_cifar_resnet.py [--epochs 15] [--depth 20] [--width 16] [--threads N] [--classes 0,1,2,3,4]
    torchrun --standalone --nproc_per_node 2 scripts/train_cifar_resnet.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine
(:func:`helpers.machine.default_threads`). Under torchrun every process builds the same seeded
model, :func:`helpers.torch.distributed.ddp` averages the gradients, and each process trains on
its share of every global batch of ``--batch-size`` images (:func:`helpers.torch.distributed.shard_loader`),
so the hyper-parameters mean the same as in one process; rank 0 alone evaluates and writes the files.
``--limit N`` (quick tests) trains on a seeded subset of N training images and tests on the first N test images.

``--classes`` trains on those CIFAR-10 classes only (relabelled 0..k-1 in that order): the transfer
lesson's close-domain source network, pretrained on five classes and transferred to the other five.

Writes ``book/lessons/checkpoints/resnet<depth>_cifar10.pt`` (the weights, stored as float16
to keep the file small) and ``resnet<depth>_cifar10.json`` (the arguments, the data copy used,
the per-epoch history, the test accuracy, the training and wall time, the machine and the number of
processes). Seeded: the same command on the same machine gives the same weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from helpers.data import ArrayDataset, class_subset, load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import ddp, is_main, setup, shard_loader, teardown, unwrap
from helpers.torch.loaders import image_loaders
from helpers.torch.params import count_params
from helpers.torch.resnet import CifarResNet
from helpers.torch.training import evaluate, fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--classes", type=lambda s: [int(c) for c in s.split(",")], default=None,
                        help="comma-separated CIFAR-10 class indices to train on (default: all ten)")
    parser.add_argument("--limit", type=int, default=None,
                        help="quick runs: a seeded subset of LIMIT training images, the first LIMIT test images")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    seed_everything(args.seed, threads=args.threads)        # the same seed on every rank: the same initial weights
    train_set, test_set = load_cifar10("train"), load_cifar10("test")
    if args.classes is not None:
        train_set, test_set = class_subset(train_set, args.classes), class_subset(test_set, args.classes)
    if args.limit is not None:
        test_set = ArrayDataset(test_set.x[:args.limit], test_set.y[:args.limit], test_set.classes, test_set.source)
    train_loader, val_loader, test_loader, info = image_loaders(train_set, test_set, batch_size=args.batch_size,
                                                                val_fraction=0.1, augment=True, seed=args.seed,
                                                                subset=args.limit)
    train_loader = shard_loader(train_loader, seed=args.seed)  # unchanged in one process
    n_classes = 10 if args.classes is None else len(args.classes)
    model = CifarResNet(args.depth, width=args.width, num_classes=n_classes, zero_init_residual=True)
    net = ddp(model)                                            # the model itself in one process
    optimizer = torch.optim.SGD(model.parameters(), lr=args.max_lr / 25, momentum=0.9, weight_decay=5e-4,
                                nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, epochs=args.epochs,
                                                    steps_per_epoch=len(train_loader))
    start = time.perf_counter()
    history = fit(net, train_loader, val_loader, args.epochs, optimizer, scheduler=scheduler,
                  scheduler_step="batch", device="cpu", progress=False)
    seconds = time.perf_counter() - start
    model = unwrap(net)
    if not is_main():
        teardown()
        return
    test_loss, test_acc = evaluate(model, test_loader, device="cpu")

    # The accuracy of the weights as stored (float16), which is what a reader who loads them gets.
    stored = CifarResNet(args.depth, width=args.width, num_classes=n_classes)
    stored.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                            for k, v in model.state_dict().items()})
    _, stored_acc = evaluate(stored, test_loader, device="cpu")
    log = {
        "model": {"depth": args.depth, "width": args.width, "num_classes": n_classes,
                  "parameters": count_params(model, trainable_only=True)},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        # The normalization the weights expect (training-part statistics), so that the test images can be
        # prepared identically whichever copy of CIFAR-10 the reader has.
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
    name = f"resnet{args.depth}_cifar10"
    if args.classes is not None:
        name += "_classes" + "".join(map(str, args.classes))
    save_checkpoint(model, log, name, args.out)
    print(f"{name}: test accuracy {test_acc:.4f} (float16 weights {stored_acc:.4f}), "
          f"{seconds:.0f} s of training, saved to {args.out}")
    teardown()


if __name__ == "__main__":
    main()
