"""helpers.numpy.chunks: cache-sized chunks of a batch and per-thread scratch buffers."""

import threading

import numpy as np
import pytest

from helpers.numpy import chunks


def test_chunk_slices_cover_the_batch_in_order_without_empty_slices():
    for n, per in [(1, 10), (7, 1 << 20), (64, 129_024), (32, 2_506_752), (3, 1 << 22)]:
        parts = chunks.chunk_slices(n, per)
        assert parts[0].start == 0 and parts[-1].stop == n
        assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))
        assert all(p.stop > p.start for p in parts)
        assert max(p.stop - p.start for p in parts) - min(p.stop - p.start for p in parts) <= 1


def test_chunk_slices_sizes():
    assert len(chunks.chunk_slices(64, 100)) == 1                   # 6.4 kB: one chunk
    assert len(chunks.chunk_slices(64, 30_240)) == 8                # 1.9 MB: at least 8 chunks
    assert len(chunks.chunk_slices(64, 129_024)) == 8               # 8.3 MB: 4 chunks of 2 MB, raised to 8
    assert len(chunks.chunk_slices(32, 2_506_752)) == 32            # 80 MB: one sample (2.5 MB) per chunk
    assert len(chunks.chunk_slices(3, 1 << 22)) == 3                # never more chunks than samples
    with pytest.raises(ValueError, match="n >= 1"):
        chunks.chunk_slices(0, 10)


def test_thread_buffer_is_reused_grown_and_private_to_each_thread():
    a = chunks.thread_buffer("test", (4, 5), np.float32)
    b = chunks.thread_buffer("test", (2, 3), np.float32)
    assert b.shape == (2, 3) and b.dtype == np.float32 and np.shares_memory(a, b)
    c = chunks.thread_buffer("test", (100, 100), np.float64)         # larger: a new block
    assert c.shape == (100, 100) and not np.shares_memory(a, c)
    other = []
    t = threading.Thread(target=lambda: other.append(chunks.thread_buffer("test", (2, 3), np.float32)))
    t.start()
    t.join()
    assert not np.shares_memory(other[0], chunks.thread_buffer("test", (2, 3), np.float32))
