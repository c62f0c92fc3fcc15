"""helpers.torch.training.train_steps and helpers.torch.models.cifar_dropout_cnn (the dropout lesson's loop and net)."""

import pytest
import torch
from torch import nn

from helpers.torch.metrics import accuracy
from helpers.torch.models import cifar_dropout_cnn
from helpers.torch.training import train_steps


def _blobs(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 5, generator=g) + 3.0 * y[:, None].float()      # two well-separated clusters
    return x, y


def _linear(seed):
    torch.manual_seed(seed)
    return nn.Linear(5, 2)


def test_train_steps_learns_a_separable_problem():
    x, y = _blobs()
    model = _linear(0)
    before = accuracy(model, x, y)
    train_steps(model, x, y, epochs=5, batch_size=16, lr=1e-2)
    assert accuracy(model, x, y) > 0.95 and accuracy(model, x, y) > before


def test_same_seed_same_batches_same_weights_and_other_seed_differs():
    x, y = _blobs()
    a, b, c = (train_steps(_linear(0), x, y, epochs=2, seed=s) for s in (3, 3, 4))
    assert torch.equal(a.weight, b.weight)
    assert not torch.equal(a.weight, c.weight)


def test_max_steps_stops_after_that_many_updates():
    x, y = _blobs(n=64)
    one = train_steps(_linear(0), x, y, epochs=10, batch_size=32, max_steps=1)
    reference = _linear(0)
    opt = torch.optim.Adam(reference.parameters(), lr=2e-3)
    idx = torch.randperm(64, generator=torch.Generator().manual_seed(0))[:32]
    nn.functional.cross_entropy(reference(x[idx]), y[idx]).backward()
    opt.step()
    torch.testing.assert_close(one.weight, reference.weight)


def test_train_steps_rejects_mismatched_labels_and_bad_counts():
    x, y = _blobs(n=10)
    with pytest.raises(ValueError, match=r"y \(N,\)"):
        train_steps(_linear(0), x, y[:5])
    with pytest.raises(ValueError, match="epochs"):
        train_steps(_linear(0), x, y, epochs=0)


def test_cifar_dropout_cnn_shape_and_same_init_for_every_p():
    torch.manual_seed(0)
    plain = cifar_dropout_cnn(0.0)
    torch.manual_seed(0)
    dropped = cifar_dropout_cnn(0.5)
    assert plain(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert [m.p for m in dropped if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    for a, b in zip(plain.parameters(), dropped.parameters(), strict=True):
        assert torch.equal(a, b)
    dropped.train()
    x = torch.randn(4, 3, 32, 32)
    assert not torch.equal(dropped(x), dropped(x))          # a new mask per call in training mode
    dropped.eval()
    assert torch.equal(dropped(x), dropped(x))


def test_cifar_dropout_cnn_rejects_a_probability_outside_0_1():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        cifar_dropout_cnn(1.0)
