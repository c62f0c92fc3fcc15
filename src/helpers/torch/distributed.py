"""Distributed data-parallel training with ``torch.distributed``: set-up, sampling, printing, teardown.

A script that calls :func:`setup` runs unchanged in two ways. Started plainly
(``python train.py``) there is no ``WORLD_SIZE`` in the environment and it is one ordinary
process (rank 0 of 1, nothing initialized). Started by ``torchrun`` (``torchrun
--nproc_per_node 2 train.py``), each process reads its ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address from the environment and joins the process group
(``gloo`` on CPU, ``nccl`` on GPUs). :func:`distributed_loader` gives each process its own
share of the data with a ``DistributedSampler``, :func:`print0` prints on rank 0 only, and
:func:`teardown` leaves the group.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

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
