"""Ready-made NumPy networks: the small MNIST CNN trained from scratch with no autograd.

Its PyTorch sibling is :func:`helpers.torch.models.mnist_classifier`.
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator
from helpers.numpy import layers as L
from helpers.numpy.network import Sequential

__all__ = ["mnist_cnn"]


def mnist_cnn(seed=0, dtype=np.float32, channels=(8, 16), classes=10) -> Sequential:
    """The book's small MNIST CNN (two conv-ReLU-pool stages and a dense classifier), He-initialized from ``seed``.

    ``Conv(1->8, 3x3, pad 1) - ReLU - MaxPool 2 - Conv(8->16, 3x3, pad 1) - ReLU -
    MaxPool 2 - Flatten - Dense(16*7*7 -> 10)``: 9,098 parameters for 28x28 inputs.
    ``seed`` is an int or a NumPy ``Generator``; the same seed gives the same weights.
    """
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise ValueError(f"channels must be a pair (first conv, second conv); got {channels!r}")
    c1, c2 = channels
    rng = as_generator(seed)
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
