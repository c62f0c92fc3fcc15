"""One call to make a lesson reproducible."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

__all__ = ["seed_everything"]


def seed_everything(seed: int = 0, threads: int | None = None) -> np.random.Generator:
    """Seed Python, NumPy and (if it is imported) PyTorch; return a fresh NumPy ``Generator``.

    PyTorch is also switched to deterministic algorithms. ``threads`` caps
    PyTorch's intra-op threads (useful when several processes share few cores).
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
        if threads is not None:
            torch.set_num_threads(threads)
    return np.random.default_rng(seed)
