"""NumPy conv2d (im2col) vs PyTorch on the CPU, forward + backward, side by side in one process.

Usage: python benchmarks/conv2d_speed.py [--rounds 15] [--repeats 5] [--out book/lessons/checkpoints]

For each shape, in ``--rounds`` alternating rounds (helpers.book.timing.alternating_medians, a pause before each
library), the median of ``--repeats`` forward+backward passes of the library's ``conv2d_forward`` /
``conv2d_backward`` and of ``torch.nn.functional.conv2d`` with autograd, both float32 with this process's
threads. The ratio is NumPy / PyTorch per round; the table gives its median and range over the rounds.
Then, on one thread, where the NumPy pass spends its time: copying the columns (im2col), the three matrix
products, scattering the input gradient back (col2im), and the rest. Writes everything, with the machine
and its float32 matmul rate, to ``<out>/conv2d_speed.json`` beside the scripts' logs; lesson 1 shows that log
(``helpers.torch.checkpoints.load_log("conv2d_speed")``) and ``tests/test_conv2d_speed_log.py`` checks it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_info, threadpool_limits

from helpers.book.timing import alternating_medians, median_time
from helpers.committed_files import checkpoint_dir
from helpers.machine import machine_info
from helpers.numpy import conv
from helpers.numpy.chunks import chunk_slices

SHAPES = [  # (N, C_in, C_out, H=W, stride), all with a 3x3 kernel and padding 1
    (64, 1, 8, 28, 1),      # the first layer of the MNIST CNN
    (64, 16, 32, 14, 1),    # its second layer
    (32, 64, 64, 32, 1),    # a CIFAR-sized middle layer
    (64, 16, 16, 28, 2),    # the strided downsampling of mnist_classifier(downsample="strided")
]


def problem(n, c_in, c_out, size, stride, seed=0):
    """Random float32 input, weights, bias and upstream gradient for one shape."""
    rng = np.random.default_rng(seed)
    out_size = conv.conv_output_size(size, 3, stride, 1)
    return (rng.standard_normal((n, c_in, size, size), dtype=np.float32),
            rng.standard_normal((c_out, c_in, 3, 3), dtype=np.float32),
            rng.standard_normal(c_out, dtype=np.float32),
            rng.standard_normal((n, c_out, out_size, out_size), dtype=np.float32))


def steps(shape):
    """``(numpy_step, torch_step)``: one forward + backward pass of each library on the same arrays."""
    stride = shape[4]
    x, w, b, dout = problem(*shape)

    def numpy_step():
        out, cache = conv.conv2d_forward(x, w, b, stride=stride, padding=1)
        return conv.conv2d_backward(dout, cache)

    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tdout = torch.from_numpy(dout)

    def torch_step():
        tx.grad = tw.grad = tb.grad = None
        F.conv2d(tx, tw, tb, stride=stride, padding=1).backward(tdout)

    return numpy_step, torch_step


def breakdown(shape, repeats=9):
    """Milliseconds of the NumPy pass on one thread, whole and by part, and the matrix products' GFLOP/s."""
    n, c_in, c_out, size, stride = shape
    x, w, b, dout = problem(*shape)
    g = conv._geometry(x.shape, w.shape, stride, 1, 1)
    numpy_step = steps(shape)[0]
    width = conv._column_width(g)
    parts = chunk_slices(n, conv._column_bytes(g, np.float32))
    k = c_in * 9
    kept = n * conv._column_bytes(g, np.float32) <= conv._KEEP_COLUMNS_BYTES
    rng = np.random.default_rng(1)
    w2 = w.reshape(c_out, -1)
    d = [rng.standard_normal((p.stop - p.start, c_out, width), dtype=np.float32) for p in parts]
    cols = [conv._columns(x, g, p).copy() for p in parts]
    dx = np.empty_like(x)

    def columns():
        for _ in range(1 if kept else 2):           # large layers copy them again in the backward pass
            for p in parts:
                conv._columns(x, g, p)

    def products():
        for c, dp in zip(cols, d, strict=True):
            np.matmul(w2, c)
            np.matmul(c, dp.transpose(0, 2, 1))
            np.matmul(w2.T, dp)

    def scatter_back():
        for p, c in zip(parts, cols, strict=True):
            conv._col2im_phases(c, conv._part(g, p), out=dx[p])

    with threadpool_limits(1, user_api="blas"):
        ms = {name: 1e3 * median_time(f, repeats) for name, f in
              (("total", numpy_step), ("columns", columns), ("products", products), ("scatter", scatter_back))}
    ms["rest"] = ms["total"] - ms["columns"] - ms["products"] - ms["scatter"]
    flops = 3 * 2 * c_out * k * width * n
    return {"ms_one_thread": {key: round(v, 3) for key, v in ms.items()},
            "product_gflops_one_thread": round(flops / ms["products"] / 1e6, 1),
            "product_gflop": round(flops / 1e9, 4)}


def blas_thread_count():
    """Threads of NumPy's BLAS library (threadpoolctl comes with scikit-learn)."""
    return max([lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"], default=1)


def matmul_rate(n=2048, repeats=9):
    """GFLOP/s of a float32 (n, n) @ (n, n) product with NumPy's BLAS on its current threads."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    return round(2 * n ** 3 / median_time(lambda: a @ a, repeats) / 1e9, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=checkpoint_dir(), help="folder of the log conv2d_speed.json")
    args = parser.parse_args(argv)
    wall = time.perf_counter()
    print(f"torch {torch.__version__} with {torch.get_num_threads()} threads, numpy {np.__version__} "
          f"with {blas_thread_count()} BLAS threads")
    results = []
    for shape in SHAPES:
        numpy_step, torch_step = steps(shape)
        t = alternating_medians({"numpy": numpy_step, "torch": torch_step}, args.rounds, args.repeats)
        ratios = np.array(t["numpy"]) / np.array(t["torch"])
        row = {"shape": dict(zip(("n", "c_in", "c_out", "size", "stride"), shape, strict=True)),
               "numpy_ms": round(1e3 * float(np.median(t["numpy"])), 3),
               "torch_ms": round(1e3 * float(np.median(t["torch"])), 3),
               "ratio_median": round(float(np.median(ratios)), 3),
               "ratio_min": round(float(ratios.min()), 3), "ratio_max": round(float(ratios.max()), 3),
               **breakdown(shape)}
        results.append(row)
        parts = row["ms_one_thread"]
        print(f"N={shape[0]:3d} {shape[1]:2d}->{shape[2]:2d} {shape[3]}x{shape[3]} stride {shape[4]}: "
              f"numpy {row['numpy_ms']:7.2f} ms, torch {row['torch_ms']:7.2f} ms, ratio {row['ratio_median']:4.2f}x "
              f"[{row['ratio_min']:.2f}, {row['ratio_max']:.2f}] | one thread {parts['total']:.1f} ms: "
              f"columns {parts['columns']:.1f}, products {parts['products']:.1f} "
              f"({row['product_gflops_one_thread']:.0f} GFLOP/s), scatter {parts['scatter']:.1f}, "
              f"rest {parts['rest']:.1f}", flush=True)
    log = {"shapes": results, "rounds": args.rounds, "repeats": args.repeats,
           "protocol": "per round: 0.3 s pause, median of repeats for NumPy; 0.3 s pause, median for PyTorch; "
                       "ratio = NumPy / PyTorch per round, median and range over rounds",
           "matmul_gflops": matmul_rate(), "numpy_threads": blas_thread_count(),
           "wall_seconds": round(time.perf_counter() - wall, 1), "machine": machine_info()}
    with threadpool_limits(1, user_api="blas"):
        log["matmul_gflops_one_thread"] = matmul_rate(repeats=5)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "conv2d_speed.json"
    path.write_text(json.dumps(log, indent=1) + "\n")
    print(f"float32 matmul {log['matmul_gflops']} GFLOP/s ({log['matmul_gflops_one_thread']} on one thread); "
          f"wrote {path}")


if __name__ == "__main__":
    main()
