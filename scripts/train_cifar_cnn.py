"""Train the first CIFAR-10 lesson's CNN (``helpers.torch.models.cifar_cnn``) and save its weights and training log.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_cifar_cnn.py [--epochs 8] [--threads N] [--seed 0] [--out book/lessons/checkpoints]

The lesson's recipe: ``cifar10_loaders(batch_size=64, seed=0)`` (the seeded 90/10 split of the training images,
random crops and flips), Adam with learning rate 1e-3, ``fit`` for ``--epochs`` epochs, weights initialized after
``torch.manual_seed(seed)``. Writes ``cifar_cnn.pt`` (float16 weights) and ``cifar_cnn.json`` (the arguments, the
data copy, the per-epoch history, the test loss and accuracy, the wall time and the machine).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.loaders import cifar10_loaders
from helpers.torch.models import cifar_cnn
from helpers.torch.training import evaluate, fit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    seed_everything(args.seed, threads=args.threads)
    train_loader, val_loader, test_loader, info = cifar10_loaders(batch_size=64, seed=0)
    torch.manual_seed(args.seed)
    model = cifar_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    wall = time.perf_counter()
    history = fit(model, train_loader, val_loader, args.epochs, optimizer, device="cpu", progress=False)
    seconds = time.perf_counter() - wall
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
        "machine": {"torch": torch.__version__, "threads": args.threads, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
    }
    save_checkpoint(model, log, "cifar_cnn", args.out)
    print(f"cifar_cnn: test accuracy {test_acc:.4f} (float16 weights {stored_acc:.4f}), {seconds:.0f} s of training")


if __name__ == "__main__":
    main()
