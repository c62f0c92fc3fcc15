"""Train the small one-stage digit detector of the detection lesson on MNIST digits pasted on 64x64 canvases.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_digit_detector.py [--steps 2500] [--batch-size 64] [--lr 3e-3] [--threads 1]

Training canvases are made from MNIST *training* digits, test canvases from MNIST *test* digits
(:func:`helpers.data.canvases.make_canvases`, seeded). Three anchor shapes come from k-means (distance 1 - IoU)
on the training boxes, rounded to float16 so the stored checkpoint decodes exactly as trained.
:class:`helpers.torch.detection.DigitDetector` is trained with Adam and a one-cycle schedule on the NumPy-defined
YOLO-style loss. Writes ``book/lessons/checkpoints/digit_detector.{pt,json}``: float16 weights, and a log with
the arguments, the data settings, the anchors, the loss every 25 steps, COCO mAP@[.5:.95] and mAP@0.5 on the
first 500 test canvases every 250 steps, and the final mAP of the weights *as stored* (score threshold 0.05,
NMS IoU 0.5). Seeded.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from helpers.data import load_mnist
from helpers.data.canvases import make_canvases
from helpers.numpy.boxes import kmeans_anchors, mean_average_precision
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import load_checkpoint, save_checkpoint
from helpers.torch.detection import DigitDetector, detect, train_detector

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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--anchors", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    seed_everything(args.seed, threads=args.threads)
    train, test = canvases("train"), canvases("test")
    wh = np.concatenate(train.boxes)[:, 2:] - np.concatenate(train.boxes)[:, :2]
    anchors = kmeans_anchors(wh, args.anchors, seed=args.seed).astype(np.float16).astype(np.float64)
    print(train, test, "anchors", anchors.tolist(), flush=True)
    model = DigitDetector(anchors, width=args.width)
    curve = {"step": [], "map": [], "map_50": []}

    def log_map(step, m):
        r = evaluate(m, test)
        curve["step"].append(step)
        curve["map"].append(r["map"])
        curve["map_50"].append(r["map_50"])
        print(f"step {step}: mAP@[.5:.95] {r['map']:.4f}, mAP@0.5 {r['map_50']:.4f}", flush=True)

    start = time.perf_counter()
    history = train_detector(model, train.x, train.targets(), steps=args.steps, batch_size=args.batch_size,
                             lr=args.lr, seed=args.seed, callback=log_map, every=250)
    seconds = time.perf_counter() - start
    losses = np.array([h["loss"] for h in history])
    log = {
        "model": {"builder": "helpers.torch.detection.DigitDetector", "width": args.width, "n_classes": 10,
                  "anchors": anchors.tolist(), "parameters": sum(p.numel() for p in model.parameters())},
        "args": vars(args), "data": DATA,
        "history": {"step": list(range(25, args.steps + 1, 25)),
                    "loss": [round(float(v), 4) for v in losses.reshape(-1, 25).mean(1)]},
        "eval_curve": curve, "train_seconds": round(seconds, 1),
        "torch": torch.__version__, "python": platform.python_version(),
    }
    save_checkpoint(model, log, NAME)
    state, _ = load_checkpoint(NAME)                      # score the weights as stored (float16)
    stored = DigitDetector(anchors, width=args.width)
    stored.load_state_dict(state)
    log["test"] = {"n_canvases": EVAL_N, "score_threshold": 0.05, "iou_threshold": 0.5, **evaluate(stored, test)}
    save_checkpoint(model, log, NAME)
    print(f"done in {seconds:.0f} s; stored weights: {log['test']}")


if __name__ == "__main__":
    main()
