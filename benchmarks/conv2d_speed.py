"""NumPy conv2d (im2col) vs PyTorch on the CPU, forward + backward, side by side in one process.

Usage: python benchmarks/conv2d_speed.py [--repeats 5]
Prints one line per shape with the median times and the NumPy/PyTorch ratio.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from helpers.book.timing import median_time
from helpers.numpy import conv

SHAPES = [  # (N, C_in, C_out, H=W), all with a 3x3 kernel and padding 1
    (64, 1, 8, 28),
    (64, 16, 32, 14),
    (32, 64, 64, 32),
]


def measure(n, c_in, c_out, size, repeats=5, seed=0):
    """Median seconds of one forward+backward pass in NumPy and in PyTorch (float32)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, size, size), dtype=np.float32)
    w = rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32)
    b = rng.standard_normal(c_out, dtype=np.float32)
    dout = rng.standard_normal((n, c_out, size, size), dtype=np.float32)

    def numpy_step():
        out, cache = conv.conv2d_forward(x, w, b, padding=1)
        return conv.conv2d_backward(dout, cache)

    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tdout = torch.from_numpy(dout)

    def torch_step():
        tx.grad = tw.grad = tb.grad = None
        F.conv2d(tx, tw, tb, padding=1).backward(tdout)

    return median_time(numpy_step, repeats), median_time(torch_step, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__}")
    for n, c_in, c_out, size in SHAPES:
        t_np, t_torch = measure(n, c_in, c_out, size, args.repeats)
        print(f"N={n:3d} {c_in:2d}->{c_out:2d} {size}x{size}: numpy {t_np * 1e3:7.1f} ms, "
              f"torch {t_torch * 1e3:7.1f} ms, ratio {t_np / t_torch:4.2f}x")


if __name__ == "__main__":
    main()
