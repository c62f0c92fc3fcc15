"""A wider NumPy MNIST CNN with a hidden dense layer, the network that gets the NumPy engine past 99% on MNIST.

It extends :func:`helpers.numpy.models.mnist_cnn` (two conv-ReLU-pool stages) with more
channels and a hidden ReLU layer before the classifier; ``scripts/train_mnist_numpy.py``
trains it with shift augmentation (:mod:`helpers.numpy.augment`).
"""

from __future__ import annotations

import numpy as np

from helpers.checks import as_generator, integer, positive_int
from helpers.numpy import layers as L
from helpers.numpy.network import Sequential

__all__ = ["mnist_cnn_wide"]


def mnist_cnn_wide(seed=0, dtype=np.float32, channels=(16, 32), hidden: int = 128, classes: int = 10,
                   image_size: int = 28) -> Sequential:
    """``Conv(1->c1, 3x3, pad 1) - ReLU - MaxPool 2 - Conv(c1->c2, 3x3, pad 1) - ReLU - MaxPool 2 - Flatten -
    Dense(c2*7*7 -> hidden) - ReLU - Dense(hidden -> classes)``, He-initialized from ``seed``.

    With the defaults (16 and 32 channels, 128 hidden units) it has 206,922 parameters for
    28x28 inputs. ``hidden=0`` drops the hidden layer (then it is ``mnist_cnn`` with other
    widths). ``seed`` is an int or a NumPy ``Generator``; the same seed gives the same weights.
    """
    if not (isinstance(channels, (tuple, list)) and len(channels) == 2):
        raise ValueError(f"channels must be a pair (first conv, second conv); got {channels!r}")
    c1, c2 = (positive_int(c, "channels") for c in channels)
    hidden = integer(hidden, "hidden", minimum=0)
    classes = positive_int(classes, "classes")
    image_size = integer(image_size, "image_size", minimum=4)
    side = image_size // 2 // 2
    rng = as_generator(seed)
    layers = [
        L.Conv2D(1, c1, 3, padding=1, rng=rng, dtype=dtype),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Conv2D(c1, c2, 3, padding=1, rng=rng, dtype=dtype),
        L.ReLU(),
        L.MaxPool2D(2),
        L.Flatten(),
    ]
    if hidden:
        layers += [L.Dense(c2 * side * side, hidden, rng=rng, dtype=dtype), L.ReLU(),
                   L.Dense(hidden, classes, rng=rng, dtype=dtype)]
    else:
        layers.append(L.Dense(c2 * side * side, classes, rng=rng, dtype=dtype))
    return Sequential(layers)
