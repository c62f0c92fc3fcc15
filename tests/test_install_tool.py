"""tools/install.py gives uv the index URLs, find-links and constraints pip is configured with."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("install_tool", ROOT / "tools" / "install.py")
install_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_tool)


def test_pip_configuration_becomes_the_same_uv_options():
    config = """:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
"""
    assert install_tool.uv_options(config) == [
        "--find-links", "/opt/wheels", "--constraint", "/etc/xdg/pip/constraints.txt",
        "--extra-index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple"]


def test_no_configuration_gives_no_options_and_an_index_url_is_kept():
    assert install_tool.uv_options("") == []
    assert install_tool.uv_options("global.index-url='https://example.org/simple'\n") == [
        "--index-url", "https://example.org/simple"]


def test_a_wrong_call_says_how_to_call_it():
    try:
        install_tool.main([])
    except SystemExit as exit_:
        assert "usage: python3 tools/install.py VENV" in str(exit_)
    else:
        raise AssertionError("main([]) should stop with the usage line")


def test_a_value_on_several_lines_is_split_into_its_entries():
    config = "global.extra-index-url='\\nhttps://a.example/simple\\nhttps://b.example/simple'\n"
    assert install_tool.uv_options(config) == [
        "--extra-index-url", "https://a.example/simple", "--extra-index-url", "https://b.example/simple"]


def test_the_highest_scope_wins_as_in_pip_and_other_sections_are_ignored():
    config = """download.index-url='https://download-only.example/simple'
global.index-url='https://file.example/simple'
:env:.index-url='https://env.example/simple'
install.find-links='/wheels'
global.find-links='/other'
global.no-index='true'
"""
    assert install_tool.uv_options(config) == [
        "--index-url", "https://env.example/simple", "--find-links", "/wheels", "--no-index"]
