"""Train the U-Net that the segmentation lesson loads on the 96x96 DSB2018 nuclei; save its checkpoint and log.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_unet.py [--epochs 40] [--width 16] [--depth 3] [--no-skips] [--name unet_dsb2018]
    torchrun --standalone --nproc_per_node 2 scripts/train_unet.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun every
process builds the same seeded model and draws the same shuffles and flips/rotations, trains (through
:func:`helpers.torch.distributed.ddp`) on its share ``[rank::world_size]`` of every global batch of
``--batch-size`` images, and rank 0 alone validates, chooses, tests and writes the files.
``--limit N`` (quick tests) trains on the first N training images only.

Trains on the seeded training split of :func:`helpers.data.dsb2018_split` with BCE+Dice loss,
random flips/90-degree rotations, Adam and a one-cycle learning rate; after every epoch it measures the
pixel IoU on the validation split and keeps the best epoch's weights. The decision threshold is then
chosen on validation, and the test split is scored once. Writes ``book/lessons/checkpoints/<name>.pt``
(float16 weights) and ``<name>.json`` (arguments, per-epoch loss / val IoU, chosen epoch and threshold,
test scores of the stored weights, training and wall seconds, the machine, the number of processes).
Seeded: same command, same machine, same weights.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch

from helpers.data import dsb2018_split, load_dsb2018
from helpers.machine import default_threads, machine_info
from helpers.numpy.metrics import dice, iou, pixel_dice, pixel_iou
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir, save_checkpoint
from helpers.torch.distributed import ddp, is_main, setup, teardown
from helpers.torch.params import count_params
from helpers.torch.unet import UNet, bce_dice_loss, images_to_tensor, predict_probs, random_dihedral


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--no-skips", dest="skips", action="store_false")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--limit", type=int, default=None, help="quick runs: the first LIMIT training images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="unet_dsb2018")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)

    wall = time.perf_counter()
    dist_info = setup("gloo")
    rank, world = dist_info.rank, dist_info.world_size
    if args.batch_size % world:
        raise ValueError(f"--batch-size {args.batch_size} must be divisible by the number of processes {world}")
    seed_everything(args.seed, threads=args.threads)       # the same seed on every rank: the same initial weights
    data = load_dsb2018()
    split = dsb2018_split(len(data), seed=0)
    x = images_to_tensor(data.x)
    y = torch.from_numpy(data.y[:, None].astype(np.float32))
    xtr, ytr = x[split["train"]], y[split["train"]]
    if args.limit is not None:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    xval, yval = x[split["val"]], data.y[split["val"]]
    xte, yte = x[split["test"]], data.y[split["test"]]

    model = UNet(width=args.width, depth=args.depth, skips=args.skips)
    net = ddp(model)                                       # the model itself in one process
    steps = (len(xtr) + args.batch_size - 1) // args.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=args.max_lr / 25, weight_decay=1e-5)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, epochs=args.epochs,
                                                    steps_per_epoch=steps)
    gen = torch.Generator().manual_seed(args.seed)
    history = {"epoch": [], "train_loss": [], "val_iou": [], "seconds": []}
    best, best_iou = None, -1.0
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(len(xtr), generator=gen)
        total, seen = 0.0, 0
        for s in range(0, len(xtr), args.batch_size):
            idx = order[s:s + args.batch_size]
            xb, yb = random_dihedral(xtr[idx], ytr[idx], gen)   # the whole global batch: the same draws on all ranks
            if world > 1:
                if len(idx) < world:                             # a last batch too small to share: skipped
                    continue
                xb, yb = xb[rank::world], yb[rank::world]        # this rank's share of the global batch
            loss = bce_dice_loss(net(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(xb)
            seen += len(xb)
        if not is_main():
            continue
        val_iou = pixel_iou(predict_probs(model, xval) > 0.5, yval)
        history["epoch"].append(epoch)
        history["train_loss"].append(round(total / seen, 5))   # rank 0's share under torchrun
        history["val_iou"].append(round(val_iou, 5))
        history["seconds"].append(round(time.perf_counter() - start, 1))
        print(f"epoch {epoch:3d}  loss {total / seen:.4f}  val IoU {val_iou:.4f}  "
              f"{time.perf_counter() - start:.0f}s", flush=True)
        if val_iou > best_iou:
            best_iou, best = val_iou, {"epoch": epoch, "state": copy.deepcopy(model.state_dict())}
    seconds = time.perf_counter() - start
    if not is_main():
        teardown()
        return

    # Score the weights as stored (float16), which is what a reader who loads them gets.
    stored = UNet(width=args.width, depth=args.depth, skips=args.skips)
    stored.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in best["state"].items()})
    pval = predict_probs(stored, xval)
    thresholds = np.round(np.arange(0.2, 0.81, 0.05), 2)
    val_scores = [pixel_iou(pval > t, yval) for t in thresholds]
    threshold = float(thresholds[int(np.argmax(val_scores))])
    pte = predict_probs(stored, xte)
    test = {}
    for label, t in (("at_0.5", 0.5), ("at_val_threshold", threshold)):
        m = pte > t
        test[label] = {"pixel_iou": round(pixel_iou(m, yte), 5), "pixel_dice": round(pixel_dice(m, yte), 5),
                       "mean_iou": round(float(iou(m, yte).mean()), 5),
                       "mean_dice": round(float(dice(m, yte).mean()), 5)}
    log = {
        "model": {"class": "helpers.torch.unet.UNet", "width": args.width, "depth": args.depth,
                  "skips": args.skips, "parameters": count_params(model)},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "data": data.source, "split": {k: len(v) for k, v in split.items()},
        "history": history, "best_epoch": best["epoch"], "best_val_iou_at_0.5": round(best_iou, 5),
        "val_threshold_scan": dict(zip(map(str, thresholds.tolist()), [round(s, 5) for s in val_scores], strict=True)),
        "threshold": threshold, "test": test, "train_seconds": round(seconds, 1),
        "wall_seconds": round(time.perf_counter() - wall, 1),
        "machine": machine_info(),
        "world_size": world,
    }
    path = save_checkpoint(stored, log, args.name, args.out)
    print(f"best epoch {best['epoch']}  threshold {threshold}  test {test}  saved {path} "
          f"({path.stat().st_size / 1e6:.2f} MB) in {seconds:.0f}s")
    teardown()


if __name__ == "__main__":
    main()
