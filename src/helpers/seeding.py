"""One call to make a lesson reproducible."""

from __future__ import annotations

import os
import random
import sys
from contextlib import contextmanager

import numpy as np

__all__ = ["seed_everything", "torch_threads"]


def seed_everything(seed: int = 0, threads: int | None = None) -> np.random.Generator:
    """Seed Python, NumPy and (if it is imported) PyTorch; return a fresh NumPy ``Generator``.

    PyTorch is also switched to deterministic algorithms, warning where an operation has none (without
    the slow filling of uninitialized memory). ``threads`` caps PyTorch's intra-op
    threads; the environment variable ``CNN_BOOK_THREADS``, when set, overrides
    it (useful when several notebooks share few cores).
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
        _deterministic_algorithms(torch)
        if hasattr(torch.utils, "deterministic"):
            torch.utils.deterministic.fill_uninitialized_memory = False
        env_threads = os.environ.get("CNN_BOOK_THREADS")
        if env_threads:
            if not env_threads.isdigit() or int(env_threads) < 1:
                raise ValueError(f"CNN_BOOK_THREADS must be a positive integer, got {env_threads!r}")
            threads = int(env_threads)
        if threads is not None:
            torch.set_num_threads(threads)
    return np.random.default_rng(seed)


def _deterministic_algorithms(torch) -> None:
    # torch.use_deterministic_algorithms(True) sets the flag below and also torch._inductor.config.deterministic,
    # which imports PyTorch's compiler stack (dynamo, inductor, sympy): 1.3 s in every notebook kernel even from
    # cached bytecode, 4.4 s without. The book never calls torch.compile, so unless that stack is loaded already,
    # set just the flag the eager kernels read. (Call torch.use_deterministic_algorithms yourself before
    # torch.compile if you need deterministic compiled code.)
    if "torch._inductor.config" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch._C._set_deterministic_algorithms(True, warn_only=True)


@contextmanager
def torch_threads(threads: int):
    """Run the ``with`` block on ``threads`` PyTorch intra-op threads, then restore the previous count.

    For rerunning a logged experiment on the thread count its script used (a float sum split over a
    different number of threads can round differently).
    """
    import torch

    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)
