"""Skip markers for the tests that need the prepared datasets (``CNN_BOOK_DATA``, see the README).

``needs("mnist", "test")`` skips a test (or, as ``pytestmark``, a file) when the loader cannot find that split
without downloading; ``have`` answers the same question as a bool.
"""

import functools

import pytest

from helpers import data

REASON = "set CNN_BOOK_DATA to the offline data folder (see the README)"
_LOADERS = {"mnist": data.load_mnist, "cifar10": data.load_cifar10}


@functools.cache
def _loads(dataset: str, split: str | None) -> bool:
    # Each split is loaded once per test process (collection asked 22 times for 5 splits: 3 s of each worker's start).
    try:
        if dataset == "dsb2018":
            data.load_dsb2018()
        else:
            _LOADERS[dataset](split, download=False)
    except data.DataUnavailableError:
        return False
    return True


def have(dataset: str, *splits: str) -> bool:
    """Whether every split of ``dataset`` ("mnist", "cifar10" or "dsb2018") loads without a download."""
    if dataset == "dsb2018":
        return _loads(dataset, None)
    return all(_loads(dataset, split) for split in splits or ("test",))


def needs(dataset: str, *splits: str):
    """``pytest.mark.skipif`` marker for a test that needs ``dataset`` (its ``splits``; default "test")."""
    return pytest.mark.skipif(not have(dataset, *splits), reason=REASON)
