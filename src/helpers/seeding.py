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

    PyTorch is also switched to deterministic algorithms (without the slow
    filling of uninitialized memory). ``threads`` caps PyTorch's intra-op
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
        torch.use_deterministic_algorithms(True, warn_only=True)
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
