"""Saving and loading NumPy network weights with their training log (helpers.numpy.checkpoints)."""

import numpy as np
import pytest

from helpers import committed_files
from helpers.data import DataUnavailableError
from helpers.numpy import checkpoints
from helpers.numpy.wide_cnn import mnist_cnn_wide


def test_save_then_load_round_trips_the_weights_exactly_and_the_log(tmp_path):
    net = mnist_cnn_wide(seed=0, channels=(2, 3), hidden=5)
    path = checkpoints.save_numpy_checkpoint(net, {"acc": 0.5, "epochs": [1, 2]}, "tiny", tmp_path)
    assert path == tmp_path / "tiny.npz" and (tmp_path / "tiny.json").is_file()
    weights, log = checkpoints.load_numpy_checkpoint("tiny", tmp_path)
    assert log == {"acc": 0.5, "epochs": [1, 2]}
    assert set(weights) == set(net.state_dict())
    for key, value in net.state_dict().items():
        assert weights[key].dtype == np.float32
        np.testing.assert_array_equal(weights[key], value)
    fresh = mnist_cnn_wide(seed=1, channels=(2, 3), hidden=5)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    assert not np.allclose(fresh.predict(x), net.predict(x))
    fresh.load_weights(weights)
    np.testing.assert_array_equal(fresh.predict(x), net.predict(x))


def test_float64_weights_are_stored_as_float32(tmp_path):
    net = mnist_cnn_wide(seed=0, dtype=np.float64, channels=(2, 2), hidden=0)
    checkpoints.save_numpy_checkpoint(net, {}, "f64", tmp_path)
    weights, _ = checkpoints.load_numpy_checkpoint("f64", tmp_path)
    np.testing.assert_allclose(weights["0.w"], net.state_dict()["0.w"], rtol=1e-6)
    assert weights["0.w"].dtype == np.float32


@pytest.mark.parametrize("bad", ["", "a/b", "model.npz", "log.json", 3])
def test_names_must_be_bare_stems(bad, tmp_path):
    with pytest.raises(ValueError, match="bare file stem"):
        checkpoints.load_numpy_checkpoint(bad, tmp_path)


def test_a_missing_checkpoint_names_where_it_looked(tmp_path):
    with pytest.raises(DataUnavailableError, match="no NumPy checkpoint nothing.npz"):
        checkpoints.load_numpy_checkpoint("nothing", tmp_path)


def test_a_failed_download_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_BOOK_DATA", str(tmp_path))
    monkeypatch.setenv("CNN_BOOK_RAW_URL", "http://127.0.0.1:9/")   # nothing listens there
    with pytest.raises(DataUnavailableError, match="retrain it with the script") as info:
        checkpoints.load_numpy_checkpoint("not_committed_anywhere")
    assert "http://127.0.0.1:9/book/lessons/checkpoints/" in str(info.value)
    assert not list((tmp_path / "checkpoints").glob("*.part"))


def test_a_download_lands_in_the_data_folder(tmp_path, monkeypatch):
    source = tmp_path / "repo" / "book" / "lessons" / "checkpoints"
    net = mnist_cnn_wide(seed=0, channels=(2, 2), hidden=0)
    checkpoints.save_numpy_checkpoint(net, {"ok": True}, "remote", source)
    monkeypatch.setenv("CNN_BOOK_DATA", str(tmp_path))
    monkeypatch.setenv("CNN_BOOK_RAW_URL", (tmp_path / "repo").as_uri() + "/")   # file:// stands in for GitHub
    monkeypatch.setattr(committed_files, "checkpoint_dir", lambda: None)        # as outside a checkout (Colab)
    weights, log = checkpoints.load_numpy_checkpoint("remote")
    assert log == {"ok": True} and (tmp_path / "checkpoints" / "remote.npz").is_file()
    np.testing.assert_array_equal(weights["0.w"], net.state_dict()["0.w"])


def test_save_rejects_bad_arguments(tmp_path):
    net = mnist_cnn_wide(seed=0, channels=(2, 2), hidden=0)
    with pytest.raises(ValueError, match="log must be a dict"):
        checkpoints.save_numpy_checkpoint(net, [1, 2], "x", tmp_path)
    with pytest.raises(ValueError, match="state_dict"):
        checkpoints.save_numpy_checkpoint(object(), {}, "x", tmp_path)
