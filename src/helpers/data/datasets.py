"""Datasets of the book: where they live, how they are loaded, and what to do when they are missing.

Every loader reads from one data folder:

1. the folder named by the environment variable ``CNN_BOOK_DATA`` if it is set
   (CI and offline machines point it at a prepared copy);
2. otherwise ``data/`` at the root of the book's repository (or ``~/cnn-book-data``
   when the library is installed as a package, as in Colab).

MNIST and CIFAR-10 are read with torchvision's own dataset classes, which
download into that folder when the machine is online. CIFAR-10 can also come
from ``cifar10.npz`` (an offline copy with a 20,000-image training subset); the
loaders always say which copy they used (:attr:`ArrayDataset.source`). Files
that are read as prepared copies are checked against their SHA-256 hash.

With no data and no network the loaders raise :class:`DataUnavailableError`,
naming the dataset, the setting and how to get the files. A file that is there
but damaged (truncated, overwritten, a wrong version) raises its subclass
:class:`DataCorruptError`, naming the file and how to replace it. They never
switch silently to other data.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import struct
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.project import repo_root

__all__ = [
    "DATA_ENV",
    "DataUnavailableError",
    "DataCorruptError",
    "ArrayDataset",
    "class_subset",
    "data_dir",
    "load_mnist",
    "load_cifar10",
    "load_dsb2018",
    "load_photo",
    "sha256",
    "network_timeout",
    "MNIST_MEAN",
    "MNIST_STD",
    "normalize_mnist",
]

DATA_ENV = "CNN_BOOK_DATA"

# SHA-256 of the prepared offline copies (see data/README.md).
KNOWN_HASHES = {
    "cifar10.npz": "1a0230bc6dab783a6fb1a0632e5b92ffb98f484944c330d5b791ac146191926c",
    "dsb2018_nuclei_96.npz": "88d426af41c53ba3d03f96cc01a1eccd817839ed0cf4db1790eb48baaaf63aa1",
}

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


class DataUnavailableError(RuntimeError):
    """A dataset is neither in the data folder nor downloadable from here."""


class DataCorruptError(DataUnavailableError):
    """A data file is in the data folder but damaged (truncated, garbage or another version).

    ``path`` is the damaged file. Deleting it and downloading or copying it again fixes it.
    """

    def __init__(self, message: str, path: Path | None = None):
        super().__init__(message)
        self.path = path


@dataclass
class ArrayDataset:
    """Images and labels as NumPy arrays, with a note of where they came from."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple = ()
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(x={self.x.shape} {self.x.dtype}, y={self.y.shape} {self.y.dtype}, "
            f"source={self.source!r})"
        )


def class_subset(dataset: ArrayDataset, classes) -> ArrayDataset:
    """The images of ``classes`` only, relabelled ``0 .. len(classes) - 1`` in the order given.

    ``classes`` holds class indices of ``dataset``; the result's ``classes`` names follow them, and
    its ``source`` notes the selection. Used to pretrain on some CIFAR-10 classes and transfer to the others.
    """
    classes = [int(c) for c in classes]
    n = len(dataset.classes) if dataset.classes else int(np.max(dataset.y)) + 1
    if not classes or len(set(classes)) != len(classes) or min(classes) < 0 or max(classes) >= n:
        raise ValueError(f"classes must be distinct class indices in [0, {n}); got {classes}")
    keep = np.isin(dataset.y, classes)
    relabel = np.full(n, -1, dtype=np.int64)
    relabel[classes] = np.arange(len(classes))
    names = tuple(dataset.classes[c] for c in classes) if dataset.classes else ()
    return ArrayDataset(dataset.x[keep], relabel[dataset.y[keep]], names,
                        f"{dataset.source}, classes {classes} only", dict(dataset.extra))


def data_dir() -> Path:
    """The data folder: ``$CNN_BOOK_DATA`` if set, else ``data/`` in the repository (``~/cnn-book-data`` outside it)."""
    env = os.environ.get(DATA_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataUnavailableError(
                f"{DATA_ENV}={env!r} is not a folder. Point it at the folder that holds the "
                f"book's datasets (for example the prepared offline copy), or unset it to use {_default_dir()}."
            )
        return path
    return _default_dir()


def _default_dir() -> Path:
    root = repo_root()
    if root is not None:  # running from a checkout of the book
        return root / "data"
    return Path.home() / "cnn-book-data"  # installed as a package (e.g. in Colab)


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _shown(path) -> str:
    """A path as lessons print it: relative to ``$CNN_BOOK_DATA`` when that setting is used."""
    env = os.environ.get(DATA_ENV)
    if env:
        try:
            return f"${DATA_ENV}/" + Path(path).resolve().relative_to(Path(env).expanduser().resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


_RECOPY = "delete it and copy the book's prepared file into the data folder again (see data/README.md)"
_REDOWNLOAD = ("delete it and run the loader again while online (torchvision downloads a fresh copy), or copy an "
               "intact file from the prepared data folder")


def _corrupt(path: Path, problem: str, fix: str) -> DataCorruptError:
    return DataCorruptError(
        f"the data file {path} is damaged: {problem}.\nTo fix: {fix}.\nThe data folder is set with the "
        f"environment variable {DATA_ENV} (see the README, section 'Offline data').",
        path,
    )


def _verified(path: Path) -> Path:
    expected = KNOWN_HASHES.get(path.name)
    if expected is not None:
        actual = sha256(path)
        if actual != expected:
            raise _corrupt(path, f"it does not match the book's copy (sha256 {actual[:12]}..., expected "
                                 f"{expected[:12]}...; truncated, overwritten or a different version)", _RECOPY)
    return path


def _missing(name: str, how: str, cause: Exception | None = None) -> DataUnavailableError:
    where = data_dir()
    message = (
        f"{name} is not in the data folder {where} and could not be downloaded"
        + (f" ({type(cause).__name__}: {cause})" if cause else "")
        + f".\nTo fix: {how}\nThe data folder is set with the environment variable {DATA_ENV} "
        "(see the README, section 'Offline data')."
    )
    return DataUnavailableError(message)


@contextlib.contextmanager
def network_timeout(seconds: float = 20.0):
    """Bound every socket operation so an offline download fails fast instead of hanging."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def _torchvision_dataset(cls, name: str, how: str, *, train: bool, download: bool, damaged):
    """``cls(root=data_dir(), ...)``, downloading if allowed; on failure ``damaged(root, train)`` names a bad file.

    ``damaged`` returns ``(path, problem)`` for the first damaged file it finds, or ``None``:
    a damaged file becomes :class:`DataCorruptError`, anything else the "not in the data folder" error.
    """
    root = data_dir()
    try:
        return cls(root=str(root), train=train, download=False)
    except Exception as exc:  # RuntimeError "not found", or a file torchvision cannot parse
        if not download:
            _raise_if_damaged(damaged, root, train, exc)
            raise _missing(name, how) from None
    try:
        with network_timeout():
            return cls(root=str(root), train=train, download=True)
    except Exception as exc:  # URLError, timeouts, HTTP errors, checksum failures...
        _raise_if_damaged(damaged, root, train, exc)
        raise _missing(name, how, exc) from exc


def _raise_if_damaged(damaged, root: Path, train: bool, cause: Exception) -> None:
    found = damaged(root, train)
    if found is not None:
        path, problem = found
        raise _corrupt(path, problem, _REDOWNLOAD) from cause


def _md5_mismatch(path: Path, md5: str) -> str | None:
    from torchvision.datasets.utils import calculate_md5

    actual = calculate_md5(str(path))
    if actual == md5:
        return None
    return f"its MD5 checksum is {actual[:12]}..., not the published {md5[:12]}... (truncated or overwritten)"


_MNIST_SHAPES = {"images-idx3-ubyte": (28, 28), "labels-idx1-ubyte": ()}


def _idx_problem(path: Path, shape: tuple[int, ...]) -> str | None:
    """What is wrong with an uncompressed MNIST IDX file that should hold uint8 data of ``shape``, or ``None``."""
    header = b"\x00\x00\x08" + bytes([len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)
    with open(path, "rb") as fh:
        start = fh.read(len(header))
    if start != header:
        return f"its header is not that of an IDX file of {' x '.join(map(str, shape))} bytes"
    size, expected = path.stat().st_size, len(header) + int(np.prod(shape))
    if size != expected:
        return f"it has {size:,} bytes instead of {expected:,} ({'truncated' if size < expected else 'extra data'})"
    return None


def _damaged_mnist(root: Path, train: bool):
    """``(path, problem)`` of the first damaged MNIST file of the split under ``root/MNIST/raw``, or ``None``.

    Uncompressed IDX files are checked for their header and exact size; ``.gz``
    archives (used only while the IDX file is absent) against torchvision's MD5.
    """
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    md5s = dict(MNIST.resources)
    prefix, n = ("train", 60000) if train else ("t10k", 10000)
    for suffix, item in _MNIST_SHAPES.items():
        path = raw / f"{prefix}-{suffix}"
        if path.is_file():
            problem = _idx_problem(path, (n, *item))
        elif path.with_name(path.name + ".gz").is_file():
            path = path.with_name(path.name + ".gz")
            problem = _md5_mismatch(path, md5s[path.name])
        else:
            continue
        if problem is not None:
            return path, problem
    return None


def _damaged_cifar10(root: Path, train: bool):
    """``(path, problem)`` of the first CIFAR-10 file (batch or archive) whose MD5 is not torchvision's, or ``None``."""
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    files = [(folder / f, md5) for f, md5 in (*CIFAR10.train_list, *CIFAR10.test_list)]
    files += [(folder / CIFAR10.meta["filename"], CIFAR10.meta["md5"]), (root / CIFAR10.filename, CIFAR10.tgz_md5)]
    for path, md5 in files:
        if path.is_file() and (problem := _md5_mismatch(path, md5)) is not None:
            return path, problem
    return None


def _read_mnist_idx(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The split's images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 read straight from the uncompressed IDX
    files that ``torchvision.datasets.MNIST`` keeps under ``root/MNIST/raw`` (the bytes it would read), or ``None``
    when either file is missing or fails the header and size check (:func:`load_mnist` then goes through
    torchvision, which downloads or reports the damage). Reading them takes milliseconds; importing torchvision
    took 1.8-2.1 s here after torch, in every notebook that loads MNIST."""
    raw = Path(root) / "MNIST" / "raw"
    prefix, n = ("train", 60000) if train else ("t10k", 10000)
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    for path, shape in ((images, (n, 28, 28)), (labels, (n,))):
        if not path.is_file() or _idx_problem(path, shape) is not None:
            return None
    x = np.fromfile(images, dtype=np.uint8, offset=16).reshape(n, 28, 28)
    y = np.fromfile(labels, dtype=np.uint8, offset=8).astype(np.int64)
    return x, y


def load_mnist(split: str = "train", download: bool = True) -> ArrayDataset:
    """MNIST digits in ``torchvision.datasets.MNIST``'s layout (root = :func:`data_dir`).

    Returns ``x`` as uint8 ``(N, 28, 28)`` and ``y`` as int64 ``(N,)``: 60,000
    images for ``split="train"``, 10,000 for ``split="test"``. When the split's two
    uncompressed IDX files (images and labels) are in place and sound they are read
    directly (the same arrays, without importing torchvision; the other split's files
    need not be there); otherwise through torchvision, which needs all four files and
    downloads the missing ones if allowed. Raises :class:`DataCorruptError` naming the file when
    a file of the split is damaged, :class:`DataUnavailableError` when the files are
    missing and cannot be downloaded.
    """
    train = _split_flag(split)
    root = data_dir()
    arrays = _read_mnist_idx(root, train)
    if arrays is None:
        from torchvision.datasets import MNIST

        how = (
            "go online once (the loader downloads MNIST into the data folder), or copy the four "
            "MNIST IDX files into <data folder>/MNIST/raw/."
        )
        ds = _torchvision_dataset(MNIST, "MNIST", how, train=train, download=download, damaged=_damaged_mnist)
        arrays, root = (ds.data.numpy(), ds.targets.numpy().astype(np.int64)), Path(ds.root)
    x, y = arrays
    source = f"torchvision.datasets.MNIST at {_shown(Path(root) / 'MNIST')} ({len(x)} {split} images)"
    return ArrayDataset(x, y, tuple(str(i) for i in range(10)), source)


def _split_flag(split: str) -> bool:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split == "train"


def load_cifar10(split: str = "train", download: bool = True) -> ArrayDataset:
    """CIFAR-10 colour images as uint8 ``(N, 32, 32, 3)`` with int64 labels.

    Order of preference: torchvision's files in the data folder (the full
    50,000/10,000 images); else the offline copy ``cifar10.npz`` (the first 2,000
    training images of each class and the full test set); else a torchvision
    download. :attr:`ArrayDataset.source` says which was used. A damaged file
    (a hash or MD5 mismatch) raises :class:`DataCorruptError` naming it.
    """
    from torchvision.datasets import CIFAR10

    train = _split_flag(split)
    root = data_dir()
    npz = root / "cifar10.npz"
    if not (root / "cifar-10-batches-py").is_dir() and npz.is_file():
        with np.load(_verified(npz)) as f:
            x, y = f[f"x_{split}"], f[f"y_{split}"].astype(np.int64)
        source = f"offline copy {_shown(npz)} ({len(x)} {split} images; training set is a 2,000-per-class subset)"
        return ArrayDataset(x, y, CIFAR10_CLASSES, source)
    how = "go online once (torchvision downloads CIFAR-10, 170 MB), or put the book's cifar10.npz in the data folder."
    ds = _torchvision_dataset(CIFAR10, "CIFAR-10", how, train=train, download=download, damaged=_damaged_cifar10)
    source = f"torchvision.datasets.CIFAR10 at {_shown(ds.root)} ({len(ds.data)} {split} images)"
    return ArrayDataset(ds.data, np.asarray(ds.targets, dtype=np.int64), tuple(ds.classes), source)


DSB2018_FILE = "dsb2018_nuclei_96.npz"


def dsb2018_url() -> str:
    """Where an online reader's copy of the prepared DSB2018 file comes from: the book's repository."""
    from helpers.project import raw_url

    return raw_url(f"data/{DSB2018_FILE}")


def _download_verified(url: str, target: Path) -> Path:
    """Download ``url`` to ``target`` (via a ``.part`` file), check its SHA-256, return ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with network_timeout(), urllib.request.urlopen(url) as response, open(partial, "wb") as fh:
            shutil.copyfileobj(response, fh)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    expected = KNOWN_HASHES[target.name]
    if sha256(partial) != expected:
        partial.unlink()
        raise _corrupt(target, f"the download from {url} does not match the book's copy (sha256 expected "
                               f"{expected[:12]}...)", "check that the repository setting in helpers.project "
                               "names the book's repository, then run the loader again")
    partial.rename(target)
    return target


def load_dsb2018(download: bool = True) -> ArrayDataset:
    """2018 Data Science Bowl nuclei, 96x96: ``x`` uint8 (664, 96, 96, 3), ``y`` bool masks (664, 96, 96).

    The book's prepared file ``dsb2018_nuclei_96.npz`` (5 MB, CC0) is read from the data folder, else
    from ``data/`` of the book's checkout (it is committed there), else downloaded from the book's
    repository (:func:`dsb2018_url`) into the data folder. It is always checked against its SHA-256
    (:class:`DataCorruptError` when it does not match); ``extra['ids']`` holds the image ids.
    """
    from helpers.project import repo_root

    places = [data_dir() / DSB2018_FILE]
    root = repo_root()
    if root is not None:
        places.append(root / "data" / DSB2018_FILE)
    path = next((p for p in places if p.is_file()), None)
    if path is None:
        if not download:
            raise _missing(f"DSB2018 nuclei ({DSB2018_FILE})", "call load_dsb2018(download=True) while online, or "
                           "put the book's prepared file in the data folder (see data/README.md).")
        try:
            path = _download_verified(dsb2018_url(), places[0])
        except DataCorruptError:
            raise
        except Exception as exc:
            raise _missing(f"DSB2018 nuclei ({DSB2018_FILE})",
                           f"run the loader again while online (it downloads {dsb2018_url()}), or put the book's "
                           "prepared file in the data folder (made from the Kaggle 2018 Data Science Bowl "
                           "stage-1 training set, CC0; see data/README.md).", exc) from exc
    with np.load(_verified(path)) as f:
        x, y, ids = f["x"], f["y"], f["ids"]
    return ArrayDataset(x, y, ("background", "nucleus"), f"book's copy {_shown(path)} ({len(x)} images)", {"ids": ids})


def load_photo(name: str = "astronaut", gray: bool = False) -> np.ndarray:
    """A photo bundled with scikit-image, as float32 in [0, 1].

    ``(H, W, 3)`` for colour photos, ``(H, W)`` for grey ones or with ``gray=True``.
    """
    from skimage import color, data, util

    loaders = {n: getattr(data, n) for n in ("astronaut", "camera", "coffee", "chelsea", "coins", "moon", "rocket")}
    if name not in loaders:
        raise ValueError(f"unknown photo {name!r}; choose one of {sorted(loaders)}")
    img = util.img_as_float32(loaders[name]())
    if gray and img.ndim == 3:
        img = color.rgb2gray(img).astype(np.float32)
    return img


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # of the 60,000 training pixels scaled to [0, 1]


def normalize_mnist(images) -> np.ndarray:
    """uint8 digits ``(N, 28, 28)`` -> float32 ``(N, 1, 28, 28)``: ``(x / 255 - MNIST_MEAN) / MNIST_STD``.

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
