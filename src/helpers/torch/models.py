"""Small PyTorch models the lessons share: input normalization as a layer, and the MNIST CNN family.

:func:`mnist_classifier` is the PyTorch twin of :func:`helpers.numpy.models.mnist_cnn`'s
idea (two conv-ReLU-pool stages and a classifier), sized by ``width`` and
``hidden``; ``scripts/train_mnist_robust.py`` trains it and
:func:`load_mnist_classifier` loads the committed checkpoints. It takes pixels in
``[0, 1]``; put :class:`Normalize` in front when a network expects normalized input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from helpers.checks import integer, positive_int

__all__ = ["Normalize", "mnist_classifier", "cifar_cnn", "cifar_dropout_cnn", "load_mnist_classifier",
           "mnist_normalizer", "DEEP_MLP_ACTIVATIONS", "deep_mlp"]



class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, as a layer: put it in front of a network trained on normalized inputs.

    The constants are kept in float64 and cast to the input's dtype, so a float64 model normalizes exactly
    as NumPy does with the same Python floats (float32 constants would round them first), and a float32
    model exactly as before.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.float64).reshape(1, -1, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float64).reshape(1, -1, 1, 1)
        if mean_t.numel() != std_t.numel() or mean_t.numel() < 1:
            raise ValueError(f"mean and std need the same number (>= 1) of channels; got {mean!r}, {std!r}")
        if not bool(torch.all(std_t > 0)):
            raise ValueError(f"every std must be > 0; got {std!r}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


_DOWNSAMPLE = ("max", "avg", "strided")


def mnist_classifier(width: int = 16, hidden: int = 128, activation=nn.ReLU, downsample: str = "max") -> nn.Sequential:
    """The book's small MNIST CNN family; it takes images of shape (N, 1, 28, 28).

    ``Conv(1->w, 3x3) - act - down - Conv(w->2w, 3x3) - act - down - Flatten -
    [Dense(2w*7*7 -> hidden) - act] - Dense(-> 10)``, where ``down`` halves the map
    with a 2x2 max pool (``"max"``), a 2x2 average pool (``"avg"``) or a 3x3
    convolution with stride 2 (``"strided"``), and ``hidden=0`` leaves out the hidden
    dense layer. ``activation`` is a module class (``nn.ReLU``, ``nn.Tanh``,
    ``nn.Identity`` for none). The defaults are the network of
    ``scripts/train_mnist_robust.py``, trained on pixels in ``[0, 1]``. Layers are
    created in order, so a seeded ``torch.manual_seed`` gives the same weights for
    the same arguments.
    """
    width = positive_int(width, "width")
    hidden = integer(hidden, "hidden", minimum=0)
    if downsample not in _DOWNSAMPLE:
        raise ValueError(f"downsample must be one of {_DOWNSAMPLE}; got {downsample!r}")
    if not (isinstance(activation, type) and issubclass(activation, nn.Module)):
        raise ValueError(f"activation must be a torch.nn.Module class such as nn.ReLU; got {activation!r}")

    def down(channels):
        if downsample == "max":
            return nn.MaxPool2d(2)
        if downsample == "avg":
            return nn.AvgPool2d(2)
        return nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)

    layers = [nn.Conv2d(1, width, 3, padding=1), activation(), down(width),
              nn.Conv2d(width, 2 * width, 3, padding=1), activation(), down(2 * width), nn.Flatten()]
    if hidden:
        layers += [nn.Linear(2 * width * 7 * 7, hidden), activation(), nn.Linear(hidden, 10)]
    else:
        layers.append(nn.Linear(2 * width * 7 * 7, 10))
    return nn.Sequential(*layers)


def load_mnist_classifier(name: str):
    """A committed :func:`mnist_classifier` checkpoint (e.g. ``"mnist_cnn_standard"``), in eval mode, and its log.

    Returns ``(model, log)``; the weights are loaded strictly, so every name and
    shape must match today's model. See :func:`helpers.torch.checkpoints.load_checkpoint`.
    """
    from helpers.torch.checkpoints import load_checkpoint

    state, log = load_checkpoint(name)
    model = mnist_classifier(width=log["model"]["width"], hidden=log["model"]["hidden"])
    model.load_state_dict(state)
    return model.eval(), log


def mnist_normalizer() -> Normalize:
    """:class:`Normalize` with the MNIST training-pixel mean and std (:data:`helpers.data.MNIST_MEAN`, ``_STD``)."""
    from helpers.data import MNIST_MEAN, MNIST_STD

    return Normalize([MNIST_MEAN], [MNIST_STD])


def cifar_cnn(width: int = 32, dropout: float = 0.0, n_classes: int = 10) -> nn.Sequential:
    """The book's first CIFAR-10 CNN: three conv-ReLU-maxpool stages and one dense layer; takes (N, 3, 32, 32).

    ``Conv(3->w) - ReLU - MaxPool - Conv(w->2w) - ReLU - MaxPool - Conv(2w->4w) - ReLU - MaxPool -
    Flatten - [Dropout(p)] - Dense(4w*4*4 -> n_classes)``, all convolutions 3x3 with padding 1.
    ``dropout`` > 0 inserts dropout before the dense layer (nothing is inserted for 0, so the same seed
    gives the same weights with and without it).
    """
    width = positive_int(width, "width")
    n_classes = positive_int(n_classes, "n_classes")
    if not (isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout < 1):
        raise ValueError(f"dropout must be a probability in [0, 1); got {dropout!r}")
    layers = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(4 * width * 4 * 4, n_classes))
    return nn.Sequential(*layers)


def cifar_dropout_cnn(p: float = 0.0) -> nn.Sequential:
    """The dropout lesson's small CIFAR-10 CNN: two conv-ReLU-maxpool stages (16, 32 filters), a 128-unit dense layer.

    ``Conv(3->16) - ReLU - MaxPool - Conv(16->32) - ReLU - MaxPool - Flatten - Dropout(p) - Dense(2048->128) -
    ReLU - Dropout(p) - Dense(128->10)``; takes (N, 3, 32, 32). The dropout layers are always there (identity
    for ``p = 0``), so the same seed gives the same initial weights for every ``p``.
    """
    if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p < 1):
        raise ValueError(f"p must be a dropout probability in [0, 1); got {p!r}")
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Dropout(p), nn.Linear(32 * 8 * 8, 128), nn.ReLU(),
                         nn.Dropout(p), nn.Linear(128, 10))


# activation name -> (module constructor, the initialization made for it)
DEEP_MLP_ACTIVATIONS = {"sigmoid": (nn.Sigmoid, "xavier"), "tanh": (nn.Tanh, "xavier"), "ReLU": (nn.ReLU, "he"),
                        "LeakyReLU": (lambda: nn.LeakyReLU(0.01), "he"), "GELU": (nn.GELU, "he")}


def deep_mlp(activation: str, depth: int = 10, width: int = 128, n_in: int = 784, n_classes: int = 10) -> nn.Sequential:
    """A plain multilayer perceptron for the activation-and-depth experiment: ``depth`` hidden layers of ``width``.

    Each hidden layer is ``Linear`` then the activation (a key of :data:`DEEP_MLP_ACTIVATIONS`); weights
    Xavier-normal for sigmoid and tanh, He-normal (``nonlinearity="relu"``) for the ReLU family, biases 0,
    from PyTorch's current random state; a final ``Linear(width, n_classes)`` with PyTorch's default init.
    """
    if activation not in DEEP_MLP_ACTIVATIONS:
        raise ValueError(f"activation must be one of {list(DEEP_MLP_ACTIVATIONS)}, got {activation!r}")
    depth, width = positive_int(depth, "depth"), positive_int(width, "width")
    act, init = DEEP_MLP_ACTIVATIONS[activation]
    layers, size = [], positive_int(n_in, "n_in")
    for _ in range(depth):
        linear = nn.Linear(size, width)
        if init == "xavier":
            nn.init.xavier_normal_(linear.weight)
        else:
            nn.init.kaiming_normal_(linear.weight, nonlinearity="relu")
        nn.init.zeros_(linear.bias)
        layers += [linear, act()]
        size = width
    return nn.Sequential(*layers, nn.Linear(size, positive_int(n_classes, "n_classes")))
