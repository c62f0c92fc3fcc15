"""Train the four small networks of the global-context experiment (is the 3 left of the 7?), 3 seeds each.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_global_context.py [--epochs 3] [--n-train 3000] [--seeds 0 1 2] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_global_context.py [same options]

Canvases come from :func:`helpers.torch.global_context.digit_pair_canvases`: training pairs from the first 50,000
MNIST training digits, validation pairs from the last 10,000, test pairs from the MNIST test digits, every test
pair in both orders. Every kind of :func:`helpers.torch.global_context.context_model` is trained with Adam for the
same number of epochs and seed; the log records validation accuracy per epoch and the test accuracy of the
weights *as stored* (float16). Writes ``book/lessons/checkpoints/global_context.{pt,json}``: one
``nn.ModuleDict`` holding every ``<kind>_s<seed>`` model. The log also records the wall time, the machine and
the number of processes.

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the runs
(seed x kind, independent) are dealt out over the processes (:func:`helpers.torch.distributed.run_sharded`),
each run exactly as in one process, and rank 0 gathers the trained models, scores them and writes the same
files as a plain run (``--evaluate-only`` runs on rank 0 alone).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from helpers.data import load_mnist
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import load_checkpoint, save_checkpoint
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.global_context import CONTEXT_KINDS, context_model, digit_pair_canvases

NAME = "global_context"
DATA = {"classes": [3, 7], "gap": 12, "margin": 10, "n_val": 2000, "val_seed": 1, "n_test": 4000, "test_seed": 2,
        "train_seed": 0}


def to_tensor(x) -> torch.Tensor:
    """uint8 canvases (N, H, W) -> float (N, 1, H, W) in [0, 1]."""
    return torch.from_numpy(x).float().div(255).unsqueeze(1)


def pair_data(split: str, n: int, seed: int, data: dict = DATA):
    """Canvases and labels of one split of the log's data settings (``split`` in train / val / test)."""
    digits = load_mnist("test" if split == "test" else "train")
    xs, ys = digits.x, digits.y
    if split == "train":
        xs, ys = xs[:50000], ys[:50000]
    elif split == "val":
        xs, ys = xs[50000:], ys[50000:]
    x, y, _ = digit_pair_canvases(xs, ys, n, tuple(data["classes"]), data["gap"], data["margin"], seed=seed,
                                  both_orders=split == "test")
    return to_tensor(x), torch.from_numpy(y)


def accuracy(model, x, y, batch: int = 1000) -> float:
    """Accuracy of ``model`` in eval mode."""
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + batch]).argmax(1) for i in range(0, len(x), batch)])
    return float((pred == y).float().mean())


def score(models, results, x_test, y_test, n_test: int, n_quick: int = 200):
    """Record each model's test accuracy (weights as stored) on all canvases and on the quick twin subset.

    The quick subset is the first ``n_quick`` pairs and their ``n_quick`` swapped twins (what the lesson scores).
    """
    quick = torch.cat([torch.arange(n_quick), n_test // 2 + torch.arange(n_quick)])
    for key, model in models.items():
        results[key]["test_acc_float16_weights"] = accuracy(model, x_test, y_test)
        results[key]["test_acc_quick_float16_weights"] = accuracy(model, x_test[quick], y_test[quick])
        results[key]["quick_subset"] = f"first {n_quick} test pairs and their swapped twins"
        print(key, "test", results[key]["test_acc_float16_weights"],
              "quick", results[key]["test_acc_quick_float16_weights"], flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n-train", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--kinds", nargs="+", default=list(CONTEXT_KINDS))
    ap.add_argument("--threads", type=int, default=default_threads(),
                    help="torch threads per process (default: all cores shared among this machine's processes)")
    ap.add_argument("--out", default=NAME)
    ap.add_argument("--evaluate-only", action="store_true",
                    help="skip training: re-score the stored checkpoint and rewrite the test entries of its log")
    args = ap.parse_args()
    wall = time.perf_counter()
    dist_info = setup("gloo")
    torch.set_num_threads(args.threads)
    if args.evaluate_only and not is_main():
        teardown()
        return
    if args.evaluate_only:
        state, log = load_checkpoint(args.out)
        x_test, y_test = pair_data("test", log["data"]["n_test"], log["data"]["test_seed"], log["data"])
        stored = nn.ModuleDict({k: context_model(v["kind"], log["args"]["width"], canvas=tuple(x_test.shape[2:]))
                                for k, v in log["models"].items()})
        stored.load_state_dict({k: v.float() for k, v in state.items()})
        score(stored, log["models"], x_test, y_test, log["data"]["n_test"])
        save_checkpoint(stored, log, args.out)
        teardown()
        return
    start = time.time()
    x_val, y_val = pair_data("val", DATA["n_val"], DATA["val_seed"])
    x_test, y_test = pair_data("test", DATA["n_test"], DATA["test_seed"])
    train_sets = {}

    def one(job):
        seed, kind = job
        if seed not in train_sets:
            train_sets.clear()
            train_sets[seed] = pair_data("train", args.n_train, DATA["train_seed"] + 100 * seed)
        x_tr, y_tr = train_sets[seed]
        seed_everything(seed, threads=args.threads)
        model = context_model(kind, args.width, canvas=tuple(x_tr.shape[2:]))
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.epochs * (
            (args.n_train + args.batch_size - 1) // args.batch_size))
        gen = torch.Generator().manual_seed(seed)
        hist, t0 = {"train_loss": [], "val_acc": []}, time.time()
        for _ in range(args.epochs):
            model.train()
            order, total = torch.randperm(args.n_train, generator=gen), 0.0
            for i in range(0, args.n_train, args.batch_size):
                idx = order[i:i + args.batch_size]
                loss = nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach()) * len(idx)
            hist["train_loss"].append(total / args.n_train)
            hist["val_acc"].append(accuracy(model, x_val, y_val))
        key = f"{kind}_s{seed}"
        print(key, f"val {hist['val_acc'][-1]:.3f}", f"{time.time() - t0:.0f} s", flush=True)
        return key, model, {"kind": kind, "seed": seed, "seconds": round(time.time() - t0, 1), **hist}

    done = run_sharded(one, [(seed, kind) for seed in args.seeds for kind in args.kinds])   # in order in one process
    if not is_main():
        teardown()
        return
    models, results = nn.ModuleDict(), {}
    for key, model, result in done:
        models[key] = model
        results[key] = result
    log = {"args": vars(args), "data": DATA, "models": results,
           "parameters": {k: sum(p.numel() for p in context_model(k, args.width).parameters()) for k in args.kinds},
           "train_seconds": round(time.time() - start, 1),
           "wall_seconds": round(time.perf_counter() - wall, 3),
           "machine": machine_info(), "world_size": dist_info.world_size}
    save_checkpoint(models, log, args.out)
    state, _ = load_checkpoint(args.out)
    stored = nn.ModuleDict({k: context_model(v["kind"], args.width, canvas=tuple(x_test.shape[2:]))
                            for k, v in results.items()})
    stored.load_state_dict({k: v.float() for k, v in state.items()})
    score(stored, results, x_test, y_test, DATA["n_test"])
    log["wall_seconds"] = round(time.perf_counter() - wall, 3)
    save_checkpoint(models, log, args.out)
    teardown()


if __name__ == "__main__":
    main()
