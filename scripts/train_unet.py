"""Train the U-Net that the segmentation lesson loads on the 96x96 DSB2018 nuclei; save its checkpoint and log.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_unet.py [--epochs 40] [--width 16] [--depth 3] [--no-skips] [--name unet_dsb2018]
    python scripts/train_unet.py --epochs 25 --ema 0.99 --tta --select-on tamiou --threads 1 \
        --name unet_dsb2018_plus           # the committed unet_dsb2018_plus (options below; see its log)
    python scripts/train_unet.py --epochs 90 --ema 0.99 --tta --select-on tamiou --threads 1 \
        --seed 0 --name unet_long_s0       # the committed unet_dsb2018_long (seeds 0-2, summarized by --summarize)
    python scripts/train_unet.py --epochs 90 --ema 0.99 --tta --select-on tamiou --threads 1 --seed 0 \
        --normalize --augment scale-intensity --name pilot_normsi_s0   # the log unet_pilot_normsi_90 (a pilot)
    python scripts/train_unet.py --epochs 25 --ema 0.99 --tta --select-on tamiou --threads 2 --seed 0 \
        --width 32 --name pilot_width32_25                            # the log unet_pilot_width32_25 (a pilot)
    python scripts/train_unet.py --epochs 25 --ema 0.99 --tta --select-on tamiou --threads 1 --seed 0 \
        --arch unetpp --name unetpp_25_s0     # UNet++ at the 25-epoch recipe (seeds 0-2: unet_pilot_unetpp_25_seeds)
    python scripts/train_unet.py --epochs 150 --ema 0.99 --tta --select-on tamiou --threads 1 --seed 0 \
        --name pilot_long150_s0               # the log unet_pilot_long150 (a pilot)
    python scripts/train_unet.py --epochs 25 --ema 0.99 --tta --select-on tamiou --threads 1 --seed 0 \
        --upsample 2 --name pilot_up2_25      # the log unet_pilot_upsample2_25 (a pilot)
    python scripts/train_unet.py --epochs 30 --max-lr 1e-3 --ema 0.99 --tta --select-on tamiou --threads 1 \
        --seed 0 --init unet_dsb2018_long --loss bce-dice-lovasz --name ft30_bce-dice-lovasz
                                              # the log unet_pilot_finetune_lovasz; --loss bce-dice: _control
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

Options of the improved recipe (all off by default, so the defaults reproduce ``unet_dsb2018``):
``--normalize`` feeds one grey channel per image, inverted for bright-field images and percentile-stretched
(:func:`helpers.numpy.intensity.normalize_nuclei_images`); ``--augment scale-intensity`` adds a random zoom and
gamma/contrast/brightness jitter (:func:`helpers.torch.unet.random_scale_intensity`) after the flips/rotations;
``--ema DECAY`` validates, chooses and stores an exponential moving average of the weights
(:class:`helpers.torch.averaging.WeightEMA`); ``--tta`` averages the 8 flips/rotations when choosing the
threshold and testing; ``--loss bce-dice-lovasz`` adds the Lovász hinge, a convex surrogate of 1 - IoU, to the loss;
``--upsample 2`` runs the U-Net on images enlarged twice (bilinear) and pools its logits back to 96x96;
``--init CHECKPOINT`` fine-tunes a committed checkpoint instead of starting from random weights;
``--select-on tamiou`` keeps the epoch with the best validation two-class mean IoU
averaged over thresholds 0.5-0.95 instead of the best pixel IoU at 0.5. The log's ``test_metrics`` hold
every test score with a 95% bootstrap interval over the test images (:func:`helpers.stats.bootstrap_interval`),
and ``val_metrics`` the same scores on validation (what pilots compare).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from helpers.data import dsb2018_split, load_dsb2018
from helpers.machine import default_threads, machine_info
from helpers.numpy.intensity import normalize_nuclei_images
from helpers.numpy.metrics import (
    DSB_THRESHOLDS,
    dice,
    instance_score,
    iou,
    pixel_dice,
    pixel_iou,
    threshold_averaged_mean_iou,
)
from helpers.seeding import seed_everything
from helpers.stats import bootstrap_interval
from helpers.torch.averaging import WeightEMA
from helpers.torch.checkpoints import checkpoint_dir, load_checkpoint, save_checkpoint
from helpers.torch.distributed import ddp, is_main, setup, teardown
from helpers.torch.params import count_params
from helpers.torch.unet import (
    bce_dice_loss,
    build_unet,
    grey_to_tensor,
    images_to_tensor,
    lovasz_hinge_loss,
    predict_probs,
    random_dihedral,
    random_scale_intensity,
)

# Every committed log was scored in batches of 64 in the default memory layout; predict_probs' defaults
# (channels-last batches of 8, faster on one thread) round the probabilities differently by about 3e-7, which
# could move a logged number in its last digit.
SCORE_BATCH = 64


def score_probs(model, x, tta=False):
    """The probabilities every committed log was scored with (predict_probs in batches of 64, default layout)."""
    return predict_probs(model, x, batch_size=SCORE_BATCH, tta=tta, channels_last=False)


def _counts(m, truth):
    """Per image: true positives, false positives, false negatives, true negatives (float (N, 4))."""
    return np.stack([(m & truth).sum((1, 2)), (m & ~truth).sum((1, 2)), (~m & truth).sum((1, 2)),
                     (~m & ~truth).sum((1, 2))], 1).astype(float)


def _fg_iou(c):
    tp, fp, fn, _ = c.sum(0)
    return tp / max(tp + fp + fn, 1)


def _two_class(c):
    tp, fp, fn, tn = c.sum(0)
    return (tp / max(tp + fp + fn, 1) + tn / max(tn + fp + fn, 1)) / 2


def _pooled_dice(c):
    tp, fp, fn, _ = c.sum(0)
    return 2 * tp / max(2 * tp + fp + fn, 1)


def segmentation_report(probs, truth, threshold, n_boot=2000, seed=0):
    """Every score of ``probs`` against ``truth`` (N, H, W) with a 95% bootstrap interval over the N images.

    Returns ``{metric: {"value": v, "low": lo, "high": hi}}`` for the two-class mean IoU averaged over the
    thresholds 0.5-0.95 (of the probabilities), and at ``threshold``: the foreground pixel IoU, the mean
    per-image IoU and Dice, the pooled Dice and the DSB2018 instance score of the connected components.
    """
    truth = np.asarray(truth, dtype=bool)
    masks = probs > threshold
    c = _counts(masks, truth)
    per_t = [_counts(probs > t, truth) for t in DSB_THRESHOLDS]
    per_iou, per_dice = iou(masks, truth), dice(masks, truth)
    inst = np.array([instance_score(ndimage.label(m)[0], ndimage.label(t)[0]) for m, t in zip(masks, truth,
                                                                                             strict=True)])
    assert np.isclose(np.mean([_two_class(k) for k in per_t]), threshold_averaged_mean_iou(probs, truth))
    stats = {
        "threshold_averaged_mean_iou": lambda i: np.mean([_two_class(k[i]) for k in per_t]),
        "foreground_pixel_iou": lambda i: _fg_iou(c[i]),
        "mean_image_iou": lambda i: per_iou[i].mean(),
        "pixel_dice": lambda i: _pooled_dice(c[i]),
        "mean_image_dice": lambda i: per_dice[i].mean(),
        "instance_score": lambda i: inst[i].mean(),
    }
    everything = np.arange(len(truth))
    out = {}
    for name, f in stats.items():
        lo, hi = bootstrap_interval(f, len(truth), n_boot=n_boot, seed=seed)
        out[name] = {"value": round(float(f(everything)), 5), "low": round(lo, 5), "high": round(hi, 5)}
    return out


def summarize_seeds(logs: list[Path], name: str, out: Path) -> Path:
    """Write ``<out>/<name>.json``: the per-seed test scores of the training ``logs`` and their mean and sd.

    The runs must share every argument but the seed and the name; ``sd`` is the sample standard deviation
    over seeds (ddof=1), which says how much a retrained model moves, unlike the bootstrap intervals of each
    run, which say how much one model's score moves over test sets.
    """
    import json

    runs = [json.loads(Path(p).read_text()) for p in logs]
    recipe = [{k: v for k, v in r["args"].items() if k not in ("seed", "name")} for r in runs]
    if any(r != recipe[0] for r in recipe):
        raise ValueError(f"the runs differ in more than seed and name: {recipe}")
    metrics = list(runs[0]["test_metrics"])
    values = {m: [r["test_metrics"][m]["value"] for r in runs] for m in metrics}
    summary = {
        "recipe": recipe[0], "model": runs[0]["model"], "data": runs[0]["data"], "split": runs[0]["split"],
        "runs": [{"seed": r["args"]["seed"], "name": r["args"]["name"], "best_epoch": r["best_epoch"],
                  "threshold": r["threshold"], "tta": r["tta"], "train_seconds": r["train_seconds"],
                  "train_cpu_seconds": r.get("train_cpu_seconds"),
                  "wall_seconds": r["wall_seconds"], "machine": r["machine"],
                  "val_metrics": {m: v["value"] for m, v in r["val_metrics"].items()},
                  "test_metrics": r["test_metrics"]} for r in runs],
        "mean": {m: round(float(np.mean(v)), 5) for m, v in values.items()},
        "sd": {m: round(float(np.std(v, ddof=1)), 5) if len(v) > 1 else None for m, v in values.items()},
        "note": "test split scores at each run's validation threshold; mean and sd (ddof=1) over the seeds; "
                "per-run low/high: 95% bootstrap intervals over the 99 test images",
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--no-skips", dest="skips", action="store_false")
    parser.add_argument("--arch", choices=["unet", "unetpp"], default="unet",
                        help="unetpp: UNet++ (nested skips, helpers.torch.unet.UNetPlusPlus), same width and depth")
    parser.add_argument("--upsample", type=int, default=1,
                        help="U-Net only: run the network on images enlarged this many times, logits pooled back")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--limit", type=int, default=None, help="quick runs: the first LIMIT training images only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--normalize", action="store_true",
                        help="one grey channel per image: bright-field images inverted, percentiles 1-99 stretched")
    parser.add_argument("--augment", choices=["dihedral", "scale-intensity"], default="dihedral",
                        help="dihedral: flips/rotations; scale-intensity: those plus zoom and intensity jitter")
    parser.add_argument("--ema", type=float, default=0.0,
                        help="decay of an exponential moving average of the weights (0: off)")
    parser.add_argument("--tta", action="store_true",
                        help="average the 8 flips/rotations when choosing the threshold and testing")
    parser.add_argument("--select-on", choices=["pixel_iou", "tamiou"], default="pixel_iou",
                        help="validation score that picks the epoch (tamiou: two-class mean IoU, thr. 0.5-0.95)")
    parser.add_argument("--loss", choices=["bce-dice", "bce-dice-lovasz"], default="bce-dice",
                        help="bce-dice-lovasz adds the Lovász hinge (helpers.torch.unet.lovasz_hinge_loss)")
    parser.add_argument("--init", default=None, metavar="CHECKPOINT",
                        help="start from a checkpoint's weights (same network) instead of random ones: a committed "
                             "name or folder/name")
    parser.add_argument("--name", default="unet_dsb2018")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    parser.add_argument("--summarize", type=Path, nargs="+", default=None, metavar="LOG",
                        help="train nothing: write <out>/<name>.json summarizing these per-seed JSON logs")
    args = parser.parse_args(argv)
    if args.arch == "unetpp" and args.upsample != 1:
        parser.error("--upsample is a U-Net option")
    if args.arch == "unetpp" and not args.skips:
        parser.error("--no-skips is the U-Net ablation; UNet++ is all skips")
    if args.summarize:
        path = summarize_seeds(args.summarize, args.name, args.out)
        print(f"wrote {path}")
        return

    wall = time.perf_counter()
    dist_info = setup("gloo")
    rank, world = dist_info.rank, dist_info.world_size
    if args.batch_size % world:
        raise ValueError(f"--batch-size {args.batch_size} must be divisible by the number of processes {world}")
    seed_everything(args.seed, threads=args.threads)       # the same seed on every rank: the same initial weights
    data = load_dsb2018()
    split = dsb2018_split(len(data), seed=0)
    x = grey_to_tensor(normalize_nuclei_images(data.x)) if args.normalize else images_to_tensor(data.x)
    y = torch.from_numpy(data.y[:, None].astype(np.float32))
    xtr, ytr = x[split["train"]], y[split["train"]]
    if args.limit is not None:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    xval, yval = x[split["val"]], data.y[split["val"]]
    xte, yte = x[split["test"]], data.y[split["test"]]

    in_channels = x.shape[1]
    described = {"class": "helpers.torch.unet." + ("UNetPlusPlus" if args.arch == "unetpp" else "UNet"),
                 "width": args.width, "depth": args.depth, "skips": args.skips, "in_channels": in_channels}
    if args.upsample > 1:                                  # only then: older logs have no such key
        described["upsample"] = args.upsample
    model = build_unet(described)
    if args.init is not None:                              # fine-tuning: the same start on every rank
        init = Path(args.init)                             # a committed name, or a path without the suffix
        state, init_log = load_checkpoint(init.name, init.parent if str(init.parent) != "." else None)
        logged = {"in_channels": 3, **{k: v for k, v in init_log["model"].items() if k != "parameters"}}
        if logged != described:                            # (the oldest logs leave out 3 input channels)
            raise ValueError(f"--init {args.init} is a {init_log['model']}, not the {described} asked for: "
                             "fine-tuning needs the same class, width, depth, skips, input channels and upsampling")
        model.load_state_dict(state)
    ema = WeightEMA(model, args.ema) if args.ema > 0 else None
    net = ddp(model)                                       # the model itself in one process
    steps = (len(xtr) + args.batch_size - 1) // args.batch_size
    optimizer = torch.optim.Adam(model.parameters(), lr=args.max_lr / 25, weight_decay=1e-5)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, epochs=args.epochs,
                                                    steps_per_epoch=steps)
    gen = torch.Generator().manual_seed(args.seed)
    history = {"epoch": [], "train_loss": [], "val_iou": [], "val_tamiou": [], "seconds": []}
    best, best_iou = None, -1.0
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        order = torch.randperm(len(xtr), generator=gen)
        total, seen = 0.0, 0
        for s in range(0, len(xtr), args.batch_size):
            idx = order[s:s + args.batch_size]
            xb, yb = random_dihedral(xtr[idx], ytr[idx], gen)   # the whole global batch: the same draws on all ranks
            if args.augment == "scale-intensity":
                xb, yb = random_scale_intensity(xb, yb, gen)
            if world > 1:
                if len(idx) < world:                             # a last batch too small to share: skipped
                    continue
                xb, yb = xb[rank::world], yb[rank::world]        # this rank's share of the global batch
            logits = net(xb)
            loss = bce_dice_loss(logits, yb)
            if args.loss == "bce-dice-lovasz":
                loss = loss + lovasz_hinge_loss(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update(model)
            total += loss.item() * len(xb)
            seen += len(xb)
        if not is_main():
            continue
        judged = ema.model if ema is not None else model
        pv = score_probs(judged, xval)
        val_iou, val_tamiou = pixel_iou(pv > 0.5, yval), threshold_averaged_mean_iou(pv, yval)
        history["epoch"].append(epoch)
        history["train_loss"].append(round(total / seen, 5))   # rank 0's share under torchrun
        history["val_iou"].append(round(val_iou, 5))
        history["val_tamiou"].append(round(val_tamiou, 5))
        if ema is not None:                                    # the raw weights too, to see what averaging adds
            pr = score_probs(model, xval)
            history.setdefault("val_iou_raw", []).append(round(pixel_iou(pr > 0.5, yval), 5))
            history.setdefault("val_tamiou_raw", []).append(round(threshold_averaged_mean_iou(pr, yval), 5))
        history["seconds"].append(round(time.perf_counter() - start, 1))
        print(f"epoch {epoch:3d}  loss {total / seen:.4f}  val IoU {val_iou:.4f}  val tamIoU {val_tamiou:.4f}  "
              f"{time.perf_counter() - start:.0f}s", flush=True)
        score = val_iou if args.select_on == "pixel_iou" else val_tamiou
        if score > best_iou:
            best_iou, best = score, {"epoch": epoch, "state": copy.deepcopy(judged.state_dict())}
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    if not is_main():
        teardown()
        return

    # Score the weights as stored (float16), which is what a reader who loads them gets.
    stored = build_unet(described)
    stored.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in best["state"].items()})
    pval = score_probs(stored, xval, tta=args.tta)
    thresholds = np.round(np.arange(0.2, 0.81, 0.05), 2)
    val_scores = [pixel_iou(pval > t, yval) for t in thresholds]
    threshold = float(thresholds[int(np.argmax(val_scores))])
    pte = score_probs(stored, xte, tta=args.tta)
    test = {}
    for label, t in (("at_0.5", 0.5), ("at_val_threshold", threshold)):
        m = pte > t
        test[label] = {"pixel_iou": round(pixel_iou(m, yte), 5), "pixel_dice": round(pixel_dice(m, yte), 5),
                       "mean_iou": round(float(iou(m, yte).mean()), 5),
                       "mean_dice": round(float(dice(m, yte).mean()), 5)}
    val_metrics = segmentation_report(pval, yval, threshold)
    test_metrics = segmentation_report(pte, yte, threshold)
    log = {
        "model": {**described, "parameters": count_params(model)},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "out"},
        "data": data.source, "split": {k: len(v) for k, v in split.items()},
        "history": history, "best_epoch": best["epoch"], "best_val_iou_at_0.5": history["val_iou"][best["epoch"] - 1],
        "selected_on": args.select_on,
        "val_threshold_scan": dict(zip(map(str, thresholds.tolist()), [round(s, 5) for s in val_scores], strict=True)),
        "threshold": threshold, "tta": args.tta, "test": test,
        "val_metrics": val_metrics, "test_metrics": test_metrics,
        "metrics_note": "values at the validation threshold (the threshold-averaged mean IoU uses thresholds "
                        "0.5-0.95 of the probabilities); low/high: 95% percentile bootstrap over the images "
                        "(2000 resamples, seed 0)",
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),   # with 1 thread: the compute, without waits and pauses
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": machine_info(),
        "world_size": world,
    }
    path = save_checkpoint(stored, log, args.name, args.out)
    print("val ", {k: v["value"] for k, v in val_metrics.items()})
    print("test", {k: (v["value"], v["low"], v["high"]) for k, v in test_metrics.items()})
    print(f"best epoch {best['epoch']}  threshold {threshold}  test {test}  saved {path} "
          f"({path.stat().st_size / 1e6:.2f} MB) in {seconds:.0f}s")
    teardown()


if __name__ == "__main__":
    main()
