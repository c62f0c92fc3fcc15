"""Train a from-scratch NumPy CNN past 99% test accuracy on MNIST in about two minutes on two CPU cores.

Usage (from the repository root, with CNN_BOOK_DATA set when offline):
    python scripts/train_mnist_numpy.py [--seed 0 1 2] [--epochs 4] [--threads N] [--out mnist_numpy_99]
    torchrun --standalone --nproc_per_node 2 scripts/train_mnist_numpy.py [same options]

Only NumPy trains (PyTorch is never used for training or evaluation): :func:`helpers.numpy.wide_cnn.mnist_cnn_wide`
(Conv 1->16 3x3, pool, Conv 16->32 3x3, pool, Dense 1568->128, Dense 128->10; 206,922 parameters,
float32) with hand-written backpropagation (:func:`helpers.numpy.training.train_augmented`), Adam
and a one-cycle learning rate, on 55,000 of the 60,000 training digits, each mini-batch shifted by
up to +-2 pixels (:func:`helpers.numpy.augment.random_shift`). The other 5,000 training digits
(``default_rng(1).permutation(60000)[:5000]``, the split of the backpropagation lesson, the same
for every seed) are the validation set, evaluated after every
epoch; the test set is evaluated once per seed, after training, and selects nothing.

Writes ``book/lessons/checkpoints/<out>.npz`` (the first seed's float32 weights, via
:func:`helpers.numpy.checkpoints.save_numpy_checkpoint`) and ``<out>.json``: the arguments, the
machine (cores, platform, NumPy version, BLAS threads, load average before and after every run),
and per seed the per-epoch train loss / validation accuracy, the test accuracy and the training
wall time (the whole ``train_augmented`` call, including the per-epoch validation passes), plus
mean +- sd (ddof=1) over the seeds, the wall time, :func:`helpers.machine.machine_info` (which looks up
the installed PyTorch's version, after training) and the number of processes. BLAS threads are set with
``--threads`` (default: all cores shared among the processes on this machine) through the
OpenBLAS/OpenMP/MKL environment variables before NumPy is imported.

Under torchrun the seeds (independent runs) are dealt out over the processes, each run exactly as in one
process, and rank 0 gathers them and writes the same files as a plain run; ``torch.distributed`` (imported
only then) carries nothing but the finished runs' results. (Data parallelism would need the gradients of the
hand-written backpropagation averaged over the processes; the seeds are independent and need nothing.)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from helpers.machine import default_threads, machine_info


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, nargs="+", default=[0, 1, 2], help="one run per seed (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="BLAS threads per process (default: all cores shared among this machine's processes)")
    p.add_argument("--out", default="mnist_numpy_99", help="checkpoint name (book/lessons/checkpoints/<out>.npz)")
    p.add_argument("--folder", default=None, help="save the checkpoint here instead of book/lessons/checkpoints")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--max-lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--max-shift", type=int, default=2, help="random shift augmentation in pixels (0: none)")
    p.add_argument("--channels", type=int, nargs=2, default=[16, 32])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--subset", type=int, default=None, help="train on this many images only (development)")
    p.add_argument("--no-save", action="store_true", help="print the results, write nothing")
    return p.parse_args(argv)


def _sharding():
    """``(run_sharded, world_size, is_main)``: torch.distributed's under torchrun, a plain loop otherwise (no torch)."""
    if "WORLD_SIZE" not in os.environ:
        return (lambda fn, jobs: [fn(job) for job in jobs]), 1, True
    from helpers.torch.distributed import is_main, run_sharded, setup

    return run_sharded, setup("gloo").world_size, is_main()


def main(argv=None):
    wall = time.perf_counter()
    args = parse_args(argv)
    if args.threads < 1:
        raise SystemExit("--threads must be >= 1")
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    if "numpy" in sys.modules:
        raise SystemExit("NumPy was imported before the thread count was set")

    import numpy as np

    from helpers.data import load_mnist, normalize_mnist
    from helpers.numpy.augment import random_shift
    from helpers.numpy.checkpoints import save_numpy_checkpoint
    from helpers.numpy.optim import Adam
    from helpers.numpy.schedules import one_cycle_lr
    from helpers.numpy.training import evaluate, steps_per_epoch, train_augmented
    from helpers.numpy.wide_cnn import mnist_cnn_wide

    try:
        from threadpoolctl import threadpool_info
        blas = [{k: info.get(k) for k in ("internal_api", "num_threads", "version")}
                for info in threadpool_info() if info.get("user_api") == "blas"]
    except ImportError:  # threadpoolctl is optional: then the environment variables are all we know
        blas = None

    train, test = load_mnist("train"), load_mnist("test")
    x_all, y_all = normalize_mnist(train.x), train.y.astype(np.int64)
    held_out = np.random.default_rng(1).permutation(len(x_all))   # the split of the backpropagation lesson
    val_idx, fit_idx = held_out[:5000], np.sort(held_out[5000:])
    if args.subset is not None:
        fit_idx = fit_idx[: args.subset]
    x_fit, y_fit, x_val, y_val = x_all[fit_idx], y_all[fit_idx], x_all[val_idx], y_all[val_idx]
    x_test, y_test = normalize_mnist(test.x), test.y.astype(np.int64)
    augment = None
    if args.max_shift > 0:
        def augment(xb, rng):
            return random_shift(xb, args.max_shift, rng)

    run_sharded, world_size, main_process = _sharding()
    first = {}

    def one(job):
        index, seed = job
        load_before = os.getloadavg()
        net = mnist_cnn_wide(seed=seed, channels=tuple(args.channels), hidden=args.hidden)
        optimizer = Adam(net.parameters(), lr=args.max_lr)
        schedule = one_cycle_lr(args.max_lr, args.epochs * steps_per_epoch(len(x_fit), args.batch_size))
        start, cpu_start = time.perf_counter(), time.process_time()
        history = train_augmented(net, optimizer, x_fit, y_fit, epochs=args.epochs, batch_size=args.batch_size,
                                  seed=seed, augment=augment, x_val=x_val, y_val=y_val, lr_schedule=schedule,
                                  progress=False)
        train_seconds = time.perf_counter() - start
        train_cpu_seconds = time.process_time() - cpu_start
        test_loss, test_acc = evaluate(net, x_test, y_test, batch_size=1000)
        run = {
            "seed": seed,
            "test_acc": float(test_acc),
            "test_loss": round(float(test_loss), 5),
            "train_seconds": round(train_seconds, 2),
            "train_cpu_seconds": round(train_cpu_seconds, 2),
            "epoch_seconds": [round(s, 2) for s in history.seconds],
            "train_loss": [round(float(v), 5) for v in history.train_loss],
            "train_acc": [round(float(v), 5) for v in history.train_acc],
            "val_loss": [round(float(v), 5) for v in history.val_loss],
            "val_acc": [float(v) for v in history.val_acc],
            "lr": [float(v) for v in history.lr],
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
        }
        if index == 0:
            first["net"] = net              # the first seed's weights are stored (job 0 runs on rank 0)
        print(f"seed {seed}: test accuracy {test_acc:.4f}, training {train_seconds:.1f} s, val acc per epoch "
              f"{[round(v, 4) for v in run['val_acc']]}, CPU {train_cpu_seconds:.1f} s, "
              f"load {run['load_average_before'][0]} -> {run['load_average_after'][0]}", flush=True)
        return run

    runs = run_sharded(one, enumerate(args.seed))      # in one process: every seed in order
    if not main_process:
        _teardown()
        return None
    first_net = first["net"]

    accs = np.array([r["test_acc"] for r in runs])
    secs = np.array([r["train_seconds"] for r in runs])
    sd = (lambda a: float(a.std(ddof=1)) if len(a) > 1 else float("nan"))
    summary = {"seeds": [r["seed"] for r in runs], "test_acc_mean": float(accs.mean()), "test_acc_sd": sd(accs),
               "train_seconds_mean": float(secs.mean()), "train_seconds_sd": sd(secs),
               "test_acc_min": float(accs.min()), "train_seconds_max": float(secs.max())}
    print(f"test accuracy {summary['test_acc_mean']:.4f} +- {summary['test_acc_sd']:.4f} (mean +- sd, ddof=1, "
          f"{len(runs)} seeds); training {summary['train_seconds_mean']:.1f} +- {summary['train_seconds_sd']:.1f} s")
    log = {
        "script": "scripts/train_mnist_numpy.py",
        "args": vars(args),
        "model": {"builder": "helpers.numpy.wide_cnn.mnist_cnn_wide", "channels": list(args.channels),
                  "hidden": args.hidden, "parameters": int(first_net.num_parameters()),
                  "layers": [repr(layer) for layer in first_net.layers]},
        "data": {"train": len(x_fit), "val": len(x_val), "test": len(x_test),
                 "val_split": "numpy.random.default_rng(1).permutation(60000)[:5000] (as in lesson 3)"},
        "optimizer": f"Adam, one-cycle lr peak {args.max_lr}, batch {args.batch_size}",
        "augmentation": f"random shift +-{args.max_shift} px (edge padding)" if args.max_shift else None,
        "checkpoint_seed": runs[0]["seed"],
        "checkpoint_test_acc": runs[0]["test_acc"],
        "runs": runs,
        "summary": summary,
        "wall_seconds": round(time.perf_counter() - wall, 3),
        "machine": {**machine_info(threads=args.threads), "cpu_count": os.cpu_count(), "numpy": np.__version__,
                    "blas_threads": args.threads, "blas": blas},
        "world_size": world_size,
    }
    if not args.no_save:
        path = save_numpy_checkpoint(first_net, log, args.out, args.folder)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB) and {path.with_suffix('.json')}")
    _teardown()
    return log


def _teardown():
    """Leave the process group if torchrun started this process (nothing otherwise)."""
    if "torch.distributed" in sys.modules:
        from helpers.torch.distributed import teardown

        teardown()


if __name__ == "__main__":
    main()
