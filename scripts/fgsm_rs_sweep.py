"""Fast adversarial training (FGSM with a random start) on MNIST, several seeds, for the adversarial-examples lesson.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/fgsm_rs_sweep.py [--seeds 0,1,2] [--train-n 20000] [--epochs 3] [--eps 0.3] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/fgsm_rs_sweep.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun the runs (the
seeds and the live configuration on each thread count, all independent) are dealt out over the processes
(:func:`helpers.torch.distributed.run_sharded`), each run exactly as in one process, and rank 0 gathers them
and writes the same log as a plain run.

Every run trains a fresh :func:`helpers.torch.models.mnist_classifier` with
:func:`helpers.torch.robustness.train_adversarial` (``attack="fgsm"``: one step of 1.25 * eps from a
random start, Wong, Rice and Kolter 2020) at ``--eps`` from the first epoch, on the first ``--train-n``
training digits, Adam with a one-cycle rate up to 3e-3, batch 128, seeded. It then measures, on the
first 1,000 test digits: clean accuracy, FGSM accuracy at eps 0.3 and PGD-20 accuracy (random start,
seed 0, batches of 500) at eps 0.2 and 0.3.

It also runs the small configuration the lesson re-runs live (``--live-n`` digits, ``--live-epochs``
epochs, seed 0) once for every thread count of ``--live-threads``: training on a different number of
threads sums gradients in another order, so the log shows how far that alone moves the result (the
tolerance of the lesson's check). Writes ``book/lessons/checkpoints/fgsm_rs_sweep.json`` (with the wall time,
the machine and the number of processes); no weights.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from helpers.data import load_mnist
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.attacks import fgsm, pgd, robust_accuracy
from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.distributed import is_main, run_sharded, setup, teardown
from helpers.torch.metrics import accuracy
from helpers.torch.robustness import train_adversarial

EVAL_N = 1000


def pixels(images) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]."""
    return torch.from_numpy(images).float().div(255)[:, None]


def evaluate(model, x, y, pgd_eps=(0.2, 0.3)) -> dict[str, float]:
    """Clean, FGSM (eps 0.3) and PGD-20 accuracies of ``model`` on ``x, y``, rounded to 4 digits."""
    row = {"clean": accuracy(model, x, y),
           "FGSM 0.3": robust_accuracy(model, x, y, fgsm, [0.3], batch_size=500)[0.3]}
    row.update({f"PGD-20 {e:g}": a for e, a in
                robust_accuracy(model, x, y, pgd, list(pgd_eps), batch_size=500, steps=20, seed=0).items()})
    return {k: round(v, 4) for k, v in row.items()}


def run(x, y, xe, ye, args, seed, n, epochs, threads, pgd_eps=(0.2, 0.3)) -> dict:
    seed_everything(seed, threads=threads)
    torch.set_num_threads(threads)                     # also when CNN_BOOK_THREADS is set
    model, history = train_adversarial(x[:n], y[:n], args.eps, epochs, seed=seed, attack="fgsm")
    return {"seed": seed, "train_n": n, "epochs": epochs, "threads": threads,
            "train_seconds": round(history["seconds"], 1),
            "loss": [round(v, 4) for v in history["loss"]], "adv_acc": [round(v, 4) for v in history["adv_acc"]],
            **evaluate(model, xe, ye, pgd_eps)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--train-n", type=int, default=20000, help="training digits (the first N)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--eps", type=float, default=0.3, help="L-infinity radius of the training attack")
    parser.add_argument("--live-n", type=int, default=10000, help="training digits of the lesson's live run")
    parser.add_argument("--live-epochs", type=int, default=1)
    parser.add_argument("--live-threads", type=lambda s: [int(v) for v in s.split(",")], default=[1, 2])
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    dist_info = setup("gloo")
    train, test = load_mnist("train"), load_mnist("test")
    x, y = pixels(train.x), torch.from_numpy(train.y).long()
    xe, ye = pixels(test.x[:EVAL_N]), torch.from_numpy(test.y[:EVAL_N]).long()
    wall = time.perf_counter()

    def one(job):
        kind, value = job
        if kind == "seed":
            result = run(x, y, xe, ye, args, value, args.train_n, args.epochs, args.threads)
            print(f"seed {value}: {result}", flush=True)
        else:
            result = run(x, y, xe, ye, args, 0, args.live_n, args.live_epochs, value, pgd_eps=(0.3,))
            print(f"live configuration on {value} thread(s): {result}", flush=True)
        return result

    jobs = [("seed", seed) for seed in args.seeds] + [("live", threads) for threads in args.live_threads]
    done = run_sharded(one, jobs)            # in one process: the seeds, then the live runs, in order
    if not is_main():
        teardown()
        return
    runs = done[:len(args.seeds)]
    live = {str(threads): result for threads, result in zip(args.live_threads, done[len(args.seeds):], strict=True)}
    log = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"},
        "recipe": {"model": "helpers.torch.models.mnist_classifier(width=16, hidden=128)",
                   "training": "helpers.torch.robustness.train_adversarial(attack='fgsm'): step 1.25 * eps from a "
                               "random start; Adam, one-cycle to 3e-3, batch 128",
                   "data": f"first --train-n of {train.source}",
                   "evaluation": f"first {EVAL_N} test digits; FGSM at 0.3; PGD-20 (alpha 2.5 * eps / 20, random "
                                 "start, seed 0, batches of 500)"},
        "runs": runs,
        "live": live,
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": {**machine_info(threads=args.threads),
                    "load_average_at_end": [round(v, 1) for v in os.getloadavg()]},
        "world_size": dist_info.world_size,
    }
    out = (args.out or Path(".")) / "fgsm_rs_sweep.json"
    out.write_text(json.dumps(log, indent=1) + "\n")
    print(f"wrote {out} ({log['wall_seconds']:.0f} s)")
    teardown()


if __name__ == "__main__":
    main()
