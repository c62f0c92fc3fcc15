"""Train the three digit-strip readers of the generative/sequence lesson: CNN + GRU + CTC and two baselines.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_digit_reader.py [--steps 1200] [--batch-size 32] [--lr 3e-3] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_digit_reader.py [same options]

Strips of 4 MNIST digits (28 x 112, :func:`helpers.data.strips.make_digit_strips`) are built from MNIST training
digits: 20,000 training strips from 54,000 digits and 1,000 validation strips from the other 6,000
(:func:`helpers.data.splits.split_indices`, seed 0). :class:`helpers.torch.sequence.DigitReader` of each kind
(``crnn``, ``cnn_ctc``, ``heads``) is trained from the same seed for the same number of steps (Adam,
one-cycle). Writes ``book/lessons/checkpoints/digit_reader_<kind>.{pt,json}``: float16 weights and a log with
the arguments, the data settings, the loss of every step, and the validation and test sequence accuracy and
character error rate of the weights *as stored* (test: 1,000 strips of MNIST *test* digits, seed 2; for the
CTC readers also strips of 3 and 5 test digits). Seeded; records the training and wall time, torch version,
threads, the machine and the number of processes.

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the kinds
(independent models, each from the same seed) are dealt out over the processes
(:func:`helpers.torch.distributed.run_sharded`), each trained exactly as in one process, and the process that
trained a reader writes its checkpoint and log (one file pair per kind, each written by one process).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from helpers.data import load_mnist, split_indices
from helpers.data.strips import make_digit_strips
from helpers.machine import default_threads, machine_info
from helpers.numpy.ctc import character_error_rate
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import save_checkpoint
from helpers.torch.distributed import run_sharded, setup, teardown
from helpers.torch.sequence import KINDS, DigitReader, load_digit_reader, read_digits, train_reader

DATA = {"k": 4, "jitter": 4, "n_train": 20000, "train_seed": 1, "n_val": 1000, "val_seed": 3, "val_fraction": 0.1,
        "split_seed": 0, "n_test": 1000, "test_seed": 2}


def strips(split: str, k: int | None = None, data: dict = DATA):
    """``(strips, labels)`` of the log's data settings: split ``"train"``, ``"val"`` (both from MNIST training
    digits, disjoint) or ``"test"`` (MNIST test digits); ``k`` overrides the number of digits per test strip."""
    if split == "test":
        d = load_mnist("test")
        return make_digit_strips(d.x, d.y, data["n_test"], k=k or data["k"], jitter=data["jitter"],
                                 seed=data["test_seed"])
    d = load_mnist("train")
    train_idx, val_idx = split_indices(len(d.y), val_fraction=data["val_fraction"], seed=data["split_seed"])
    idx = train_idx if split == "train" else val_idx
    n, seed = (data["n_train"], data["train_seed"]) if split == "train" else (data["n_val"], data["val_seed"])
    return make_digit_strips(d.x[idx], d.y[idx], n, k=data["k"], jitter=data["jitter"], seed=seed)


def scores(model, x, y) -> dict:
    pred = read_digits(model, x)
    truth = [list(map(int, t)) for t in y]
    return {"sequence_accuracy": round(float(np.mean([p == t for p, t in zip(pred, truth, strict=True)])), 5),
            "cer": round(character_error_rate(pred, truth), 5)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=48)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    wall = time.perf_counter()
    dist_info = setup("gloo")
    seed_everything(args.seed, threads=args.threads)
    (xtr, ytr), (xva, yva), (xte, yte) = strips("train"), strips("val"), strips("test")

    def one(kind):
        seed_everything(args.seed, threads=args.threads)
        model = DigitReader(kind, k=DATA["k"], width=args.width, hidden=args.hidden)
        start = time.perf_counter()
        history = train_reader(model, xtr, ytr, args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        seconds = time.perf_counter() - start
        name = f"digit_reader_{kind}"
        log = {"model": {"builder": "helpers.torch.sequence.DigitReader", "kind": kind, "k": DATA["k"],
                         "width": args.width, "hidden": args.hidden,
                         "parameters": sum(p.numel() for p in model.parameters())},
               "args": vars(args), "data": DATA, "history": {"loss": [round(v, 4) for v in history]},
               "seconds": round(seconds, 1), "torch": torch.__version__, "threads": torch.get_num_threads(),
               "machine": machine_info(), "world_size": dist_info.world_size}
        save_checkpoint(model, log, name)
        stored, _ = load_digit_reader(name)             # score the float16 weights as stored
        log["val"], log["test"] = scores(stored, xva, yva), scores(stored, xte, yte)
        if kind != "heads":
            for k in (3, 5):
                log["test"][f"k{k}"] = scores(stored, *strips("test", k=k))
        log["wall_seconds"] = round(time.perf_counter() - wall, 3)
        path = save_checkpoint(model, log, name)
        print(f"{kind}: {seconds:.0f} s, val {log['val']}, test {log['test']}, {path.stat().st_size / 1e6:.2f} MB",
              flush=True)

    run_sharded(one, args.kinds)            # in one process: every kind in order
    teardown()


if __name__ == "__main__":
    main()
