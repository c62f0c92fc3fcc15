import pytest
import torch
from torch import nn

from helpers import committed_files
from helpers.data import DataUnavailableError
from helpers.torch import checkpoints


def test_save_then_load_round_trips_weights_in_float16_and_the_log(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model[1].running_mean.add_(1.5)
    path = checkpoints.save_checkpoint(model, {"acc": 0.5, "epochs": [1, 2]}, "tiny", tmp_path)
    assert path == tmp_path / "tiny.pt" and (tmp_path / "tiny.json").is_file()
    state, log = checkpoints.load_checkpoint("tiny", tmp_path)
    assert log == {"acc": 0.5, "epochs": [1, 2]}
    assert state["0.weight"].dtype == torch.float32
    assert torch.allclose(state["0.weight"], model[0].weight, atol=1e-3, rtol=1e-3)   # float16 precision
    assert state["1.num_batches_tracked"].dtype == torch.int64
    fresh = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    fresh.load_state_dict(state)
    assert torch.allclose(fresh[1].running_mean, torch.full((4,), 1.5))


@pytest.mark.parametrize("bad", ["", "a/b", "model.pt", "log.json", 3])
def test_names_must_be_bare_stems(bad, tmp_path):
    with pytest.raises(ValueError, match="bare file stem"):
        checkpoints.load_checkpoint(bad, tmp_path)


def test_a_missing_checkpoint_names_where_it_looked(tmp_path):
    with pytest.raises(DataUnavailableError, match="no checkpoint nothing.pt"):
        checkpoints.load_checkpoint("nothing", tmp_path)


def test_a_failed_download_says_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_BOOK_DATA", str(tmp_path))
    monkeypatch.setenv("CNN_BOOK_RAW_URL", "http://127.0.0.1:9/")   # the repository's files: nothing listens there
    with pytest.raises(DataUnavailableError, match="retrain it with the script") as info:
        checkpoints.load_checkpoint("not_committed_anywhere")
    assert "http://127.0.0.1:9/book/lessons/checkpoints/" in str(info.value)
    assert not list((tmp_path / "checkpoints").glob("*.part"))


def test_save_rejects_a_log_that_is_not_a_dict(tmp_path):
    with pytest.raises(ValueError, match="log must be a dict"):
        checkpoints.save_checkpoint(nn.Linear(2, 2), [1, 2], "x", tmp_path)


def test_load_log_reads_a_log_saved_without_weights(tmp_path):
    (tmp_path / "sweep.json").write_text('{"runs": [1, 2]}')
    assert checkpoints.load_log("sweep", tmp_path) == {"runs": [1, 2]}
    with pytest.raises(DataUnavailableError, match="no log other.json"):
        checkpoints.load_log("other", tmp_path)
    with pytest.raises(ValueError, match="bare file stem"):
        checkpoints.load_log("sweep.json", tmp_path)


def test_load_log_downloads_from_the_repository_outside_a_checkout(tmp_path, monkeypatch):
    from local_server import serve

    repo = tmp_path / "repo"
    (repo / "book" / "lessons" / "checkpoints").mkdir(parents=True)
    (repo / "book" / "lessons" / "checkpoints" / "sweep_only_served.json").write_text('{"seed": 3}')
    httpd = serve(repo)
    try:
        monkeypatch.setattr(committed_files, "checkpoint_dir", lambda: None)    # as in Colab: no checkout
        (tmp_path / "data").mkdir()
        monkeypatch.setenv("CNN_BOOK_DATA", str(tmp_path / "data"))
        monkeypatch.setenv("CNN_BOOK_RAW_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
        assert checkpoints.load_log("sweep_only_served") == {"seed": 3}
        assert (tmp_path / "data" / "checkpoints" / "sweep_only_served.json").is_file()   # cached for next time
        assert not (tmp_path / "data" / "checkpoints" / "sweep_only_served.pt").exists()  # a log has no weights
    finally:
        httpd.shutdown()


def test_save_sweep_log_writes_the_standard_log_that_load_log_reads(tmp_path):
    import argparse
    import time
    from pathlib import Path

    from helpers.torch.checkpoints import load_log, save_sweep_log

    args = argparse.Namespace(seeds=[0, 1], data_file=Path("/x/y.npz"), out=tmp_path)
    started = time.perf_counter() - 2.0
    path = save_sweep_log("toy_sweep", args, {"source": "toy"}, [{"seed": 0}, {"seed": 1}], started, 2, tmp_path)
    log = load_log("toy_sweep", tmp_path)
    assert path == tmp_path / "toy_sweep.json"
    assert list(log) == ["args", "data", "runs", "wall_seconds", "machine", "world_size"]
    assert log["args"] == {"seeds": [0, 1], "data_file": "/x/y.npz"}                 # no "out"; paths as text
    assert log["runs"] == [{"seed": 0}, {"seed": 1}] and log["world_size"] == 2
    assert 2.0 <= log["wall_seconds"] < 60 and {"cpus", "torch", "threads"} <= set(log["machine"])
