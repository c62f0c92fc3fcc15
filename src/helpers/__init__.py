"""The small library the book builds up, one module per topic.

``conv`` (convolution in NumPy), ``gradcheck`` (numerical gradients), ``data``
(datasets), ``seeding``, ``plots`` and ``widgets``. Import the module you need,
e.g. ``from helpers import conv``; nothing heavy is imported here.
"""

__version__ = "0.1.0"
