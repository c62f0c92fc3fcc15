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

from helpers.torch.speed import max_pool_seconds

CASES = [  # ((N, C, H, W), kernel, stride, padding)
    ((64, 8, 28, 28), 2, 2, 0),
    ((32, 64, 32, 32), 2, 2, 0),
    ((32, 64, 32, 32), 3, 2, 1),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__}")
    for shape, kernel, stride, padding in CASES:
        t_np, t_torch = max_pool_seconds(shape, kernel, stride, padding, args.repeats)
        name = f"{'x'.join(map(str, shape))} k{kernel} s{stride} p{padding}"
        print(f"{name:24s}: numpy {t_np * 1e3:7.2f} ms, torch {t_torch * 1e3:7.2f} ms, ratio {t_np / t_torch:4.2f}x")


if __name__ == "__main__":
    main()
