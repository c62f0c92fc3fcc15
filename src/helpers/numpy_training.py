"""Training a NumPy network (:class:`helpers.network.Sequential`) on image arrays, with no autograd anywhere.

The pieces Lesson 3 builds and later lessons reuse (Lesson 7 attacks this network)::

    x_train, x_test = normalize_mnist(train.x), normalize_mnist(test.x)   # float32 (N, 1, 28, 28)
    net = mnist_cnn(seed=0)
    opt = Adam(net.parameters(), lr=2e-3)
    steps = epochs * steps_per_epoch(len(x_train), 64)
    history = train(net, opt, x_train, train.y, epochs=3, batch_size=64, seed=0,
                    x_val=x_test, y_val=test.y, lr_schedule=cosine_lr(2e-3, steps))
    net.save_weights("mnist_cnn.npz")

:func:`train_mnist_cnn` is that recipe in one call (Lesson 3's settings are its defaults).

Mini-batches: every epoch draws a fresh permutation of the training set from
``numpy.random.default_rng(seed)`` (:func:`epoch_orders`) and cuts it into
consecutive batches of ``batch_size`` (the last one may be smaller). The same
order can be fed to a PyTorch twin of the network, so both see identical batches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from helpers import layers as L
from helpers.losses import softmax_cross_entropy
from helpers.network import Sequential
from helpers.optim import Adam

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "normalize_mnist",
    "mnist_cnn",
    "steps_per_epoch",
    "epoch_orders",
    "cosine_lr",
    "evaluate",
    "TrainHistory",
    "train",
    "train_mnist_cnn",
]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the 60,000 training pixels scaled to [0, 1]


def normalize_mnist(images) -> np.ndarray:
    """uint8 digits ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)`` with ``(x / 255 - 0.1307) / 0.3081``.

    The mean and standard deviation are those of the MNIST *training* pixels, so the
    training images end up with mean 0 and standard deviation 1 (the test images
    are normalized with the same two numbers).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 digits of shape (N, H, W); got {images.dtype} {images.shape}")
    x = images.astype(np.float32) / np.float32(255)
    x -= np.float32(MNIST_MEAN)
    x /= np.float32(MNIST_STD)
    return x[:, None]


def mnist_cnn(seed=0, dtype=np.float32, channels=(8, 16), classes=10) -> Sequential:
    """The book's small MNIST CNN (Lesson 3), with He-initialized weights drawn from ``seed``.

    ``Conv(1->8, 3x3, pad 1) - ReLU - MaxPool 2 - Conv(8->16, 3x3, pad 1) - ReLU -
    MaxPool 2 - Flatten - Dense(16*7*7 -> 10)``: 9,098 parameters for 28x28 inputs.
    ``seed`` is an int or a NumPy ``Generator``; the same seed gives the same weights.
    """
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise ValueError(f"channels must be a pair (first conv, second conv); got {channels!r}")
    c1, c2 = channels
    rng = L._generator(seed)
    return Sequential([
        L.Conv2D(1, c1, 3, padding=1, rng=rng, dtype=dtype),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Conv2D(c1, c2, 3, padding=1, rng=rng, dtype=dtype),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Flatten(),
        L.Dense(c2 * 7 * 7, classes, rng=rng, dtype=dtype),
    ])


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of mini-batches in one pass over ``n`` samples (the last batch may be smaller)."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    return -(-int(n) // int(batch_size))


def epoch_orders(n: int, epochs: int, seed: int = 0) -> np.ndarray:
    """The shuffled sample order of every epoch, ``(epochs, n)``: one permutation per epoch from ``seed``.

    :func:`train` uses exactly these orders, so a PyTorch model trained on the
    batches ``order[k : k + batch_size]`` of each row sees the same data in the same order.
    """
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    steps_per_epoch(n, 1)  # validates n
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(int(n)) for _ in range(int(epochs))])


def cosine_lr(base_lr: float, total_steps: int, final_lr: float = 0.0) -> Callable[[int], float]:
    """Cosine learning-rate decay: ``step -> final + (base - final) * (1 + cos(pi * step / total)) / 2``.

    Starts at ``base_lr`` for step 0 and reaches ``final_lr`` after ``total_steps``
    (as ``torch.optim.lr_scheduler.CosineAnnealingLR`` with ``T_max=total_steps``).
    """
    if not base_lr > 0 or final_lr < 0:
        raise ValueError(f"need base_lr > 0 and final_lr >= 0; got {base_lr!r}, {final_lr!r}")
    if not isinstance(total_steps, (int, np.integer)) or total_steps < 1:
        raise ValueError(f"total_steps must be an int >= 1, got {total_steps!r}")

    def schedule(step: int) -> float:
        t = min(max(step, 0), total_steps) / total_steps
        return final_lr + (base_lr - final_lr) * 0.5 * (1 + math.cos(math.pi * t))

    return schedule


def evaluate(network, x, y, batch_size: int = 500) -> tuple[float, float]:
    """Mean softmax cross-entropy loss and accuracy of ``network`` on ``(x, y)``, in inference mode."""
    logits = network.predict(x, batch_size)
    y = np.asarray(y)
    if len(y) != len(logits):
        raise ValueError(f"x has {len(logits)} samples but y has {len(y)} labels")
    loss, _ = softmax_cross_entropy(logits, y)
    return loss, float(np.mean(logits.argmax(axis=1) == y))


@dataclass
class TrainHistory:
    """What :func:`train` measured.

    Per epoch: ``train_loss`` and ``train_acc`` (averaged over the epoch's
    mini-batches, as the weights changed) and, with validation data, ``val_loss``
    and ``val_acc`` (at the end of the epoch). Per step: ``step_loss`` (the
    mini-batch loss) and ``lr``. ``seconds``: wall-clock time of the whole run.
    """

    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    step_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: float = 0.0

    def curves(self) -> dict[str, list]:
        """The per-epoch series that exist, for :func:`helpers.plots.plot_curves`."""
        names = ("train_loss", "val_loss", "train_acc", "val_acc")
        return {n.replace("_", " "): getattr(self, n) for n in names if getattr(self, n)}


def train(network, optimizer, x, y, epochs: int = 1, batch_size: int = 64, seed: int = 0,
          x_val=None, y_val=None, lr_schedule: Callable[[int], float] | None = None,
          progress: bool = True) -> TrainHistory:
    """Mini-batch training with hand-written backpropagation: forward, loss, backward, optimizer step.

    Parameters
    ----------
    network : :class:`helpers.network.Sequential` (or anything with ``forward``,
        ``backward``, ``gradients`` and ``predict``) that maps ``x`` to class logits
    optimizer : an optimizer of :mod:`helpers.optim` built on ``network.parameters()``
    x, y : training inputs ``(N, ...)`` and integer labels ``(N,)``
    epochs, batch_size : passes over the data and samples per step
    seed : seeds the shuffling (:func:`epoch_orders`); the weights are seeded when the network is built
    x_val, y_val : optional validation data, evaluated after every epoch
    lr_schedule : optional ``step -> learning rate`` (e.g. :func:`cosine_lr`), set before every step
    progress : show a ``tqdm`` progress bar with the running loss

    Returns a :class:`TrainHistory`. The loss is the mean softmax cross-entropy.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or y.ndim != 1:
        raise ValueError(f"x has {len(x)} samples but y has shape {y.shape}; need one label per sample")
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    per_epoch = steps_per_epoch(len(x), batch_size)
    orders = epoch_orders(len(x), epochs, seed)
    history = TrainHistory()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * per_epoch, desc="training", unit="step")
    start = time.perf_counter()
    step = 0
    for epoch in range(epochs):
        losses, correct = [], 0
        for b in range(per_epoch):
            idx = orders[epoch, b * batch_size : (b + 1) * batch_size]
            if lr_schedule is not None:
                optimizer.lr = lr_schedule(step)
            logits = network.forward(x[idx], train=True)
            loss, dlogits = softmax_cross_entropy(logits, y[idx])
            network.backward(dlogits)
            optimizer.step(network.gradients())
            losses.append(loss)
            correct += int(np.sum(logits.argmax(axis=1) == y[idx]))
            history.step_loss.append(loss)
            history.lr.append(float(optimizer.lr))
            step += 1
            if bar is not None:
                bar.update(1)
                if b % 50 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-50:]):.3f}")
        history.train_loss.append(float(np.mean(losses)))
        history.train_acc.append(correct / len(x))
        if x_val is not None:
            val_loss, val_acc = evaluate(network, x_val, y_val)
            history.val_loss.append(val_loss)
            history.val_acc.append(val_acc)
            if bar is not None:
                bar.set_postfix(epoch=epoch + 1, val_acc=f"{val_acc:.4f}")
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - start
    return history


def train_mnist_cnn(x_train, y_train, x_val=None, y_val=None, epochs: int = 3, batch_size: int = 64,
                    lr: float = 2e-3, seed: int = 0, progress: bool = True):
    """Lesson 3's recipe in one call: ``mnist_cnn(seed)`` trained with Adam and cosine decay.

    Returns ``(net, history)`` (a :class:`TrainHistory`).

    ``x_train`` are normalized images (:func:`normalize_mnist`). With the defaults
    (3 epochs, batches of 64, ``lr`` 2e-3 decaying to 0, seed 0) on the 60,000
    MNIST training digits this is exactly the network Lesson 3 trains (over 98%
    test accuracy); Lesson 7 reuses it.
    """
    net = mnist_cnn(seed=seed)
    optimizer = Adam(net.parameters(), lr=lr)
    schedule = cosine_lr(lr, epochs * steps_per_epoch(len(x_train), batch_size))
    history = train(net, optimizer, x_train, y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                    x_val=x_val, y_val=y_val, lr_schedule=schedule, progress=progress)
    return net, history
