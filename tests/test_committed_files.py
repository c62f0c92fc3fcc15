"""helpers.committed_files: the one way both checkpoint modules find or download committed files."""

import pytest

from helpers import committed_files
from helpers.data import DataUnavailableError


def test_checkpoint_dir_is_the_checkouts_checkpoint_folder():
    folder = committed_files.checkpoint_dir()
    assert folder is not None and folder.parts[-3:] == ("book", "lessons", "checkpoints") and folder.is_dir()


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "model.pt", 3])
def test_check_name_wants_a_bare_stem(bad):
    with pytest.raises(ValueError, match="bare file stem such as 'example'"):
        committed_files.check_name(bad, (".json", ".pt"), "example")
    assert committed_files.check_name("model", (".json", ".pt"), "example") == "model"


def test_locate_prefers_the_given_folder_then_the_checkout_then_downloads(tmp_path, monkeypatch):
    (tmp_path / "x.json").write_text("{}")
    (tmp_path / "x.pt").write_bytes(b"")
    assert committed_files.locate("x", (".json", ".pt"), tmp_path, "checkpoint") == tmp_path
    with pytest.raises(DataUnavailableError, match="no checkpoint y.pt in"):
        committed_files.locate("y", (".json", ".pt"), tmp_path, "checkpoint")
    assert committed_files.locate("cifar_cnn", (".json", ".pt"), None, "checkpoint") == committed_files.checkpoint_dir()
    repo = tmp_path / "repo" / "book" / "lessons" / "checkpoints"
    repo.mkdir(parents=True)
    (repo / "z.json").write_text('{"a": 1}')
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(committed_files, "checkpoint_dir", lambda: None)
    monkeypatch.setenv("CNN_BOOK_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("CNN_BOOK_RAW_URL", (tmp_path / "repo").as_uri() + "/")
    assert committed_files.locate("z", (".json",), None, "log") == tmp_path / "data" / "checkpoints"
    with pytest.raises(DataUnavailableError, match="copy w.json and w.pt into"):
        committed_files.locate("w", (".json", ".pt"), None, "checkpoint")
