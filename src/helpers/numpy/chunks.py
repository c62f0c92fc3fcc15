"""Process a batch in chunks of samples that fit the CPU's cache, in scratch buffers that are reused.

A layer that copies its whole batch into one large temporary (im2col's columns, say) makes the
operating system map fresh memory on every call and streams it through main memory. Splitting the
batch into chunks of about 2 MB and reusing one buffer per need keeps the data in the cache; the
chunks depend only on the sizes, so results are the same on every machine.
"""

from __future__ import annotations

import math
import threading

import numpy as np

__all__ = ["chunk_slices", "thread_buffer"]

_local = threading.local()


def chunk_slices(n: int, per_sample_bytes: int, chunk_bytes: int = 1 << 21, min_bytes: int = 1 << 18,
                 min_chunks: int = 8) -> list[slice]:
    """Split ``range(n)`` into consecutive, near-equal slices of about ``chunk_bytes`` worth of samples.

    ``per_sample_bytes`` is what one sample needs. Work of at least ``min_bytes`` in total gets at least
    ``min_chunks`` slices, smaller work one slice; no slice is empty. The split depends only on the sizes, so
    results computed chunk by chunk are the same on any machine.
    """
    n, per_sample_bytes = int(n), int(per_sample_bytes)
    if n < 1 or per_sample_bytes < 0:
        raise ValueError(f"need n >= 1 samples and per_sample_bytes >= 0; got n={n}, "
                         f"per_sample_bytes={per_sample_bytes}")
    total = n * per_sample_bytes
    chunks = 1 if total < min_bytes else max(-(-total // chunk_bytes), min_chunks)
    chunks = min(n, chunks)
    bounds = [k * n // chunks for k in range(chunks + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def thread_buffer(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A scratch array of ``shape`` owned by the calling thread, reused by its next call with the same ``name``.

    Its contents are undefined. Reusing one block of memory (grown when a call needs more) keeps it in the
    CPU's cache and spares the operating system mapping fresh pages on every call, which costs about as much
    as filling them. The array is valid until this thread asks for ``name`` again.
    """
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize   # math.prod: 0.1 us against np.prod's 5 us per call
    buffers = _local.__dict__.setdefault("buffers", {})
    block = buffers.get(name)
    if block is None or block.size < size:
        block = buffers[name] = np.empty(size, dtype=np.uint8)
    return block[:size].view(dtype).reshape(shape)
