"""The book's datasets as NumPy arrays, found through one folder (``$CNN_BOOK_DATA``), hash-checked, and split.

* :mod:`helpers.data.datasets`: :func:`load_mnist`, :func:`load_cifar10`,
  :func:`load_dsb2018`, :func:`load_photo`, the data folder, the MNIST
  normalisation (:func:`normalize_mnist`, :data:`MNIST_MEAN`, :data:`MNIST_STD`),
  and the errors :class:`DataUnavailableError` (missing) and :class:`DataCorruptError` (damaged);
* :mod:`helpers.data.splits`: seeded train/validation, few-shot and DSB2018 splits.

Everything is re-exported here: ``from helpers.data import load_mnist, split_indices``.
This package imports NumPy only (torchvision is imported when a dataset is first read).
"""

from helpers.data.datasets import (
    CIFAR10_CLASSES,
    DATA_ENV,
    KNOWN_HASHES,
    MNIST_MEAN,
    MNIST_STD,
    ArrayDataset,
    DataCorruptError,
    DataUnavailableError,
    class_subset,
    data_dir,
    load_cifar10,
    load_dsb2018,
    load_mnist,
    load_photo,
    network_timeout,
    normalize_mnist,
    sha256,
)
from helpers.data.splits import dsb2018_split, few_shot_indices, split_indices

__all__ = [
    "CIFAR10_CLASSES", "DATA_ENV", "KNOWN_HASHES", "MNIST_MEAN", "MNIST_STD", "ArrayDataset",
    "DataCorruptError", "DataUnavailableError", "class_subset", "data_dir", "load_cifar10", "load_dsb2018",
    "load_mnist", "load_photo",
    "network_timeout", "normalize_mnist", "sha256", "dsb2018_split", "few_shot_indices", "split_indices",
]
