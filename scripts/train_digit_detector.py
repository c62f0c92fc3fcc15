"""Train the small one-stage digit detector of the detection lesson on MNIST digits pasted on 64x64 canvases.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_digit_detector.py [--steps 2500] [--batch-size 64] [--lr 3e-3] [--threads N]
    torchrun --standalone --nproc_per_node 2 scripts/train_digit_detector.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun every
process builds the same seeded model and anchors, :func:`helpers.torch.distributed.ddp` averages the
gradients, and each process draws its own ``--batch-size / world_size`` canvases per step (with replacement,
from the stream ``seed + rank``), so a step still sees ``--batch-size`` random canvases; rank 0 alone
evaluates and writes the files. ``--train-canvases N`` (quick tests) makes only N training canvases and
``--out`` chooses the folder.

Training canvases are made from MNIST *training* digits, test canvases from MNIST *test* digits
(:func:`helpers.data.canvases.make_canvases`, seeded). Three anchor shapes come from k-means (distance 1 - IoU)
on the training boxes, rounded to float16 so the stored checkpoint decodes exactly as trained.
:class:`helpers.torch.detection.DigitDetector` is trained with Adam and a one-cycle schedule on the NumPy-defined
YOLO-style loss. Writes ``book/lessons/checkpoints/digit_detector.{pt,json}``: float16 weights, and a log with
the arguments, the data settings, the anchors, the loss every 25 steps, COCO mAP@[.5:.95] and mAP@0.5 on the
first 500 test canvases every 250 steps, and the final mAP of the weights *as stored* (score threshold 0.05,
NMS IoU 0.5), the training and wall seconds, the machine and the number of processes. Seeded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from helpers.data import load_mnist
from helpers.data.canvases import make_canvases
from helpers.machine import default_threads, machine_info
from helpers.numpy.boxes import kmeans_anchors, mean_average_precision
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint, save_checkpoint
from helpers.torch.detection import DigitDetector, detect, train_detector
from helpers.torch.distributed import ddp, is_main, print0, setup, teardown, unwrap

NAME = "digit_detector"
DATA = {"size": 64, "max_digits": 4, "scale": [16, 36], "max_overlap": 0.2, "ink_threshold": 32,
        "n_train": 40000, "train_seed": 1, "n_test": 1000, "test_seed": 2}
EVAL_N = 500


def canvases(split: str, data: dict = DATA):
    """The training or test canvases of the log's data settings."""
    digits = load_mnist(split)
    n, seed = (data["n_train"], data["train_seed"]) if split == "train" else (data["n_test"], data["test_seed"])
    return make_canvases(digits.x, digits.y, n, size=data["size"], max_digits=data["max_digits"],
                         scale=tuple(data["scale"]), max_overlap=data["max_overlap"],
                         ink_threshold=data["ink_threshold"], seed=seed)


def evaluate(model, test) -> dict:
    dets = detect(model, test.x[:EVAL_N], score_threshold=0.05, iou_threshold=0.5)
    r = mean_average_precision(dets, test.targets(range(EVAL_N)))
    return {"map": round(r["map"], 5), "map_50": round(r["map_50"], 5)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--anchors", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-canvases", type=int, default=DATA["n_train"],
                        help="quick runs: fewer training canvases")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    rank, world = dist_info.rank, dist_info.world_size
    if args.batch_size % world:
        raise ValueError(f"--batch-size {args.batch_size} must be divisible by the number of processes {world}")
    seed_everything(args.seed, threads=args.threads)       # the same seed on every rank: the same initial weights
    data = dict(DATA, n_train=args.train_canvases)
    train, test = canvases("train", data), canvases("test", data)
    wh = np.concatenate(train.boxes)[:, 2:] - np.concatenate(train.boxes)[:, :2]
    anchors = kmeans_anchors(wh, args.anchors, seed=args.seed).astype(np.float16).astype(np.float64)
    print0(train, test, "anchors", anchors.tolist(), flush=True)
    model = DigitDetector(anchors, width=args.width)
    net = ddp(model)                                       # the model itself in one process
    curve = {"step": [], "map": [], "map_50": []}

    def log_map(step, m):
        if not is_main():
            return
        r = evaluate(unwrap(m), test)                      # rank 0 alone: the plain model, no collectives
        curve["step"].append(step)
        curve["map"].append(r["map"])
        curve["map_50"].append(r["map_50"])
        print(f"step {step}: mAP@[.5:.95] {r['map']:.4f}, mAP@0.5 {r['map_50']:.4f}", flush=True)

    start = time.perf_counter()
    history = train_detector(net, train.x, train.targets(), steps=args.steps, batch_size=args.batch_size // world,
                             lr=args.lr, seed=args.seed + rank, callback=log_map, every=250)
    seconds = time.perf_counter() - start
    if not is_main():
        teardown()
        return
    losses = np.array([h["loss"] for h in history])
    log = {
        "model": {"builder": "helpers.torch.detection.DigitDetector", "width": args.width, "n_classes": 10,
                  "anchors": anchors.tolist(), "parameters": sum(p.numel() for p in model.parameters())},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "data": data,
        "history": {"step": list(range(25, args.steps + 1, 25)),
                    "loss": [round(float(v), 4) for v in losses.reshape(-1, 25).mean(1)]},
        "eval_curve": curve, "train_seconds": round(seconds, 1),
        "torch": torch.__version__, "python": machine_info()["python"],
        "wall_seconds": None, "machine": machine_info(), "world_size": world,
    }
    save_checkpoint(model, log, NAME, args.out)
    state, _ = load_checkpoint(NAME, args.out)            # score the weights as stored (float16)
    stored = DigitDetector(anchors, width=args.width)
    stored.load_state_dict(state)
    log["test"] = {"n_canvases": EVAL_N, "score_threshold": 0.05, "iou_threshold": 0.5, **evaluate(stored, test)}
    log["wall_seconds"] = round(time.perf_counter() - wall, 3)
    save_checkpoint(model, log, NAME, args.out)
    print(f"done in {seconds:.0f} s; stored weights: {log['test']}")
    teardown()


if __name__ == "__main__":
    main()
