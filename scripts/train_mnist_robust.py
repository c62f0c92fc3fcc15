"""Train the two MNIST classifiers the adversarial-examples lesson attacks: a standard one and a PGD-trained one.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_mnist_robust.py [--epochs 4] [--adv-epochs 7] [--eps 0.3] [--steps 5] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_mnist_robust.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun every
process builds the same seeded model, :func:`helpers.torch.distributed.ddp` averages the gradients, each
process attacks and trains on its share of every global batch of ``--batch-size`` digits
(:func:`helpers.torch.distributed.shard_loader`), and rank 0 alone evaluates and writes the files.
``--limit N`` (quick tests) trains on the first N training digits and tests on the first N test digits.

Both use :func:`helpers.torch.models.mnist_classifier` (inputs are pixels in [0, 1]), Adam and a
one-cycle learning rate on the 60,000 training digits. The robust one trains on PGD examples
made on the fly (:func:`helpers.torch.attacks.adversarial_train_epoch`: random start, ``--steps``
steps of 2.5 * eps / steps), with eps ramped up linearly over the first ``--warmup`` epochs.
Writes ``book/lessons/checkpoints/mnist_cnn_standard.{pt,json}`` and ``mnist_cnn_pgd.{pt,json}``:
float16 weights, and a log with the arguments, per-epoch loss, clean test accuracy (all 10,000
digits and the first 1,000), PGD accuracy at eps 0.1/0.2/0.3 on the first 1,000 test digits
(20 steps, random start, seed 0) of the weights *as stored*, the training and wall seconds, the machine and
the number of processes. Seeded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.data import load_mnist
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.attacks import adversarial_train_epoch, pgd, robust_accuracy
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import ddp, is_main, print0, setup, shard_loader, teardown, unwrap, world_size
from helpers.torch.metrics import accuracy
from helpers.torch.models import mnist_classifier
from helpers.torch.params import count_params

EVAL_EPSILONS = (0.1, 0.2, 0.3)
EVAL_N = 1000


def pixels(images) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images).float().div_(255).unsqueeze(1)


def train_one(name, args, eps, epochs, x_train, y_train, x_test, y_test):
    wall = time.perf_counter()
    seed_everything(args.seed, threads=args.threads)      # the same seed on every rank: the same initial weights
    net = ddp(mnist_classifier(width=args.width, hidden=args.hidden))   # the model itself in one process
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(args.seed))
    loader = shard_loader(loader, seed=args.seed)          # unchanged in one process
    model = unwrap(net)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.max_lr / 10)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, epochs=epochs,
                                                    steps_per_epoch=len(loader))
    history = {"eps": [], "loss": [], "train_acc": [], "seconds": []}
    for epoch in range(epochs):
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        eps_now = eps * min(1.0, (epoch + 1) / args.warmup) if eps > 0 else 0.0
        stats = adversarial_train_epoch(net, loader, optimizer, eps_now, steps=args.steps, scheduler=scheduler,
                                        seed=args.seed + epoch)
        history["eps"].append(round(eps_now, 4))
        history["loss"].append(round(stats["loss"], 4))
        history["train_acc"].append(round(stats["adv_acc"], 4))
        history["seconds"].append(round(stats["seconds"], 1))
        print0(f"{name} epoch {epoch + 1}/{epochs}: eps {eps_now:.3f}, loss {stats['loss']:.4f}, "
              f"train acc {stats['adv_acc']:.4f}, {stats['seconds']:.0f} s", flush=True)
    seconds = sum(history["seconds"])
    if not is_main():
        return None

    # Everything below is measured on the weights as stored (float16), which is what a reader loads; accuracy and
    # robust_accuracy run the model in eval mode themselves (helpers.torch.modes.eval_mode).
    stored = mnist_classifier(width=args.width, hidden=args.hidden)
    stored.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    xe, ye = x_test[:EVAL_N], y_test[:EVAL_N]
    robust = robust_accuracy(stored, xe, ye, pgd, EVAL_EPSILONS, steps=20, seed=0)
    log = {
        "model": {"builder": "helpers.torch.models.mnist_classifier", "width": args.width, "hidden": args.hidden,
                  "parameters": count_params(model)},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "adversarial_training": {"attack": "pgd", "eps": eps, "steps": args.steps,
                                 "alpha": "2.5 * eps / steps", "random_start": True} if eps > 0 else None,
        "epochs": epochs,
        "history": history,
        "train_seconds": round(seconds, 1),
        "clean_acc_test": round(accuracy(stored, x_test, y_test), 4),
        "clean_acc_first1000": round(accuracy(stored, xe, ye), 4),
        "pgd_eval": {"images": f"first {EVAL_N} test digits", "steps": 20, "alpha": "2.5 * eps / 20",
                     "random_start": True, "seed": 0},
        "pgd_acc_first1000": {str(e): round(a, 4) for e, a in robust.items()},
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": machine_info(),
        "world_size": world_size(),
    }
    save_checkpoint(model, log, name, args.out)
    print(f"{name}: clean {log['clean_acc_test']:.4f}, PGD {log['pgd_acc_first1000']}, {seconds:.0f} s of training",
          flush=True)
    return log


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the standard model")
    parser.add_argument("--adv-epochs", type=int, default=7, help="epochs of the adversarially trained model")
    parser.add_argument("--eps", type=float, default=0.3, help="L-infinity radius of the training attack")
    parser.add_argument("--steps", type=int, default=5, help="PGD steps of the training attack")
    parser.add_argument("--warmup", type=int, default=2, help="epochs over which eps ramps up to --eps")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--limit", type=int, default=None,
                        help="quick runs: the first LIMIT training digits and the first LIMIT test digits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["standard", "pgd"], default=None, help="train only one of the two")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    setup("gloo")
    train, test = load_mnist("train"), load_mnist("test")
    x_train, y_train = pixels(train.x), torch.from_numpy(train.y)
    x_test, y_test = pixels(test.x), torch.from_numpy(test.y)
    if args.limit is not None:
        x_train, y_train, x_test, y_test = x_train[:args.limit], y_train[:args.limit], x_test[:args.limit], \
            y_test[:args.limit]
    if args.only in (None, "standard"):
        train_one("mnist_cnn_standard", args, 0.0, args.epochs, x_train, y_train, x_test, y_test)
    if args.only in (None, "pgd"):
        train_one("mnist_cnn_pgd", args, args.eps, args.adv_epochs, x_train, y_train, x_test, y_test)
    teardown()


if __name__ == "__main__":
    main()
