"""Data loaders: the right arrays from the data folder, and clear errors without data."""

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import data
from helpers.project import repo_root

HAVE_DATA = (data.data_dir() / "MNIST" / "raw").is_dir() if os.environ.get(data.DATA_ENV) else False
needs_data = pytest.mark.skipif(not HAVE_DATA, reason=f"set {data.DATA_ENV} to the offline data folder")


@needs_data
def test_mnist_shapes_and_source():
    test = data.load_mnist("test", download=False)
    assert test.x.shape == (10000, 28, 28) and test.x.dtype == np.uint8
    assert test.y.shape == (10000,) and set(np.unique(test.y)) == set(range(10))
    assert test.source == f"torchvision.datasets.MNIST at ${data.DATA_ENV}/MNIST (10000 test images)"
    assert test.y[:5].tolist() == [7, 2, 1, 0, 4]  # the first MNIST test digits


@needs_data
@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_read_directly_equals_torchvisions_and_does_not_import_it(split):
    from torchvision.datasets import MNIST

    ours = data.load_mnist(split, download=False)
    theirs = MNIST(root=str(data.data_dir()), train=split == "train", download=False)
    assert ours.x.dtype == np.uint8 and ours.y.dtype == np.int64
    np.testing.assert_array_equal(ours.x, theirs.data.numpy())
    np.testing.assert_array_equal(ours.y, theirs.targets.numpy())
    code = (f"import sys; from helpers.data import load_mnist; d = load_mnist({split!r}, download=False); "
            "print(len(d.y), 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == [str(len(theirs)), "False"]


@needs_data
def test_one_splits_two_idx_files_are_enough(tmp_path, monkeypatch):
    raw = data.data_dir() / "MNIST" / "raw"
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        _copy_head(raw / name, tmp_path / "MNIST" / "raw" / name)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    test = data.load_mnist("test", download=False)
    assert test.x.shape == (10000, 28, 28) and test.y[:5].tolist() == [7, 2, 1, 0, 4]
    with pytest.raises(data.DataUnavailableError, match="MNIST is not in the data folder"):
        data.load_mnist("train", download=False)


@needs_data
def test_cifar10_offline_copy_is_verified_and_labelled():
    test = data.load_cifar10("test", download=False)
    assert test.x.shape == (10000, 32, 32, 3) and test.x.dtype == np.uint8
    assert np.bincount(test.y).tolist() == [1000] * 10
    assert test.classes[0] == "airplane" and "offline copy" in test.source


@needs_data
def test_dsb2018_masks():
    ds = data.load_dsb2018()
    assert ds.x.shape == (664, 96, 96, 3) and ds.y.shape == (664, 96, 96) and ds.y.dtype == bool
    assert 0.05 < ds.y.mean() < 0.3


def test_missing_data_raises_clear_error_without_downloading(tmp_path, monkeypatch):
    import helpers.project

    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(helpers.project, "repo_root", lambda: None)     # as if installed outside a checkout
    for load in (lambda: data.load_mnist("train", download=False), lambda: data.load_cifar10("test", download=False),
                 lambda: data.load_dsb2018(download=False)):
        with pytest.raises(data.DataUnavailableError) as info:
            load()
        message = str(info.value)
        assert str(tmp_path) in message and data.DATA_ENV in message and "To fix" in message


def test_offline_download_fails_fast_with_clear_error(tmp_path, monkeypatch):
    # No network: the download must fail quickly with the book's error, not hang.
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network unreachable (simulated)")

    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    with pytest.raises(data.DataUnavailableError, match="MNIST is not in the data folder"):
        data.load_mnist("test", download=True)


def test_damaged_copy_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    np.savez(tmp_path / "cifar10.npz", x_test=np.zeros((1, 32, 32, 3), np.uint8), y_test=np.zeros(1, np.uint8))
    with pytest.raises(data.DataUnavailableError, match="does not match the book's copy"):
        data.load_cifar10("test", download=False)


def test_bad_setting_and_bad_split(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(data.DataUnavailableError, match="is not a folder"):
        data.data_dir()
    monkeypatch.delenv(data.DATA_ENV)
    assert data.data_dir() == repo_root() / "data"
    with pytest.raises(ValueError, match="split must be"):
        data.load_mnist("validation")


def test_photo_is_float_in_unit_range():
    img = data.load_photo("astronaut")
    assert img.shape == (512, 512, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert data.load_photo("astronaut", gray=True).shape == (512, 512)
    with pytest.raises(ValueError, match="unknown photo"):
        data.load_photo("lena")


def test_sha256_of_known_bytes(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert data.sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _copy_head(src, dst, n_bytes=None):
    """Copy ``src`` to ``dst`` (whole, or only its first ``n_bytes``: a truncated copy)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fh:
        dst.write_bytes(fh.read() if n_bytes is None else fh.read(n_bytes))


@needs_data
@pytest.mark.parametrize("download", [False, True])
def test_truncated_mnist_file_is_reported_as_damaged(tmp_path, monkeypatch, download):
    raw = data.data_dir() / "MNIST" / "raw"
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        _copy_head(raw / name, tmp_path / "MNIST" / "raw" / name, 1000 if name.startswith("t10k-images") else None)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(data.DataCorruptError) as info:
        data.load_mnist("test", download=download)  # the files exist, so torchvision does not go online
    damaged = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    message = str(info.value)
    assert info.value.path == damaged and str(damaged) in message
    assert "damaged" in message and "truncated" in message and "delete it" in message
    assert "not in the data folder" not in message
    assert isinstance(info.value, data.DataUnavailableError)  # existing handlers still catch it


def test_garbage_mnist_files_are_reported_as_damaged(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"this is not an idx file" * 100)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip either")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(data.DataCorruptError, match="t10k-images-idx3-ubyte.gz is damaged: its MD5"):
        data.load_mnist("test", download=False)
    (raw / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(data.DataCorruptError, match="t10k-labels-idx1-ubyte is damaged: its header"):
        data.load_mnist("test", download=False)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.DataUnavailableError, match="MNIST is not in the data folder") as info:
        data.load_mnist("test", download=False)  # nothing left: missing, not damaged
    assert not isinstance(info.value, data.DataCorruptError)


def test_damaged_cifar10_batch_is_named(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"\x80\x04 half a pickle")
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(data.DataCorruptError, match="test_batch is damaged: its MD5 checksum") as info:
        data.load_cifar10("test", download=False)
    assert info.value.path == folder / "test_batch" and "delete it" in str(info.value)


@needs_data
@pytest.mark.parametrize("name, load", [("cifar10.npz", lambda: data.load_cifar10("test", download=False)),
                                        ("dsb2018_nuclei_96.npz", data.load_dsb2018)])
def test_truncated_prepared_copy_is_reported_as_damaged(tmp_path, monkeypatch, name, load):
    _copy_head(data.data_dir() / name, tmp_path / name, 100_000)
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    with pytest.raises(data.DataCorruptError, match="does not match the book's copy") as info:
        load()
    assert info.value.path == tmp_path / name and str(tmp_path / name) in str(info.value)
    assert "copy the book's prepared file" in str(info.value)


def test_class_subset_keeps_and_relabels_the_chosen_classes():
    from helpers.data import ArrayDataset, class_subset

    x = np.arange(12).reshape(6, 2)
    ds = ArrayDataset(x, np.array([0, 1, 2, 1, 0, 2]), ("a", "b", "c"), "toy")
    sub = class_subset(ds, [2, 0])
    np.testing.assert_array_equal(sub.x, x[[0, 2, 4, 5]])
    np.testing.assert_array_equal(sub.y, [1, 0, 1, 0])          # class 2 -> 0, class 0 -> 1
    assert sub.classes == ("c", "a") and "classes [2, 0]" in sub.source
    with pytest.raises(ValueError, match="distinct class indices"):
        class_subset(ds, [0, 0])
    with pytest.raises(ValueError, match="distinct class indices"):
        class_subset(ds, [3])


def test_dsb2018_is_committed_to_the_checkout_and_found_there(tmp_path, monkeypatch):
    from helpers.project import repo_root

    committed = repo_root() / "data" / "dsb2018_nuclei_96.npz"
    assert committed.is_file() and data.sha256(committed) == data.KNOWN_HASHES["dsb2018_nuclei_96.npz"]
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))                 # an empty data folder
    ds = data.load_dsb2018(download=False)
    assert ds.x.shape == (664, 96, 96, 3) and str(committed) in ds.source


def test_dsb2018_downloads_from_the_repository_and_checks_its_hash(tmp_path, monkeypatch):
    import shutil

    from local_server import serve

    import helpers.data.datasets as datasets
    import helpers.project
    from helpers.project import repo_root

    served, cache = tmp_path / "served", tmp_path / "cache"
    served.mkdir()
    shutil.copyfile(repo_root() / "data" / "dsb2018_nuclei_96.npz", served / "dsb2018_nuclei_96.npz")
    httpd = serve(served)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/dsb2018_nuclei_96.npz"
        monkeypatch.setattr(datasets, "dsb2018_url", lambda: url)      # the book's repository, served locally
        monkeypatch.setattr(helpers.project, "repo_root", lambda: None)  # no checkout: as in Colab
        monkeypatch.setenv(data.DATA_ENV, str(cache))
        cache.mkdir()
        ds = data.load_dsb2018()
        assert ds.x.shape == (664, 96, 96, 3) and (cache / "dsb2018_nuclei_96.npz").is_file()
        (cache / "dsb2018_nuclei_96.npz").unlink()
        (served / "dsb2018_nuclei_96.npz").write_bytes(b"not the book's file")   # a wrong file on the server
        with pytest.raises(data.DataCorruptError, match="does not match the book's copy"):
            data.load_dsb2018()
        assert list(cache.iterdir()) == []                             # nothing half-downloaded is left behind
    finally:
        httpd.shutdown()
