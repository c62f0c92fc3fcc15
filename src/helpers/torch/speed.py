"""Speed of the NumPy engine against PyTorch, measured side by side in one process."""

from __future__ import annotations

from helpers.book.timing import median_time

__all__ = ["max_pool_seconds"]



def max_pool_seconds(shape, kernel: int = 2, stride: int = 2, padding: int = 0, repeats: int = 20,
                     seed: int = 0) -> tuple[float, float]:
    """Median seconds of one max-pool forward + backward pass: ``(library, pytorch)``.

    Both run in float32 on the same random ``(N, C, H, W)`` input and upstream
    gradient, in this process (so with the same thread count): the library's
    ``helpers.numpy.pool.max_pool2d_forward``/``max_pool2d_backward`` against
    ``torch.nn.functional.max_pool2d`` with autograd.
    """
    import numpy as np
    import torch
    import torch.nn.functional as F

    from helpers.numpy import pool

    if len(shape) != 4 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be four positive integers (N, C, H, W), got {tuple(shape)!r}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(tuple(shape), dtype=np.float32)
    out_hw = [pool.pool_output_size(s, kernel, stride, padding) for s in shape[2:]]
    dout = rng.standard_normal((*shape[:2], *out_hw), dtype=np.float32)

    def library_step():
        _, cache = pool.max_pool2d_forward(x, kernel, stride, padding)
        return pool.max_pool2d_backward(dout, cache)

    tx = torch.from_numpy(x).requires_grad_()
    tdout = torch.from_numpy(dout)

    def torch_step():
        tx.grad = None
        F.max_pool2d(tx, kernel, stride, padding).backward(tdout)

    return median_time(library_step, repeats), median_time(torch_step, repeats)
