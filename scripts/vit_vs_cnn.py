"""Data hunger: a small CNN against a small Vision Transformer on growing CIFAR-10 training subsets.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/vit_vs_cnn.py [--sizes 1000,4000,16000] [--seeds 0,1,2] [--steps 300] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/vit_vs_cnn.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the runs
(seed x size x model, independent) are dealt out over the processes
(:func:`helpers.torch.distributed.run_sharded`), each run exactly as in one process; each stored checkpoint is
written by the process that trained it, and rank 0 gathers the runs and writes the log once at the end (a plain
run rewrites it after every run).

The models, of roughly matched size (both parameter counts are printed and logged):

* ``cnn``: :func:`helpers.torch.models.cifar_cnn` of width ``--width`` (three conv-ReLU-maxpool stages);
* ``vit``: :class:`helpers.torch.vit.SmallViT` (4x4 patches by a strided convolution, ``--vit-depth``
  pre-norm transformer encoder layers of width ``--vit-dim``, a class token).

Both get exactly the same training rule: ``--steps`` AdamW steps of batch 64 (learning rate 1e-3, weight decay
0.05, linear warm-up over the first 5% of steps, then cosine decay), random shifts of up to 4 pixels and
horizontal flips, inputs normalized by the training subset's channel mean and std. So every run spends the
same compute; only the number of *distinct* training images changes (a class-balanced subset, nested: the
1,000 images are part of the 4,000, which are part of the 16,000). Runs go seed by seed, and the log is
rewritten after every run, so an interrupted sweep keeps complete seeds. Nothing is selected on the test set:
the accuracy of the final weights on a fixed class-balanced subset of ``--test-images`` test images
(the same for every run) is logged. Writes
``book/lessons/checkpoints/vit_vs_cnn.json`` and, for seed ``--seeds[0]``, the weights of both models at the
smallest and the largest size (``vit_vs_cnn_<model>_<size>.pt``, float16) with a log whose test accuracy
(of the float16 weights) ``tests/test_vit_vs_cnn_log.py`` re-checks. The log also records the wall time, the
machine and the number of processes.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from helpers.data import load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.loaders import random_shift
from helpers.torch.models import Normalize, cifar_cnn
from helpers.torch.params import count_params
from helpers.torch.vit import SmallViT

MODELS = ("cnn", "vit")


def pixels(images) -> torch.Tensor:
    """uint8 (N, 32, 32, 3) -> float32 (N, 3, 32, 32) in [0, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255)


def nested_subsets(labels, sizes, seed=0) -> dict[int, np.ndarray]:
    """Class-balanced, nested training subsets: each class's images in one seeded order, the first size/10 kept."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    order = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    return {s: np.sort(np.concatenate([order[c][: s // len(classes)] for c in classes])) for s in sizes}


def build(name: str, mean, std, args) -> torch.nn.Sequential:
    """Normalize(mean, std) then the CNN or the ViT; takes pixels in [0, 1]."""
    if name == "cnn":
        body = cifar_cnn(args.width)
    else:
        body = SmallViT(dim=args.vit_dim, depth=args.vit_depth, heads=args.vit_heads, mlp_ratio=2)
    return torch.nn.Sequential(Normalize(mean, std), body)


def lr_at(step: int, steps: int, base: float) -> float:
    """Linear warm-up over the first 5% of the steps, then cosine decay to 0."""
    warm = max(1, steps // 20)
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))


@torch.no_grad()
def test_accuracy(model, x, y, batch_size=1000) -> float:
    model.eval()
    correct = sum((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
                  for i in range(0, len(x), batch_size))
    return correct / len(y)


def train_one(name, seed, x, y, args):
    """Train one model for ``args.steps`` steps on (x, y); returns the model and its training record."""
    seed_everything(seed, threads=args.threads)
    mean, std = x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).tolist()
    model = build(name, mean, std, args)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    gen = torch.Generator().manual_seed(seed)
    losses, order, pos = [], torch.randperm(len(x), generator=gen), 0
    start = time.perf_counter()
    model.train()
    for step in range(args.steps):
        if pos + args.batch_size > len(x):
            order, pos = torch.randperm(len(x), generator=gen), 0
        idx = order[pos:pos + args.batch_size]
        pos += args.batch_size
        xb = random_shift(x[idx], 4, gen)
        flip = torch.rand(len(idx), generator=gen) < 0.5
        xb[flip] = xb[flip].flip(-1)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        loss = F.cross_entropy(model(xb), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - start
    every = max(1, args.steps // 20)
    curve = [round(float(np.mean(losses[i:i + every])), 4) for i in range(0, len(losses), every)]
    return model.eval(), {"mean": mean, "std": std, "train_loss_curve": curve, "train_seconds": round(seconds, 1)}


def write_log(out, args, params, source, test_images, runs, wall, complete, world_size=1):
    """Write the JSON log (after every run, so an interrupted sweep keeps what it finished)."""
    summary = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "parameters": params,
        "data": {"source": source, "test_images": test_images,
                 "test_pick": "nested_subsets(test.y, [test_images], seed=0): the same images for every run",
                 "train_pick": "nested_subsets(train.y, sizes, seed=0): per class, one seeded permutation, "
                               "the first size/10 images"},
        "complete": complete,
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": machine_info(),
        "world_size": world_size,
    }
    out.write_text(json.dumps(summary, indent=1) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[1000, 4000, 16000])
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=300, help="AdamW steps per run, the same for every run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--width", type=int, default=18, help="cifar_cnn width")
    parser.add_argument("--vit-dim", type=int, default=48)
    parser.add_argument("--vit-depth", type=int, default=2)
    parser.add_argument("--vit-heads", type=int, default=4)
    parser.add_argument("--test-images", type=int, default=2000, help="fixed class-balanced test subset")
    parser.add_argument("--models", type=lambda s: s.split(","), default=list(MODELS))
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    train, test = load_cifar10("train"), load_cifar10("test")
    subsets = nested_subsets(train.y, args.sizes, seed=0)
    test_pick = nested_subsets(test.y, [args.test_images], seed=0)[args.test_images]
    xt, yt = pixels(test.x[test_pick]), torch.from_numpy(test.y[test_pick]).long()
    params = {name: count_params(build(name, [0.5] * 3, [0.25] * 3, args)) for name in args.models}
    if is_main():
        print("parameters:", params, flush=True)
    runs, wall = [], time.perf_counter()
    out = (args.out or Path(".")) / "vit_vs_cnn.json"

    def one(job):
        seed, size, name = job
        x, y = pixels(train.x[subsets[size]]), torch.from_numpy(train.y[subsets[size]]).long()
        model, record = train_one(name, seed, x, y, args)
        acc = test_accuracy(model, xt, yt)
        run = {"model": name, "train_images": size, "seed": seed, "epochs": round(args.steps * args.batch_size
                                                                                / size, 2),
               "test_acc": round(acc, 4), **record}
        print(f"{name} {size:6d} images seed {seed}: test accuracy {acc:.4f}, "
              f"{record['train_seconds']:.0f} s ({time.perf_counter() - wall:.0f} s so far)", flush=True)
        if seed == args.seeds[0] and size in (min(args.sizes), max(args.sizes)):
            stored = build(name, record["mean"], record["std"], args)
            stored.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                                    for k, v in model.state_dict().items()})
            log = {"model": name, "builder": "scripts/vit_vs_cnn.py build()",
                   "config": {"width": args.width, "vit_dim": args.vit_dim, "vit_depth": args.vit_depth,
                              "vit_heads": args.vit_heads},
                   "parameters": params[name], "train_images": size, "seed": seed, "steps": args.steps,
                   "mean": record["mean"], "std": record["std"],
                   "test_acc": round(test_accuracy(stored.eval(), xt, yt), 4), "test_images": len(yt),
                   "data": train.source}
            save_checkpoint(model, log, f"vit_vs_cnn_{name}_{size}", args.out)   # by the process that trained it
        if dist_info.world_size == 1:       # one process: rewrite the log after every run
            runs.append(run)
            write_log(out, args, params, train.source, len(yt), runs, wall, complete=False)
        return run

    jobs = [(seed, size, name) for seed in args.seeds for size in args.sizes for name in args.models]
    runs = run_sharded(one, jobs)           # in one process: every run in this order
    if not is_main():
        teardown()
        return
    write_log(out, args, params, train.source, len(yt), runs, wall, complete=True, world_size=dist_info.world_size)
    print(f"wrote {out} ({time.perf_counter() - wall:.0f} s)")
    teardown()


if __name__ == "__main__":
    main()
