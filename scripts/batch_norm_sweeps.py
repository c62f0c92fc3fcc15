"""Train the batch-normalization experiments of the batch-norm lesson and log every run.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/batch_norm_sweeps.py [--threads N] [--experiments lr_sweep,batch_sweep,controls,norms,placement]
    torchrun --standalone --nproc_per_node 2 scripts/batch_norm_sweeps.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the runs (each
one seeded, independent) are dealt out over the processes (:func:`helpers.torch.distributed.run_sharded`),
each run exactly as in one process (the control that needs the GroupNorm results runs after them, on rank 0),
and rank 0 gathers them and writes the same files as a plain run.

Every run is :func:`helpers.torch.normalization.seeded_run`: the network :func:`helpers.torch.normalization.norm_cnn`
(16, 32, 64 channels) built from seed 0 and trained with SGD (momentum 0.9) on a fixed order of batches of
the CIFAR-10 training images from :func:`helpers.torch.loaders.image_loaders` (no augmentation, seed 0).
The experiments:

* ``lr_sweep``: no normalization and BN at learning rates 10^-2 ... 10^0 (half a decade apart), batch 64,
  4,000 training / 1,000 validation images (a 5,000-image subset), 4 epochs;
* ``batch_sweep``: BN and GroupNorm/LayerNorm with a dense hidden layer of 64 units, batch sizes 2, 4, 8, 64,
  learning rate 0.1 x batch / 64, 2,400 / 600 images (a 3,000-image subset), 3 epochs;
* ``controls``: the BN network of ``batch_sweep`` with a plain dense layer at batch 2; GroupNorm/LayerNorm at
  learning rates 0.01 ... 1 at batch 64; its best rate (by best validation accuracy) scaled by 2/64 at batch 2;
* ``norms``: LayerNorm, GroupNorm and LRN on the ``lr_sweep`` task at learning rate 0.1;
* ``placement``: BN after the ReLU, and BN before the ReLU plus a BN on the class scores, same task.

Writes ``book/lessons/checkpoints/batch_norm_sweeps.json`` (with
:func:`helpers.torch.checkpoints.save_checkpoint`, next to ``batch_norm_sweeps.pt``, the float16 weights of the
BN network trained at learning rate 0.1 in ``lr_sweep``): for every run its configuration, the loss of every
step (rounded to 5 decimals), the mean training loss of every epoch and the validation accuracy after every
epoch (full precision), and wall time, torch version, thread count, machine and number of processes. Training
is deterministic for a given PyTorch version, thread count and CPU; other thread counts give slightly different
numbers (the lesson re-runs one configuration with the logged thread count and compares).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from helpers.data import load_cifar10
from helpers.machine import cpu_name, default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.loaders import image_loaders
from helpers.torch.normalization import seeded_run

EXPERIMENTS = ("lr_sweep", "batch_sweep", "controls", "norms", "placement")
LRS = [10 ** e for e in (-2, -1.5, -1, -0.5, 0)]
BATCHES = (2, 4, 8, 64)
GN_LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
STORED = "BN lr 0.1"          # the run whose weights are saved with the log


def loaders(train_set, batch_size: int, subset: int):
    """(train, val) loaders of the lesson: ``subset`` images split 80/20, no augmentation, seed 0."""
    return tuple(image_loaders(train_set, batch_size=batch_size, subset=subset, val_fraction=0.2, augment=False,
                               seed=0)[:2])


def configurations(experiments=EXPERIMENTS):
    """Yield ``(experiment, name, run_kwargs)`` of every run except those that depend on earlier results."""
    if "lr_sweep" in experiments:
        for lr in LRS:
            for norm in ("none", "BN"):
                yield "lr_sweep", f"{norm} lr {lr:.3g}", dict(norm=norm, lr=lr, batch_size=64, subset=5000, epochs=4)
    if "batch_sweep" in experiments:
        for size in BATCHES:
            for norm in ("BN", "GroupNorm"):
                yield "batch_sweep", f"{norm} batch {size}", dict(norm=norm, lr=0.1 * size / 64, batch_size=size,
                                                                 subset=3000, epochs=3, hidden=64)
    if "controls" in experiments:
        yield "controls", "BN convs, plain dense layer, batch 2", dict(norm="BN", lr=0.1 * 2 / 64, batch_size=2,
                                                                       subset=3000, epochs=3, hidden=64,
                                                                       dense_norm="none")
        for lr in GN_LRS:
            yield "controls", f"GroupNorm lr {lr:g} batch 64", dict(norm="GroupNorm", lr=lr, batch_size=64,
                                                                    subset=3000, epochs=3, hidden=64)
    if "norms" in experiments:
        for norm in ("LayerNorm", "GroupNorm", "LRN"):
            yield "norms", f"{norm} lr 0.1", dict(norm=norm, lr=0.1, batch_size=64, subset=5000, epochs=4)
    if "placement" in experiments:
        yield "placement", "BN after ReLU", dict(norm="BN", lr=0.1, batch_size=64, subset=5000, epochs=4,
                                                 where="after")
        yield "placement", "BN before ReLU + BN on the class scores", dict(norm="BN", lr=0.1, batch_size=64,
                                                                           subset=5000, epochs=4, output_bn=True)


def run(train_set, config: dict):
    """``(model, log)`` of one configuration (keys: norm, lr, batch_size, subset, epochs, net options)."""
    config = dict(config)
    norm, lr, epochs = config.pop("norm"), config.pop("lr"), config.pop("epochs")
    pair = loaders(train_set, config.pop("batch_size"), config.pop("subset"))
    return seeded_run(norm, lr, pair, epochs=epochs, seed=0, device="cpu", **config)


def record(experiment: str, name: str, config: dict, log: dict) -> dict:
    """One entry of the JSON log."""
    return {"experiment": experiment, "name": name, "config": config,
            "train_loss": log["train_loss"], "val_acc": log["val_acc"],
            "seconds_per_epoch": round(log["seconds_per_epoch"], 2),
            "step_loss": [round(v, 5) for v in log["step_loss"]]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--experiments", type=lambda s: s.split(","), default=list(EXPERIMENTS))
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    unknown = set(args.experiments) - set(EXPERIMENTS)
    if unknown:
        parser.error(f"unknown experiments {sorted(unknown)}; choose from {EXPERIMENTS}")
    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    train_set = load_cifar10("train")
    wall = time.perf_counter()

    def do(job):
        experiment, name, config = job
        start = time.perf_counter()
        model, log = run(train_set, config)
        print(f"{experiment:11s} {name:45s} train loss {log['train_loss'][-1]:.3f}  best val acc "
              f"{max(log['val_acc']):.3f}  {time.perf_counter() - start:.0f} s", flush=True)
        return record(experiment, name, config, log), model.eval() if name == STORED else None

    done = run_sharded(do, configurations(args.experiments))      # in one process: every run in order
    if "controls" in args.experiments:     # every rank has every result: the same best rate everywhere
        gn = {r["config"]["lr"]: max(r["val_acc"]) for r, _ in done
              if r["experiment"] == "controls" and r["config"]["norm"] == "GroupNorm"}
        best = max(gn, key=gn.get)
        done += run_sharded(do, [("controls", f"GroupNorm lr {best:g} x 2/64 batch 2",
                                  dict(norm="GroupNorm", lr=best * 2 / 64, batch_size=2, subset=3000, epochs=3,
                                       hidden=64))])
    if not is_main():
        teardown()
        return
    runs = [r for r, _ in done]
    kept = {}
    for _, model in done:
        if model is not None:
            kept["model"] = model           # the STORED run's weights
    summary = {
        "script": "scripts/batch_norm_sweeps.py",
        "args": {"threads": args.threads, "experiments": args.experiments},
        "data": {"source": train_set.source,
                 "loaders": "image_loaders(load_cifar10('train'), batch_size, subset, val_fraction=0.2, "
                            "augment=False, seed=0)"},
        "runs": runs,
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": {**machine_info(), "cpu": cpu_name()},
        "world_size": dist_info.world_size,
    }
    if "model" in kept:
        summary["stored_model"] = {"run": STORED, "builder": "helpers.torch.normalization.norm_cnn('BN')",
                                   "weights": "float16"}
        out = save_checkpoint(kept["model"], summary, "batch_norm_sweeps", args.out)
    else:
        out = Path(args.out or ".") / "batch_norm_sweeps.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out} and its log ({summary['wall_seconds']:.0f} s)")
    teardown()


if __name__ == "__main__":
    main()
