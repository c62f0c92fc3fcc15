"""Simulated data parallelism in NumPy against PyTorch autograd, torch's samplers, schedulers and batch norm."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DistributedSampler

from helpers.numpy.data_parallel import (
    accumulated_gradients,
    allreduce_mean,
    data_parallel_gradients,
    linear_scaled_lr,
    per_worker_batchnorm_stats,
    ring_allreduce_bytes,
    shard_indices,
    sync_batchnorm_stats,
    worker_gradients,
)
from helpers.numpy.models import mnist_cnn
from helpers.numpy.network import to_torch


def _batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 28, 28)), rng.integers(0, 10, n)


def _torch_full_gradients(net, x, y):
    model = to_torch(net)
    F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    return [getattr(model[i], {"w": "weight", "b": "bias"}[n]).grad.numpy() for i, n, _ in net.parameters()]


def _max_rel(gs, ref):
    return max(np.abs(a - b).max() / np.abs(b).max() for a, b in zip(gs, ref, strict=True))


@pytest.mark.parametrize("n,k", [(12, 3), (13, 5), (7, 7), (5, 1)])
def test_shard_indices_cover_the_batch_and_interleave_like_distributed_sampler(n, k):
    for interleave in (False, True):
        shards = shard_indices(n, k, interleave=interleave)
        assert len(shards) == k
        assert sorted(np.concatenate(shards).tolist()) == list(range(n))
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1
    if n % k == 0:
        for r, s in enumerate(shard_indices(n, k, interleave=True)):
            assert s.tolist() == list(DistributedSampler(range(n), num_replicas=k, rank=r, shuffle=False))
    assert [s.tolist() for s in shard_indices(n, k)] == [s.tolist() for s in np.array_split(np.arange(n), k)]


def test_shard_indices_errors():
    with pytest.raises(ValueError, match="at most the number of samples"):
        shard_indices(3, 4)
    with pytest.raises(ValueError, match="workers"):
        shard_indices(3, 0)


def test_allreduce_mean_is_the_weighted_average():
    rng = np.random.default_rng(1)
    values = [[rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5)] for _ in range(4)]
    out = allreduce_mean(values)
    for j in range(2):
        np.testing.assert_allclose(out[j], np.mean([v[j] for v in values], axis=0), rtol=1e-6, atol=1e-7)
    assert out[0].dtype == np.float32
    w = [1, 2, 0, 5]
    out = allreduce_mean(values, w)
    np.testing.assert_allclose(out[1], np.average([v[1] for v in values], axis=0, weights=w), rtol=1e-12)


def test_allreduce_mean_errors():
    with pytest.raises(ValueError, match="at least one worker"):
        allreduce_mean([])
    with pytest.raises(ValueError, match="shape"):
        allreduce_mean([[np.zeros(3)], [np.zeros(4)]])
    with pytest.raises(ValueError, match="arrays but worker 0"):
        allreduce_mean([[np.zeros(3)], [np.zeros(3), np.zeros(1)]])
    with pytest.raises(ValueError, match="weights"):
        allreduce_mean([[np.zeros(3)], [np.zeros(3)]], [1, -1])
    with pytest.raises(ValueError, match="weights"):
        allreduce_mean([[np.zeros(3)], [np.zeros(3)]], [0, 0])


@pytest.mark.parametrize("n,k", [(12, 4), (13, 5), (6, 6)])
def test_data_parallel_gradients_equal_autograd_on_the_full_batch(n, k):
    net = mnist_cnn(seed=2, dtype=np.float64)
    x, y = _batch(n, seed=n)
    ref = _torch_full_gradients(net, x, y)
    loss, grads = data_parallel_gradients(net, x, y, workers=k)
    assert _max_rel(grads, ref) < 1e-10
    assert loss == pytest.approx(worker_gradients(net, x, y)[0], rel=1e-12)
    _, inter = data_parallel_gradients(net, x, y, workers=k, interleave=True)
    assert _max_rel(inter, ref) < 1e-10
    _, plain = data_parallel_gradients(net, x, y, workers=k, weighted=False)
    if n % k == 0:
        assert _max_rel(plain, ref) < 1e-10
    else:
        assert _max_rel(plain, ref) > 1e-4  # the plain mean of unequal shards is not the full-batch gradient


@pytest.mark.parametrize("m", [1, 3, 10])
def test_accumulated_gradients_equal_autograd(m):
    net = mnist_cnn(seed=3, dtype=np.float64)
    x, y = _batch(10, seed=m)
    loss, grads = accumulated_gradients(net, x, y, micro_batches=m)
    assert _max_rel(grads, _torch_full_gradients(net, x, y)) < 1e-10
    model = to_torch(net)
    assert loss == pytest.approx(F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).item(), rel=1e-10)


def test_batch_errors():
    net = mnist_cnn(seed=0)
    with pytest.raises(ValueError, match="one label per sample"):
        data_parallel_gradients(net, np.zeros((4, 1, 28, 28), np.float32), np.zeros(3, int), 2)
    with pytest.raises(ValueError, match="one label per sample"):
        accumulated_gradients(net, np.zeros((0, 1, 28, 28), np.float32), np.zeros(0, int), 2)


def test_per_worker_batchnorm_stats_match_torch_on_each_shard():
    x = np.random.default_rng(4).standard_normal((10, 3, 5, 5)) * 2 + 1
    means, variances = per_worker_batchnorm_stats(x, 3)
    for r, s in enumerate(np.array_split(np.arange(10), 3)):
        v, m = torch.var_mean(torch.from_numpy(x[s]), dim=(0, 2, 3), unbiased=False)
        np.testing.assert_allclose(means[r], m.numpy(), rtol=1e-12)
        np.testing.assert_allclose(variances[r], v.numpy(), rtol=1e-12)
    m2, _ = per_worker_batchnorm_stats(x[:, :, 0, 0], 2)
    assert m2.shape == (2, 3)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, H, W\)"):
        per_worker_batchnorm_stats(np.zeros((4, 3, 2)), 2)


@pytest.mark.parametrize("sizes", [(4, 4), (1, 7, 2), (1, 1, 1, 1)])
def test_sync_batchnorm_stats_equal_full_batch_batch_norm(sizes):
    rng = np.random.default_rng(sum(sizes))
    shards = [rng.standard_normal((n, 3, 4, 4)) * 3 + 2 for n in sizes]
    full = np.concatenate(shards)
    mu, var = sync_batchnorm_stats(shards)
    v, m = torch.var_mean(torch.from_numpy(full), dim=(0, 2, 3), unbiased=False)
    np.testing.assert_allclose(mu, m.numpy(), rtol=1e-10)
    np.testing.assert_allclose(var, v.numpy(), rtol=1e-9)
    normed = (full - mu[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    ref = F.batch_norm(torch.from_numpy(full), None, None, training=True, eps=1e-5).numpy()
    np.testing.assert_allclose(normed, ref, atol=1e-9)
    mu2, var2 = sync_batchnorm_stats([s[:, :, 0, 0] for s in shards])
    np.testing.assert_allclose(mu2, np.concatenate([s[:, :, 0, 0] for s in shards]).mean(0), rtol=1e-10)


def test_sync_batchnorm_stats_errors():
    with pytest.raises(ValueError, match="at least one shard"):
        sync_batchnorm_stats([])
    with pytest.raises(ValueError, match="same C"):
        sync_batchnorm_stats([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="non-empty"):
        sync_batchnorm_stats([np.zeros((0, 3))])


def _ring_allreduce(arrays):
    """A step-by-step ring all-reduce (reduce-scatter, then all-gather); returns the results and values sent."""
    k = len(arrays)
    chunks = [np.array_split(a.astype(np.float64).copy(), k) for a in arrays]
    sent = [0] * k
    for step in range(k - 1):  # reduce-scatter: worker r sends chunk (r - step) to worker r + 1
        msgs = [(r, (r - step) % k, chunks[r][(r - step) % k].copy()) for r in range(k)]
        for r, c, data in msgs:
            chunks[(r + 1) % k][c] += data
            sent[r] += data.size
    for step in range(k - 1):  # all-gather: worker r sends its complete chunk (r + 1 - step) to worker r + 1
        msgs = [(r, (r + 1 - step) % k, chunks[r][(r + 1 - step) % k].copy()) for r in range(k)]
        for r, c, data in msgs:
            chunks[(r + 1) % k][c] = data
            sent[r] += data.size
    return [np.concatenate(c) for c in chunks], sent


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_ring_allreduce_bytes_matches_a_simulated_ring(k):
    rng = np.random.default_rng(k)
    arrays = [rng.standard_normal(64) for _ in range(k)]
    results, sent = _ring_allreduce(arrays)
    for res in results:
        np.testing.assert_allclose(res, np.sum(arrays, axis=0), rtol=1e-12)
    assert np.mean(sent) * 4 == pytest.approx(ring_allreduce_bytes(64, k, 4))  # uneven chunks: on average
    assert ring_allreduce_bytes(64, 1) == 0
    with pytest.raises(ValueError, match="workers"):
        ring_allreduce_bytes(64, 0)


def test_linear_scaled_lr_matches_torch_linear_warmup():
    base, k, warmup = 0.1, 8, 20
    target = linear_scaled_lr(base, 128, 128 * k)
    assert target == pytest.approx(0.8)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=target)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / k, total_iters=warmup)
    for step in range(warmup + 5):
        assert linear_scaled_lr(base, 128, 128 * k, step=step, warmup_steps=warmup) == pytest.approx(
            opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()
    assert linear_scaled_lr(0.1, 256, 64) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="base_lr"):
        linear_scaled_lr(0, 128, 256)
    with pytest.raises(ValueError, match="batch"):
        linear_scaled_lr(0.1, 128, 0)
