"""Data parallelism simulated in NumPy: shards, an averaging all-reduce, gradient accumulation, synced BN statistics.

K simulated workers each hold a copy of the same :class:`helpers.numpy.network.Sequential`
network and one shard of the batch. Each computes the gradient of its own mean loss; the
all-reduce averages those gradients, weighted by shard size, so the result is exactly the
gradient of the mean loss over the whole batch. Gradient accumulation is the same identity on
one worker, with the shards processed one after the other.

Batch normalization is the exception: its statistics are computed per worker. The
synchronized version (what ``torch.nn.SyncBatchNorm`` does) all-reduces the per-worker
count, sum and sum of squares; :func:`sync_batchnorm_stats` does that. Also here: the
communication volume of a ring all-reduce and the linear-scaling rule with warm-up.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import number, positive_int
from helpers.numpy.losses import softmax_cross_entropy

__all__ = [
    "shard_indices",
    "allreduce_mean",
    "worker_gradients",
    "data_parallel_gradients",
    "accumulated_gradients",
    "per_worker_batchnorm_stats",
    "sync_batchnorm_stats",
    "ring_allreduce_bytes",
    "linear_scaled_lr",
]


def shard_indices(n: int, workers: int, interleave: bool = False) -> list[np.ndarray]:
    """Split ``range(n)`` into ``workers`` shards whose sizes differ by at most one.

    ``interleave=False`` gives contiguous blocks (as ``np.array_split``); ``interleave=True``
    gives ``[r, r + K, r + 2K, ...]`` for worker ``r``, the order of ``DistributedSampler``
    without shuffling (which instead pads the data set to a multiple of K).
    """
    n = positive_int(n, "n")
    workers = positive_int(workers, "workers")
    if workers > n:
        raise ValueError(f"workers must be at most the number of samples n={n}; got {workers}")
    idx = np.arange(n)
    if interleave:
        return [idx[r::workers] for r in range(workers)]
    return np.array_split(idx, workers)


def allreduce_mean(values, weights=None) -> list[np.ndarray]:
    """The all-reduce of data parallelism: the (weighted) mean over workers of each gradient array.

    ``values`` is a list with one entry per worker, each a list of arrays in the same order
    and shapes (e.g. from :func:`worker_gradients`). ``weights`` (one non-negative number per
    worker, e.g. shard sizes) default to equal weights. Returns one list of averaged arrays.
    """
    values = list(values)
    if not values:
        raise ValueError("allreduce_mean needs the gradients of at least one worker")
    first = [np.asarray(a) for a in values[0]]
    for r, v in enumerate(values):
        v = list(v)
        if len(v) != len(first):
            raise ValueError(f"worker {r} has {len(v)} arrays but worker 0 has {len(first)}")
        for j, (a, b) in enumerate(zip(v, first, strict=True)):
            if np.shape(a) != b.shape:
                raise ValueError(f"worker {r}, array {j} has shape {np.shape(a)} but worker 0's has {b.shape}")
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(values),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(values)} non-negative finite numbers with a positive sum; "
                         f"got {weights!r}")
    w = w / w.sum()
    out = []
    for j, ref in enumerate(first):
        acc = sum(wr * np.asarray(v[j], dtype=np.float64) for wr, v in zip(w, values, strict=True))
        out.append(acc.astype(ref.dtype if np.issubdtype(ref.dtype, np.floating) else np.float64))
    return out


def _check_batch(x, y):
    x = np.asarray(x)
    y = np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"x and y must be non-empty with one label per sample; got {len(x)} samples, {len(y)} labels")
    return x, y


def worker_gradients(network, x, y, loss=softmax_cross_entropy) -> tuple[float, list[np.ndarray]]:
    """One worker's forward and backward pass on its shard: ``(mean loss, copies of the parameter gradients)``."""
    x, y = _check_batch(x, y)
    value, dout = loss(network.forward(x, train=True), y)
    network.backward(dout)
    return value, [g.copy() for _, _, g in network.gradients()]


def data_parallel_gradients(network, x, y, workers: int, loss=softmax_cross_entropy, weighted: bool = True,
                            interleave: bool = False) -> tuple[float, list[np.ndarray]]:
    """Simulated data parallelism: split the batch over ``workers``, compute, all-reduce.

    Every worker uses the same weights (the same ``network``, run once per shard). With
    ``weighted=True`` the all-reduce weights each worker by its shard size, which gives the
    full-batch mean-loss gradient for any split; ``weighted=False`` is the plain average of
    DDP, exact only when the shards are equally large. Returns ``(mean loss, gradients)``.
    """
    x, y = _check_batch(x, y)
    shards = shard_indices(len(x), workers, interleave=interleave)
    results = [worker_gradients(network, x[s], y[s], loss) for s in shards]
    sizes = [len(s) for s in shards] if weighted else None
    losses = np.array([r[0] for r in results])
    mean_loss = float(np.average(losses, weights=sizes))
    return mean_loss, allreduce_mean([r[1] for r in results], sizes)


def accumulated_gradients(network, x, y, micro_batches: int, loss=softmax_cross_entropy
                          ) -> tuple[float, list[np.ndarray]]:
    """Gradient accumulation on one worker: ``micro_batches`` forward/backward passes, gradients summed.

    Each micro-batch's loss is scaled by its share of the batch (``len(micro) / len(x)``, which
    is ``1 / micro_batches`` for equal sizes) before its gradients are added, exactly as one
    divides the loss by the number of accumulation steps in PyTorch. Returns ``(mean loss, gradients)``.
    """
    x, y = _check_batch(x, y)
    total_loss, acc = 0.0, None
    for s in shard_indices(len(x), micro_batches):
        share = len(s) / len(x)
        value, grads = worker_gradients(network, x[s], y[s], loss)
        total_loss += share * value
        scaled = [share * g for g in grads]
        acc = scaled if acc is None else [a + g for a, g in zip(acc, scaled, strict=True)]
    return total_loss, acc


def per_worker_batchnorm_stats(x, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel batch-norm mean and (biased) variance each worker computes on its own shard.

    ``x`` is (N, C) or (N, C, H, W); returns two arrays of shape (workers, C): what plain
    ``BatchNorm`` normalizes with under data parallelism.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim not in (2, 4):
        raise ValueError(f"x must be (N, C) or (N, C, H, W); got shape {x.shape}")
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shards = shard_indices(len(x), workers)
    means = np.stack([x[s].mean(axis=axes) for s in shards])
    variances = np.stack([x[s].var(axis=axes) for s in shards])
    return means, variances


def sync_batchnorm_stats(shards) -> tuple[np.ndarray, np.ndarray]:
    """Synchronized batch-norm statistics: all-reduce count, sum and sum of squares over the workers' shards.

    ``shards`` is a list of arrays (one per worker), each (n_r, C) or (n_r, C, H, W) with the
    same C. Returns the per-channel mean and biased variance of the concatenated batch,
    computed only from the three per-worker totals (what ``torch.nn.SyncBatchNorm`` exchanges).
    """
    shards = [np.asarray(s, dtype=np.float64) for s in shards]
    if not shards:
        raise ValueError("sync_batchnorm_stats needs at least one shard")
    nd, c = shards[0].ndim, shards[0].shape[1] if shards[0].ndim >= 2 else None
    for r, s in enumerate(shards):
        if s.ndim not in (2, 4) or s.ndim != nd or s.shape[1] != c or len(s) == 0:
            raise ValueError(f"every shard must be a non-empty (n, C) or (n, C, H, W) array with the same C; "
                             f"shard {r} has shape {s.shape}")
    axes = (0,) if nd == 2 else (0, 2, 3)
    count = sum(s.size // c for s in shards)
    total = sum(s.sum(axis=axes) for s in shards)
    total_sq = sum((s * s).sum(axis=axes) for s in shards)
    mean = total / count
    return mean, total_sq / count - mean * mean


def ring_allreduce_bytes(parameters: int, workers: int, bytes_per_value: int = 4) -> float:
    """Bytes each worker sends (and receives) in one ring all-reduce: ``2 (K - 1) / K * parameters * bytes``.

    Reduce-scatter and all-gather each take ``K - 1`` steps of ``1 / K`` of the data, so the
    volume per worker is almost independent of K: at most twice the model size.
    """
    parameters = positive_int(parameters, "parameters")
    workers = positive_int(workers, "workers")
    bytes_per_value = positive_int(bytes_per_value, "bytes_per_value")
    return 2 * (workers - 1) / workers * parameters * bytes_per_value


def linear_scaled_lr(base_lr: float, base_batch: int, batch: int, step: int | None = None,
                     warmup_steps: int = 0) -> float:
    """The linear-scaling rule with linear warm-up (Goyal et al., 2017).

    The learning rate ``base_lr`` tuned for ``base_batch`` becomes ``base_lr * batch / base_batch``;
    during the first ``warmup_steps`` steps (when ``step`` is given) it rises linearly from
    ``base_lr`` to that value.
    """
    base_lr = number(base_lr, "base_lr", low=0, low_open=True)
    base_batch = positive_int(base_batch, "base_batch")
    batch = positive_int(batch, "batch")
    warmup_steps = int(number(warmup_steps, "warmup_steps", low=0))
    target = base_lr * batch / base_batch
    if step is None or warmup_steps == 0 or step >= warmup_steps:
        return target
    step = int(number(step, "step", low=0))
    return base_lr + (target - base_lr) * step / warmup_steps
