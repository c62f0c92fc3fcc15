"""NumPy max pooling vs PyTorch on the CPU, forward + backward, side by side in one process.

Usage: python benchmarks/pool_speed.py [--repeats 20]
Prints one line per case with the median times and the NumPy/PyTorch ratio. The
first two cases are the 2x2, stride-2 pooling of a small MNIST and a CIFAR-sized
CNN; the last is ResNet's overlapping 3x3, stride-2, padding-1 pooling.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from helpers import pool
from helpers.timing import median_time

CASES = [  # ((N, C, H, W), kernel, stride, padding)
    ((64, 8, 28, 28), 2, 2, 0),
    ((32, 64, 32, 32), 2, 2, 0),
    ((32, 64, 32, 32), 3, 2, 1),
]


def measure(shape, kernel, stride, padding, repeats=20, seed=0):
    """Median seconds of one max-pool forward+backward pass in NumPy and in PyTorch (float32)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    out_hw = [pool.pool_output_size(s, kernel, stride, padding) for s in shape[2:]]
    dout = rng.standard_normal((*shape[:2], *out_hw), dtype=np.float32)

    def numpy_step():
        _, cache = pool.max_pool2d_forward(x, kernel, stride, padding)
        return pool.max_pool2d_backward(dout, cache)

    tx = torch.from_numpy(x).requires_grad_()
    tdout = torch.from_numpy(dout)

    def torch_step():
        tx.grad = None
        F.max_pool2d(tx, kernel, stride, padding).backward(tdout)

    return median_time(numpy_step, repeats), median_time(torch_step, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__}")
    for shape, kernel, stride, padding in CASES:
        t_np, t_torch = measure(shape, kernel, stride, padding, args.repeats)
        name = f"{'x'.join(map(str, shape))} k{kernel} s{stride} p{padding}"
        print(f"{name:24s}: numpy {t_np * 1e3:7.2f} ms, torch {t_torch * 1e3:7.2f} ms, ratio {t_np / t_torch:4.2f}x")


if __name__ == "__main__":
    main()
