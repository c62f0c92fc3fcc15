"""Train the regularization comparison: one CIFAR-10 CNN, four ways of fighting overfitting, several seeds.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/regularization_sweep.py [--epochs 40] [--seeds 0,1,2] [--per-class 200] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/regularization_sweep.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the
independent runs (method x seed) are dealt out over the processes (:func:`helpers.torch.distributed.shard`),
each run exactly as in one process, and rank 0 gathers them and writes the same files as a plain run.

The network is :func:`helpers.torch.models.cifar_cnn` (width 32, the first CIFAR-10 lesson's network).
Every run trains on the same ``--per-class`` training images per class and validates on another 100
per class (both seeded, disjoint), with Adam at a constant learning rate 1e-3, batch 64, for ``--epochs``
epochs. The methods:

* ``none``: nothing against overfitting (the baseline);
* ``weight decay``: AdamW with decoupled weight decay ``--weight-decay``;
* ``dropout``: dropout 0.5 before the dense layer;
* ``augmentation``: random shifts of up to 4 pixels (border pixels repeated) and horizontal flips.

After every epoch it records training loss/accuracy (on the batches) and validation loss/accuracy, and
keeps a copy of the weights. After training it replays early stopping on the validation loss and on the
validation accuracy (:func:`helpers.numpy.regularization.early_stopping_epoch`, patience in ``PATIENCES``)
and measures the accuracy on the full 10,000-image test set of the weights of the final epoch and of
each epoch early stopping would keep, so nothing is chosen on the test set. Writes
``book/lessons/checkpoints/regularization_sweep.json`` (every curve of every run) and, for seed
``--seeds[0]``, the final weights of the ``none`` and ``augmentation`` runs as
``regularization_<method>.pt`` (float16) with a small log whose test accuracy a test re-checks.
The summary also records the wall time, the machine and the number of processes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from helpers.data import few_shot_indices, load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.numpy.regularization import early_stopping_epoch
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import gather, is_main, setup, shard, teardown
from helpers.torch.loaders import random_shift
from helpers.torch.metrics import accuracy
from helpers.torch.models import Normalize, cifar_cnn

METHODS = ("none", "weight decay", "dropout", "augmentation")
STORED = ("none", "augmentation")
PATIENCES = (3, 5)


def pixels(images) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) -> float32 (N, 3, 32, 32) in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def build(method: str, mean, std, width: int) -> torch.nn.Sequential:
    """Normalize(training mean/std) then the CNN; takes pixels in [0, 1]."""
    return torch.nn.Sequential(Normalize(mean, std), cifar_cnn(width, dropout=0.5 if method == "dropout" else 0.0))


@torch.no_grad()
def loss_and_accuracy(model, x, y, batch_size=1000):
    model.eval()
    logits = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train()
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def train_one(method, seed, args, data, mean, std):
    x, y, xv, yv, xt, yt = data
    seed_everything(seed, threads=args.threads)
    model = build(method, mean, std, args.width)
    decay = args.weight_decay if method == "weight decay" else 0.0
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=decay)
    gen = torch.Generator().manual_seed(seed)
    curves = {k: [] for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
    snapshots = []
    start = time.perf_counter()
    model.train()
    for _ in range(args.epochs):
        total, correct, seen = 0.0, 0, 0
        for idx in torch.randperm(len(x), generator=gen).split(args.batch_size):
            xb = x[idx]
            if method == "augmentation":
                xb = random_shift(xb, 4, gen)
                flip = torch.rand(len(idx), generator=gen) < 0.5
                xb[flip] = xb[flip].flip(-1)
            logits = model(xb)
            loss = F.cross_entropy(logits, y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
            seen += len(idx)
        val_loss, val_acc = loss_and_accuracy(model, xv, yv)
        curves["train_loss"].append(round(total / seen, 4))
        curves["train_acc"].append(round(correct / seen, 4))
        curves["val_loss"].append(round(val_loss, 4))
        curves["val_acc"].append(round(val_acc, 4))
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    seconds = time.perf_counter() - start
    keep = {len(snapshots)} | {early_stopping_epoch(curves["val_loss"], p)[1] for p in PATIENCES} | \
        {early_stopping_epoch(curves["val_acc"], p, mode="max")[1] for p in PATIENCES}
    test_acc = {}
    for epoch in sorted(keep):
        model.load_state_dict(snapshots[epoch - 1])
        test_acc[str(epoch)] = round(loss_and_accuracy(model, xt, yt)[1], 4)
    model.load_state_dict(snapshots[-1])
    curves["test_acc"] = test_acc
    return model.eval(), {"method": method, "seed": seed, "seconds": round(seconds, 1), **curves}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--per-class", type=int, default=200, help="training images per class")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05, help="AdamW's decoupled decay")
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--methods", type=lambda s: s.split(","), default=list(METHODS))
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    train, test = load_cifar10("train"), load_cifar10("test")
    both = few_shot_indices(train.y, args.per_class + 100, seed=0)
    val_mask = np.zeros(len(both), bool)
    rng = np.random.default_rng(1)
    for c in np.unique(train.y):
        members = np.flatnonzero(train.y[both] == c)
        val_mask[rng.choice(members, 100, replace=False)] = True
    train_pick, val_pick = both[~val_mask], both[val_mask]
    x, y = pixels(train.x[train_pick]), torch.from_numpy(train.y[train_pick]).long()
    xv, yv = pixels(train.x[val_pick]), torch.from_numpy(train.y[val_pick]).long()
    xt, yt = pixels(test.x), torch.from_numpy(test.y).long()
    mean, std = x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()
    data = (x, y, xv, yv, xt, yt)
    jobs = [(i, method, seed) for i, (method, seed) in enumerate((m, s) for m in args.methods for s in args.seeds)]
    mine = []
    for i, method, seed in shard(jobs):                   # all of them in one process
        model, run = train_one(method, seed, args, data, mean, std)
        print(f"{method:12s} seed {seed}: test accuracy {run['test_acc']} (epoch: accuracy), "
              f"lowest val loss at epoch {int(np.argmin(run['val_loss'])) + 1}, {run['seconds']:.0f} s", flush=True)
        keep = method in STORED and seed == args.seeds[0]
        mine.append((i, run, model.state_dict() if keep else None))
    done = sorted((job for part in gather(mine) for job in part), key=lambda job: job[0])
    if not is_main():
        teardown()
        return
    runs = [run for _, run, _ in done]
    for _, run, state in done:
        method, seed = run["method"], run["seed"]
        if state is not None:
            model = build(method, mean, std, args.width)
            model.load_state_dict(state)
            stored = build(method, mean, std, args.width)
            stored.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                                    for k, v in model.state_dict().items()})
            log = {"model": {"builder": "helpers.torch.models.cifar_cnn", "width": args.width,
                             "dropout": 0.0, "input": "pixels in [0, 1], Normalize(mean, std) first"},
                   "method": method, "seed": seed, "epochs": args.epochs, "mean": mean, "std": std,
                   "test_acc": round(accuracy(stored.eval(), xt, yt), 4), "test_images": len(yt),
                   "data": train.source}
            save_checkpoint(model, log, f"regularization_{method}", args.out)
    summary = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "data": {"source": train.source, "train_images": len(y), "val_images": len(yv), "test_images": len(yt),
                 "train_pick": f"few_shot_indices(train.y, {args.per_class + 100}, seed=0) minus 100 per class "
                               "for validation (rng seed 1)"},
        "patiences": list(PATIENCES),
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": machine_info(),
        "world_size": dist_info.world_size,
    }
    out = (args.out or Path(".")) / "regularization_sweep.json"
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out} ({summary['wall_seconds']:.0f} s)")
    teardown()


if __name__ == "__main__":
    main()
