"""Training a NumPy network (:class:`helpers.numpy.network.Sequential`) on image arrays, with no autograd anywhere.

Hand-written backpropagation in a mini-batch loop (the adversarial-examples
lesson attacks the network it trains)::

    x_train, x_test = normalize_mnist(train.x), normalize_mnist(test.x)   # float32 (N, 1, 28, 28)
    net = mnist_cnn(seed=0)
    opt = Adam(net.parameters(), lr=2e-3)
    steps = epochs * steps_per_epoch(len(x_train), 64)
    history = train(net, opt, x_train, train.y, epochs=3, batch_size=64, seed=0,
                    x_val=x_test, y_val=test.y, lr_schedule=cosine_lr(2e-3, steps))
    net.save_weights("mnist_cnn.npz")

:func:`train_mnist_cnn` is that recipe in one call. :func:`train` returns a
:class:`helpers.history.History`, the same record PyTorch's
:func:`helpers.torch.training.fit` returns. :func:`train_augmented` is the same loop
with data augmentation (e.g. :func:`helpers.numpy.augment.random_shift`) applied to every
mini-batch.

Mini-batches: every epoch draws a fresh permutation of the training set from
``numpy.random.default_rng(seed)`` (:func:`epoch_orders`) and cuts it into
consecutive batches of ``batch_size`` (the last one may be smaller). The same
order can be fed to a PyTorch twin of the network, so both see identical batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from helpers.checks import positive_int
from helpers.history import History
from helpers.numpy.losses import softmax_cross_entropy
from helpers.numpy.models import mnist_cnn
from helpers.numpy.optim import Adam
from helpers.numpy.schedules import cosine_lr  # re-exported: the schedule the NumPy recipe uses

__all__ = ["steps_per_epoch", "epoch_orders", "cosine_lr", "evaluate", "History", "train", "train_mnist_cnn",
           "train_augmented"]


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of mini-batches in one pass over ``n`` samples (the last batch may be smaller)."""
    n, batch_size = positive_int(n, "n"), positive_int(batch_size, "batch_size")
    return -(-n // batch_size)


def epoch_orders(n: int, epochs: int, seed: int = 0) -> np.ndarray:
    """The shuffled sample order of every epoch, ``(epochs, n)``: one permutation per epoch from ``seed``.

    :func:`train` uses exactly these orders, so a PyTorch model trained on the
    batches ``order[k : k + batch_size]`` of each row sees the same data in the same order.
    """
    epochs, n = positive_int(epochs, "epochs"), positive_int(n, "n")
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n) for _ in range(epochs)])


def evaluate(network, x, y, batch_size: int = 500) -> tuple[float, float]:
    """Mean softmax cross-entropy loss and accuracy of ``network`` on ``(x, y)``, in inference mode."""
    logits = network.predict(x, batch_size)
    y = np.asarray(y)
    if len(y) != len(logits):
        raise ValueError(f"x has {len(logits)} samples but y has {len(y)} labels")
    loss, _ = softmax_cross_entropy(logits, y)
    return loss, float(np.mean(logits.argmax(axis=1) == y))


def train(network, optimizer, x, y, epochs: int = 1, batch_size: int = 64, seed: int = 0,
          x_val=None, y_val=None, lr_schedule: Callable[[int], float] | None = None,
          progress: bool = True) -> History:
    """Mini-batch training with hand-written backpropagation: forward, loss, backward, optimizer step.

    Parameters
    ----------
    network : :class:`helpers.numpy.network.Sequential` (or anything with ``forward``,
        ``backward``, ``gradients`` and ``predict``) that maps ``x`` to class logits
    optimizer : an optimizer of :mod:`helpers.numpy.optim` built on ``network.parameters()``
    x, y : training inputs ``(N, ...)`` and integer labels ``(N,)``
    epochs, batch_size : passes over the data and samples per step
    seed : seeds the shuffling (:func:`epoch_orders`); the weights are seeded when the network is built
    x_val, y_val : optional validation data, evaluated after every epoch
    lr_schedule : optional ``step -> learning rate`` (e.g. :func:`cosine_lr`), set before every step
    progress : show a ``tqdm`` progress bar with the running loss

    Returns a :class:`helpers.history.History`: per epoch ``train_loss``, ``train_acc``,
    ``val_loss`` and ``val_acc`` (NaN without validation data), ``seconds`` (wall time of
    the epoch; ``total_seconds`` for the whole run) and ``lr`` (at the epoch's first step);
    per step ``step_loss`` (the mini-batch loss) and ``step_lr``. The loss is the mean
    softmax cross-entropy.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or y.ndim != 1:
        raise ValueError(f"x has {len(x)} samples but y has shape {y.shape}; need one label per sample")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    per_epoch = steps_per_epoch(len(x), batch_size)
    orders = epoch_orders(len(x), epochs, seed)
    history = History()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * per_epoch, desc="training", unit="step")
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        losses, correct, epoch_lr = [], 0, None
        for b in range(per_epoch):
            idx = orders[epoch, b * batch_size : (b + 1) * batch_size]
            if lr_schedule is not None:
                optimizer.lr = lr_schedule(step)
            logits = network.forward(x[idx], train=True)
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            network.backward(dlogits, input_grad=False)      # the data needs no gradient
            optimizer.step(network.gradients())
            losses.append(loss)
            correct += int(np.sum(logits.argmax(axis=1) == y[idx]))
            history.add_step(loss, optimizer.lr)
            epoch_lr = optimizer.lr if epoch_lr is None else epoch_lr
            step += 1
            if bar is not None:
                bar.update(1)
                if b % 50 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.3f}")
        val_loss, val_acc = math.nan, math.nan
        if x_val is not None:
            val_loss, val_acc = evaluate(network, x_val, y_val)
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, val_acc=f"{val_acc:.4f}")
        history.add_epoch(np.mean(losses), correct / len(x), val_loss, val_acc, time.perf_counter() - start,
                          epoch_lr)
    if bar is not None:
        bar.close()
    return history


def train_mnist_cnn(x_train, y_train, x_val=None, y_val=None, epochs: int = 3, batch_size: int = 64,
                    lr: float = 2e-3, seed: int = 0, progress: bool = True):
    """The book's NumPy MNIST recipe in one call: ``mnist_cnn(seed)`` trained with Adam and cosine decay.

    Returns ``(net, history)`` (a :class:`helpers.history.History`).

    ``x_train`` are normalized images (:func:`helpers.data.normalize_mnist`). With the
    defaults (3 epochs, batches of 64, ``lr`` 2e-3 decaying to 0, seed 0) on the 60,000
    MNIST training digits this is exactly the network the backpropagation lesson
    trains (over 98% test accuracy), the one the adversarial-examples lesson attacks.
    """
    net = mnist_cnn(seed=seed)
    optimizer = Adam(net.parameters(), lr=lr)
    schedule = cosine_lr(lr, epochs * steps_per_epoch(len(x_train), batch_size))
    history = train(net, optimizer, x_train, y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                    x_val=x_val, y_val=y_val, lr_schedule=schedule, progress=progress)
    return net, history


def train_augmented(network, optimizer, x, y, epochs: int = 1, batch_size: int = 64, seed: int = 0,
                    augment: Callable | None = None, x_val=None, y_val=None,
                    lr_schedule: Callable[[int], float] | None = None, progress: bool = True,
                    eval_batch_size: int = 1000) -> History:
    """:func:`train` with data augmentation: every mini-batch goes through ``augment(xb, rng)`` first.

    The loop, the batch orders (:func:`epoch_orders` of ``seed``), the learning-rate
    schedule and the returned :class:`helpers.history.History` are those of :func:`train`.
    ``augment`` is ``None`` (no augmentation) or a function ``(batch, rng) -> batch`` of the
    same shape, e.g. ``lambda xb, rng: random_shift(xb, 2, rng)`` with
    :func:`helpers.numpy.augment.random_shift`; ``rng`` is one ``numpy.random.Generator``
    seeded from ``seed`` (independent of the shuffling), so a run is reproducible.
    Validation data (if any) are evaluated after every epoch in batches of ``eval_batch_size``
    and are never augmented. ``seconds`` of an epoch include its validation pass.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or y.ndim != 1:
        raise ValueError(f"x has {len(x)} samples but y has shape {y.shape}; need one label per sample")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be None or a function (batch, rng) -> batch; got {augment!r}")
    eval_batch_size = positive_int(eval_batch_size, "eval_batch_size")
    per_epoch = steps_per_epoch(len(x), batch_size)
    orders = epoch_orders(len(x), epochs, seed)
    aug_rng = np.random.default_rng([seed, 1])
    history = History()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * per_epoch, desc="training", unit="step")
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        losses, correct, epoch_lr = [], 0, None
        for b in range(per_epoch):
            idx = orders[epoch, b * batch_size : (b + 1) * batch_size]
            if lr_schedule is not None:
                optimizer.lr = lr_schedule(step)
            xb = x[idx]
            if augment is not None:
                xb = augment(xb, aug_rng)
                if np.shape(xb) != (len(idx), *x.shape[1:]):
                    raise ValueError(f"augment must keep the batch shape {(len(idx), *x.shape[1:])}; "
                                     f"got {np.shape(xb)}")
            logits = network.forward(xb, train=True)
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            network.backward(dlogits, input_grad=False)      # the data needs no gradient
            optimizer.step(network.gradients())
            losses.append(loss)
            correct += int(np.sum(logits.argmax(axis=1) == y[idx]))
            history.add_step(loss, optimizer.lr)
            epoch_lr = optimizer.lr if epoch_lr is None else epoch_lr
            step += 1
            if bar is not None:
                bar.update(1)
                if b % 50 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.3f}")
        val_loss, val_acc = math.nan, math.nan
        if x_val is not None:
            val_loss, val_acc = evaluate(network, x_val, y_val, eval_batch_size)
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, val_acc=f"{val_acc:.4f}")
        history.add_epoch(np.mean(losses), correct / len(x), val_loss, val_acc, time.perf_counter() - start,
                          epoch_lr)
    if bar is not None:
        bar.close()
    return history
