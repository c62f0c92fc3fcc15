"""The ResNet lesson's degradation sweep: plain and residual CifarResNets of 8, 20 and 32 layers, two shortcut types
and zero-initialized residual branches, each trained for 4 epochs on the same 5,000 CIFAR-10 images, over 3 seeds.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/resnet_degradation.py [--seeds 0,1,2] [--threads N] [--out book/lessons/checkpoints]
    torchrun --standalone --nproc_per_node 2 scripts/resnet_degradation.py [same options]

``--threads`` defaults to all cores shared among the processes on this machine. Under torchrun each seed's
configurations (independent runs) are dealt out over the processes (:func:`helpers.torch.distributed.run_sharded`),
each run exactly as in one process, and rank 0 gathers them and writes the same log as a plain run.

Every run is ``helpers.torch.degradation.train_recording_gradients`` (SGD, momentum 0.9, learning rate 0.05,
weight decay 5e-4, batch 128, width 8) on ``degradation_subset(n=5000, seed=0)``; the training seed sets the
initialization and the batch order. Writes ``resnet_degradation.json``: per configuration and seed the per-epoch
training loss and accuracy, the mean gradient norm of every layer per epoch and the seconds taken, plus the
wall time, the machine and the number of processes. Seeded: the same command with the same thread count on the
same machine gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from helpers.data import load_cifar10
from helpers.machine import default_threads, machine_info
from helpers.seeding import seed_everything
from helpers.torch.checkpoints import checkpoint_dir
from helpers.torch.degradation import degradation_subset, train_recording_gradients
from helpers.torch.distributed import is_main, run_sharded, setup, teardown

# name -> (depth, residual, CifarResNet options)
CONFIGS = {
    "8-plain": (8, False, {}), "8-residual": (8, True, {}),
    "20-plain": (20, False, {}), "20-residual": (20, True, {}),
    "32-plain": (32, False, {}), "32-residual": (32, True, {}),
    "20-zeropad": (20, True, {"shortcut": "zeropad"}),
    "20-zero_init": (20, True, {"zero_init_residual": True}),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--configs", type=lambda s: s.split(","), default=list(CONFIGS))
    parser.add_argument("--threads", type=int, default=default_threads(),
                        help="torch threads per process (default: all cores shared among this machine's processes)")
    parser.add_argument("--out", type=Path, default=checkpoint_dir())
    args = parser.parse_args(argv)
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configurations {sorted(unknown)}; choose from {list(CONFIGS)}")

    dist_info = setup("gloo")
    seed_everything(0, threads=args.threads)
    train = load_cifar10("train")
    x, y = degradation_subset(train.x, train.y, n=5000, seed=0)
    wall = time.perf_counter()
    runs = {name: [] for name in args.configs}
    out = args.out / "resnet_degradation.json"
    if is_main():
        args.out.mkdir(parents=True, exist_ok=True)
    for k, seed in enumerate(args.seeds):

        def one(name, seed=seed):
            depth, residual, options = CONFIGS[name]
            _, log = train_recording_gradients(x, y, depth, residual, seed=seed, **options)
            print(f"seed {seed} {name:13s} final loss {log['final_loss']:.4f} acc {log['final_acc']:.4f} "
                  f"({log['seconds']:.0f} s)", flush=True)
            return log

        for name, log in zip(args.configs, run_sharded(one, args.configs), strict=True):   # in order in one process
            runs[name].append(log)
        if not is_main():
            continue
        summary = {   # written after every seed, so an interrupted sweep keeps the seeds it finished
            "configs": {name: {"depth": d, "residual": r, **o} for name, (d, r, o) in CONFIGS.items() if name in runs},
            "seeds": args.seeds[:k + 1],
            "data": {"source": train.source, "subset": "degradation_subset(n=5000, seed=0)"},
            "runs": runs,
            "wall_seconds": round(time.perf_counter() - wall, 3),
            "machine": machine_info(),
            "world_size": dist_info.world_size,
        }
        out.write_text(json.dumps(summary, indent=1) + "\n")
    if is_main():
        print(f"wrote {out} ({summary['wall_seconds']:.0f} s)")
    teardown()


if __name__ == "__main__":
    main()
