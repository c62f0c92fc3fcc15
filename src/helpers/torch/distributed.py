"""Distributed data-parallel training with ``torch.distributed``: set-up, sampling, printing, teardown.

A script that calls :func:`setup` runs unchanged in two ways. Started plainly
(``python train.py``) there is no ``WORLD_SIZE`` in the environment and it is one ordinary
process (rank 0 of 1, nothing initialized). Started by ``torchrun`` (``torchrun
--nproc_per_node 2 train.py``), each process reads its ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address from the environment and joins the process group
(``gloo`` on CPU, ``nccl`` on GPUs). :func:`distributed_loader` gives each process its own
share of the data with a ``DistributedSampler``, :func:`print0` prints on rank 0 only, and
:func:`teardown` leaves the group.

For the book's training scripts: :func:`ddp` wraps a model in ``DistributedDataParallel``
inside a group (and :func:`unwrap` gets the plain model back for evaluation and saving),
:func:`shard_loader` re-serves an existing loader's dataset so that every process sees its
share of each global batch, and :func:`shard` / :func:`gather` split a list of independent
runs (seeds, settings) over the processes and collect their results (:func:`run_sharded` does both,
returning the results in the order of the runs). Outside a group each of
them is the identity (or a one-element list), so a plain run is unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from helpers.checks import positive_int

__all__ = [
    "DistInfo",
    "setup",
    "is_distributed",
    "is_main",
    "print0",
    "distributed_loader",
    "all_reduce_mean",
    "flat_gradients",
    "teardown",
    "rank",
    "world_size",
    "ddp",
    "unwrap",
    "shard_loader",
    "shard",
    "gather",
    "run_sharded",
]

_BACKENDS = ("gloo", "nccl", "mpi")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size`` processes, ``local_rank`` on its machine."""

    rank: int
    world_size: int
    local_rank: int
    distributed: bool


def _env_int(name: str) -> int:
    value = os.environ.get(name, "")
    if not value.isdigit():
        raise ValueError(f"environment variable {name} must be a non-negative integer (torchrun sets it); "
                         f"got {value!r}")
    return int(value)


def setup(backend: str = "gloo") -> DistInfo:
    """Join the process group described by torchrun's environment variables, or run as one plain process.

    Without ``WORLD_SIZE`` in the environment nothing is initialized and the result is
    ``DistInfo(0, 1, 0, False)``. With it, ``RANK`` and ``LOCAL_RANK`` must be set too
    (``MASTER_ADDR``/``MASTER_PORT`` as torchrun sets them) and the default process group is
    initialized with ``backend`` (``"gloo"`` for CPU tensors, ``"nccl"`` for CUDA tensors).
    """
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}; got {backend!r}")
    if "WORLD_SIZE" not in os.environ:
        return DistInfo(0, 1, 0, False)
    world_size, rank = _env_int("WORLD_SIZE"), _env_int("RANK")
    local_rank = _env_int("LOCAL_RANK") if "LOCAL_RANK" in os.environ else rank
    if world_size < 1 or rank >= world_size:
        raise ValueError(f"RANK must be below WORLD_SIZE; got RANK={rank}, WORLD_SIZE={world_size}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistInfo(rank, world_size, local_rank, True)


def is_distributed() -> bool:
    """True inside an initialized process group."""
    return dist.is_available() and dist.is_initialized()


def is_main() -> bool:
    """True on rank 0, and in a plain single process: the one process that should write files and print."""
    return not is_distributed() or dist.get_rank() == 0


def print0(*args, **kwargs) -> None:
    """``print`` on rank 0 only (every process otherwise prints the same line)."""
    if is_main():
        print(*args, **kwargs)


def distributed_loader(dataset, batch_size: int, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                       **loader_kwargs) -> tuple[DataLoader, DistributedSampler | None]:
    """A ``DataLoader`` over this process's share of ``dataset``, and its sampler (``None`` when not distributed).

    In a process group each rank gets every ``world_size``-th sample (after an optional
    shuffle that is the same on all ranks for the same ``seed`` and epoch: call
    ``sampler.set_epoch(epoch)`` at the start of each epoch). ``batch_size`` is the per-process
    batch, so the global batch is ``batch_size * world_size``. Outside a group it is an
    ordinary loader over all of ``dataset``.
    """
    batch_size = positive_int(batch_size, "batch_size")
    if len(dataset) == 0:
        raise ValueError("dataset is empty")
    if "sampler" in loader_kwargs:
        raise ValueError("distributed_loader chooses the sampler itself; do not pass sampler=")
    if not is_distributed():
        gen = torch.Generator().manual_seed(seed)
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                            generator=gen if shuffle else None, **loader_kwargs)
        return loader, None
    sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last, **loader_kwargs), sampler


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over all processes in place (what DDP does to every gradient) and return it.

    Outside a process group it is returned unchanged.
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"all_reduce_mean needs a torch.Tensor; got {type(tensor).__name__}")
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= dist.get_world_size()
    return tensor


def flat_gradients(model: torch.nn.Module) -> torch.Tensor:
    """All parameter gradients of ``model`` (a DDP wrapper or a plain module) as one detached 1-D tensor."""
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    if not grads:
        raise ValueError("the model has no trainable parameters")
    if any(g is None for g in grads):
        raise ValueError("some parameters have no gradient: run backward() first")
    return torch.cat([g.detach().reshape(-1) for g in grads])


def teardown() -> None:
    """Leave the process group (a no-op outside one); call it once at the end of a distributed script."""
    if is_distributed():
        dist.destroy_process_group()


def rank() -> int:
    """This process's rank in the group (0 outside one)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes in the group (1 outside one)."""
    return dist.get_world_size() if is_distributed() else 1


class _DDP(DistributedDataParallel):
    """``DistributedDataParallel`` that looks up attributes it lacks (``anchors``, ``stride``...) on the model."""

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            inner = self.__dict__.get("_modules", {}).get("module")
            if name == "module" or inner is None:
                raise
            return getattr(inner, name)


def ddp(model: torch.nn.Module, **kwargs) -> torch.nn.Module:
    """``model`` wrapped in ``DistributedDataParallel`` inside a process group, else ``model`` itself.

    The wrapper copies rank 0's parameters and buffers to every rank when it is built and averages the
    gradients over the ranks in every ``backward()``; attributes it does not have itself are read from
    ``model`` (so code that reads e.g. ``model.anchors`` works with the wrapper). ``kwargs`` go to
    ``DistributedDataParallel`` (on CPU leave ``device_ids`` unset). Use :func:`unwrap` to evaluate
    on one rank alone or to save the trained model.
    """
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"ddp needs a torch.nn.Module; got {type(model).__name__}")
    if isinstance(model, DistributedDataParallel) or not is_distributed():
        return model
    return _DDP(model, **kwargs)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module inside a ``DistributedDataParallel`` wrapper (``model`` itself when it is not wrapped)."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"unwrap needs a torch.nn.Module; got {type(model).__name__}")
    return model.module if isinstance(model, DistributedDataParallel) else model


def shard_loader(loader: DataLoader, seed: int = 0) -> DataLoader:
    """``loader``'s dataset re-served so that each process gets its share of every global batch.

    Inside a process group: a new ``DataLoader`` over the same dataset (same transforms, workers and
    collate function) with a ``DistributedSampler`` (shuffled with ``seed`` if ``loader`` shuffles,
    the same permutation on every rank, a different one per epoch after ``sampler.set_epoch(epoch)``,
    which :func:`helpers.torch.training.fit` calls), and a per-process batch of
    ``loader.batch_size / world_size``, so the global batch, the steps per epoch and therefore the
    learning rate and its schedule mean the same as in one process. Outside a group ``loader``
    is returned unchanged.
    """
    if not isinstance(loader, DataLoader):
        raise ValueError(f"shard_loader needs a torch DataLoader; got {type(loader).__name__}")
    if not is_distributed():
        return loader
    if loader.batch_size is None:
        raise ValueError("shard_loader needs a loader built with batch_size= (not a custom batch_sampler)")
    if not isinstance(loader.sampler, (RandomSampler, SequentialSampler)):
        raise ValueError(f"shard_loader re-serves plain shuffled or sequential loaders; this one has a "
                         f"{type(loader.sampler).__name__}")
    world = dist.get_world_size()
    if loader.batch_size % world:
        raise ValueError(f"the global batch size {loader.batch_size} must be divisible by the number of processes "
                         f"{world}")
    shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, shuffle=shuffle, seed=seed, drop_last=loader.drop_last)
    return DataLoader(loader.dataset, batch_size=loader.batch_size // world, sampler=sampler,
                      drop_last=loader.drop_last, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
                      persistent_workers=loader.persistent_workers if loader.num_workers > 0 else False)


def shard(items) -> list:
    """This rank's share of a list of independent jobs: ``items[rank::world_size]`` (all of them outside a group).

    Every rank must pass the same list; with :func:`gather` the results come back in a known order.
    """
    items = list(items)
    return items[rank()::world_size()]


def gather(obj) -> list:
    """Every rank's ``obj`` (any picklable object) as a list in rank order, on every rank; ``[obj]`` outside a group.

    A collective call: every rank must call it (the same number of times).
    """
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def run_sharded(fn, jobs) -> list:
    """``[fn(job) for job in jobs]``, with the jobs dealt out over the processes and every result in job order.

    Each rank calls ``fn`` on its :func:`shard` of ``jobs`` (job ``i`` runs on rank ``i % world_size``, so
    the first job always runs on rank 0), then the results are collected with :func:`gather` and returned
    on every rank in the order of ``jobs``. Outside a group it is exactly ``[fn(job) for job in jobs]``,
    run in order (a plain run is unchanged). The results must be picklable inside a group; a collective
    call: every rank must pass the same jobs.
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable; got {fn!r}")
    jobs = list(jobs)
    mine = [(i, fn(job)) for i, job in shard(enumerate(jobs))]
    return [result for _, result in sorted((r for part in gather(mine) for r in part), key=lambda r: r[0])]
