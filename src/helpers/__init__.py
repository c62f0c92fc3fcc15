"""The small library the book builds up, one module per topic.

The NumPy network: ``conv`` (convolution), ``pool`` (max, average and global
pooling), ``layers`` (ReLU, dense and the layer objects ``Conv2D``, ``MaxPool2D``,
``Dense``, ...), ``losses`` (softmax cross-entropy), ``optim`` (SGD, Adam, AdamW),
``network`` (``Sequential`` and a whole-network gradient check) and ``gradcheck``
(numerical gradients). Around it: ``data`` (datasets), ``seeding``, ``plots`` and
``widgets``. Import the module you need, e.g. ``from helpers import conv``;
nothing heavy is imported here.
"""

__version__ = "0.1.0"
