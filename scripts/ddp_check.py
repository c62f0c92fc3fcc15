"""One DistributedDataParallel step on real MNIST digits, its gradients, and a timing of compute vs communication.

Run as one plain process or under torchrun (CPU, gloo backend)::

    python scripts/ddp_check.py --out /tmp/one
    torchrun --standalone --nproc_per_node 2 scripts/ddp_check.py --out /tmp/two

``--threads`` defaults to all cores shared among the processes on this machine
(:func:`helpers.machine.default_threads`).

The first ``--global-batch`` MNIST training digits are the global batch; with K processes a
``DistributedSampler`` (no shuffling) gives each process ``n / K`` of them. Every process builds
the book's ``mnist_classifier`` from seed 0, wraps it in ``DistributedDataParallel`` when
distributed, and runs one forward/backward pass. Rank 0 writes ``OUT.npz`` (the flat gradient
after the all-reduce, the loss) and ``OUT.json`` (world size, per-rank sample indices, whether
``nn.SyncBatchNorm`` runs on CPU tensors, and the median and quartiles of the times of: a plain
step of rank 0 alone on the whole batch and on its shard (the other ranks wait), the (DDP) step, and
when distributed a step without gradient synchronization (``no_sync``) and an all-reduce of a tensor
the size of the model alone; all interleaved round by round, and the per-round speed-up), its wall time
and the machine.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import TensorDataset

from helpers.data import load_mnist, normalize_mnist
from helpers.machine import default_threads, machine_info
from helpers.torch.distributed import distributed_loader, flat_gradients, is_main, setup, teardown
from helpers.torch.models import mnist_classifier


def _quartiles(t) -> dict:
    return {"median": float(np.median(t)), "q25": float(np.quantile(t, 0.25)), "q75": float(np.quantile(t, 0.75))}


def timed(fns: dict, repeats: int) -> dict:
    """Wall times (on this rank) of each ``fns[name]()``, called in turn ``repeats`` times after one warm-up round.

    Interleaving the candidates exposes them to the same background load; all ranks start each call
    together (a barrier). Returns ``{name: list of seconds}``.
    """
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if dist.is_initialized():
                dist.barrier()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def syncbn_status() -> str:
    """'ok' if a SyncBatchNorm forward/backward runs on CPU tensors here, else the error message."""
    if not dist.is_initialized():
        return "not distributed"
    net = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)))
    try:
        net(torch.randn(4, 1, 8, 8)).sum().backward()
        return "ok"
    except (ValueError, RuntimeError) as e:
        return f"{type(e).__name__}: {e}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output prefix: writes OUT.npz and OUT.json on rank 0")
    p.add_argument("--global-batch", type=int, default=64, help="the first GLOBAL_BATCH MNIST training digits")
    p.add_argument("--repeats", type=int, default=20, help="timed rounds (0: no timing)")
    p.add_argument("--threads", type=int, default=default_threads(),
                   help="torch threads per process (default: all cores shared among this machine's processes)")
    args = p.parse_args()  # (option names must not be prefixes of torchrun options)

    wall = time.perf_counter()
    info = setup("gloo")
    torch.set_num_threads(args.threads)
    if args.global_batch % info.world_size:
        raise ValueError(f"--global-batch={args.global_batch} must be a multiple of the number of processes "
                         f"{info.world_size}")
    mnist = load_mnist("train")
    n = args.global_batch
    ds = TensorDataset(torch.from_numpy(normalize_mnist(mnist.x[:n])), torch.from_numpy(mnist.y[:n]).long(),
                       torch.arange(n))
    loader, _ = distributed_loader(ds, batch_size=args.global_batch // info.world_size, shuffle=False)
    x, y, idx = next(iter(loader))

    torch.manual_seed(0)
    model = mnist_classifier()
    net = DDP(model) if info.distributed else model

    def step():
        net.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return loss

    loss = step()
    grads = flat_gradients(model).numpy().copy()
    local_loss = torch.tensor([loss.item()])
    if info.distributed:
        dist.all_reduce(local_loss)
        local_loss /= info.world_size
        gathered = [None] * info.world_size
        dist.all_gather_object(gathered, idx.tolist())
    else:
        gathered = [idx.tolist()]

    result = {"world_size": info.world_size, "per_rank_batch": len(idx), "indices": gathered,
              "parameters": int(grads.size), "threads": args.threads, "syncbn": syncbn_status()}
    if args.repeats > 0:
        # one process alone (rank 0; the other ranks wait), on the whole batch and on one shard
        x_all, y_all = ds.tensors[0], ds.tensors[1]
        torch.manual_seed(0)
        single = mnist_classifier()

        def alone(xb, yb):
            def run():
                if is_main():
                    single.zero_grad(set_to_none=True)
                    F.cross_entropy(single(xb), yb).backward()
            return run

        fns = {"single_process_step": alone(x_all, y_all), "single_process_shard_step": alone(x, y), "step": step}
        if info.distributed:
            def step_no_sync():
                with net.no_sync():
                    step()
            flat = torch.zeros(grads.size)
            fns["no_sync_step"] = step_no_sync
            fns["allreduce"] = lambda: dist.all_reduce(flat)
        times = timed(fns, args.repeats)
        result["seconds"] = {name: _quartiles(t) for name, t in times.items()}
        result["speedup"] = _quartiles(np.array(times["single_process_step"]) / np.array(times["step"]))
    result["wall_seconds"] = round(time.perf_counter() - wall, 3)
    result["machine"] = machine_info()
    if is_main():
        np.savez(args.out + ".npz", grads=grads, loss=np.float64(local_loss.item()))
        with open(args.out + ".json", "w") as f:
            json.dump(result, f, indent=1)
    teardown()


if __name__ == "__main__":
    main()
