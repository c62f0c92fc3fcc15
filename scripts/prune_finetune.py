"""Prune the book's CIFAR-10 ResNet-20 and fine-tune it briefly with the pruning mask held fixed.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/prune_finetune.py [--steps 300] [--threads N] [--seed 0] [--out FOLDER]
    torchrun --standalone --nproc_per_node 2 scripts/prune_finetune.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the two
independent settings are dealt out over the processes (:func:`helpers.torch.distributed.shard`), each run
exactly as in one process, and rank 0 gathers them and writes the same files as a plain run.

Two settings: 75 % magnitude (unstructured) pruning of every convolution and 25 % structured pruning (whole
filters with the smallest L2 norm). Each is fine-tuned for ``--steps`` SGD steps (batch 64, momentum 0.9,
learning rate 0.01, weight decay 5e-4, random horizontal flips) on 10,000 CIFAR-10 training images (seed 1),
with ``torch.nn.utils.prune`` keeping the pruned weights at zero, then the mask is made permanent. Accuracy is
measured on the 2,000 CIFAR-10 test images the deployment lesson uses (drawn with seed 0), before and after.
Writes ``book/lessons/checkpoints/resnet20_pruned_<setting>.pt`` (float16) and ``.json`` (arguments, accuracies,
sparsity, seconds, wall seconds, the machine, the number of processes), loadable with
``helpers.torch.resnet.load_cifar_resnet(name, pixel_input=True)``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from helpers.data import load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint, save_checkpoint
from helpers.torch.deploy import predict, sparsity
from helpers.torch.distributed import gather, is_main, setup, shard, teardown
from helpers.torch.resnet import load_cifar_resnet

SETTINGS = {"unstructured75": (False, 0.75), "structured25": (True, 0.25)}


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [0, 1]."""
    return torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255).contiguous()


def reload(name: str, folder):
    """The pruned checkpoint ``name`` in ``folder`` as ``load_cifar_resnet(name, pixel_input=True)`` builds it."""
    state, _ = load_checkpoint(name, folder)
    model, _ = load_cifar_resnet(pixel_input=True)       # the same architecture and normalization
    model.net.load_state_dict(state)
    return model.eval()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    wall = time.perf_counter()
    dist_info = setup("gloo")
    torch.set_num_threads(args.threads)
    train, test = load_cifar10("train"), load_cifar10("test")
    pick = np.random.default_rng(1).choice(len(train.y), 10000, replace=False)
    x, y = to_tensor(train.x[pick]), torch.from_numpy(train.y[pick]).long()
    test_pick = np.random.default_rng(0).choice(len(test.y), 2000, replace=False)
    x_test, y_test = to_tensor(test.x[test_pick]), torch.from_numpy(test.y[test_pick]).long()
    mine = []
    for name, (structured, amount) in shard(SETTINGS.items()):   # both in one process
        start = time.perf_counter()
        seed_everything(args.seed, threads=args.threads)
        model, base_log = load_cifar_resnet(pixel_input=True)
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
        for conv in convs:
            if structured:
                prune.ln_structured(conv, "weight", amount=amount, n=2, dim=0)
            else:
                prune.l1_unstructured(conv, "weight", amount=amount)
        acc_before = (predict(model.eval(), x_test).argmax(1) == y_test).float().mean().item()
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                                    weight_decay=5e-4)
        generator = torch.Generator().manual_seed(args.seed)
        model.train()
        for _ in range(args.steps):
            batch = torch.randint(0, len(y), (64,), generator=generator)
            xb = x[batch]
            flip = torch.rand(len(xb), generator=generator) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            loss = F.cross_entropy(model(xb), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        for conv in convs:
            prune.remove(conv, "weight")
        model.eval()
        acc_after = (predict(model, x_test).argmax(1) == y_test).float().mean().item()
        log = {
            "model": dict(base_log["model"]),
            "data": {"mean": base_log["data"]["mean"], "std": base_log["data"]["std"],
                     "fine_tune": "10000 CIFAR-10 training images drawn with seed 1, random horizontal flips",
                     "test": "2000 CIFAR-10 test images drawn with seed 0"},
            "pruning": {"structured": structured, "amount": amount, "sparsity": round(sparsity(model), 4)},
            "args": {k: v for k, v in vars(args).items() if k != "out"},
            "test_acc_before_fine_tuning": round(acc_before, 4),
            "test_acc": round(acc_after, 4),
            "seconds": round(time.perf_counter() - start, 1),
            "machine": machine_info(),
        }
        mine.append((name, log, model.net.state_dict()))
    done = {name: (log, state) for part in gather(mine) for name, log, state in part}
    if not is_main():
        teardown()
        return
    for name in SETTINGS:
        log, state = done[name]
        net, _ = load_cifar_resnet(pixel_input=True)
        net = net.net
        net.load_state_dict(state)
        log["wall_seconds"] = round(time.perf_counter() - wall, 3)
        log["world_size"] = dist_info.world_size
        save_checkpoint(net, log, f"resnet20_pruned_{name}", args.out)
        reloaded = reload(f"resnet20_pruned_{name}", args.out)
        log["test_acc_float16_weights"] = round(
            (predict(reloaded, x_test).argmax(1) == y_test).float().mean().item(), 4)
        log["sparsity_float16_weights"] = round(sparsity(reloaded), 4)
        save_checkpoint(net, log, f"resnet20_pruned_{name}", args.out)
        print(name, {k: log[k] for k in ("test_acc_before_fine_tuning", "test_acc", "test_acc_float16_weights",
                                         "sparsity_float16_weights", "seconds")}, flush=True)
    teardown()


if __name__ == "__main__":
    main()
