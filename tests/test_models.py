"""helpers.torch.models and helpers.torch.params: the MNIST CNN family, input normalization, the parameter counter."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers.data import MNIST_MEAN, MNIST_STD, normalize_mnist
from helpers.torch.models import mnist_classifier, mnist_normalizer
from helpers.torch.params import count_params


@pytest.mark.parametrize("downsample", ["max", "avg", "strided"])
@pytest.mark.parametrize("hidden", [0, 32])
def test_mnist_classifier_family_shapes_and_parameter_counts(downsample, hidden):
    torch.manual_seed(0)
    model = mnist_classifier(width=4, hidden=hidden, downsample=downsample)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    convs = (1 * 4 * 9 + 4) + (4 * 8 * 9 + 8)
    if downsample == "strided":
        convs += (4 * 4 * 9 + 4) + (8 * 8 * 9 + 8)
    dense = (8 * 49 * hidden + hidden + hidden * 10 + 10) if hidden else (8 * 49 * 10 + 10)
    assert count_params(model) == convs + dense


def test_mnist_classifier_is_reproducible_and_checks_its_arguments():
    torch.manual_seed(1)
    a = mnist_classifier(width=4, hidden=8, activation=nn.Tanh)
    torch.manual_seed(1)
    b = mnist_classifier(width=4, hidden=8, activation=nn.Tanh)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert any(isinstance(m, nn.Tanh) for m in a)
    with pytest.raises(ValueError, match="downsample"):
        mnist_classifier(downsample="median")
    with pytest.raises(ValueError, match="width"):
        mnist_classifier(width=0)
    with pytest.raises(ValueError, match="activation"):
        mnist_classifier(activation=torch.relu)


def test_mnist_normalizer_equals_normalize_mnist():
    digits = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    pixels = torch.from_numpy(digits.astype(np.float32) / 255)[:, None]
    assert torch.allclose(mnist_normalizer()(pixels), torch.from_numpy(normalize_mnist(digits)), atol=1e-6)
    assert (MNIST_MEAN, MNIST_STD) == (0.1307, 0.3081)


def test_count_params_counts_parameters_not_buffers_and_can_skip_frozen_ones():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    assert count_params(model) == (3 * 4 * 9 + 4) + (4 + 4) + (4 * 2 + 2)
    model[0].weight.requires_grad_(False)
    assert count_params(model, trainable_only=True) == count_params(model) - 3 * 4 * 9
    with pytest.raises(TypeError, match="torch.nn.Module"):
        count_params(np.zeros(3))


def test_cifar_cnn_is_the_first_cifar_lessons_network_and_checks_its_arguments():
    from helpers.torch.models import cifar_cnn
    from helpers.torch.params import count_params
    net = cifar_cnn()
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert count_params(net) == 113_738                 # the first CIFAR-10 lesson prints this count
    torch.manual_seed(0)
    a = cifar_cnn(16)
    torch.manual_seed(0)
    b = cifar_cnn(16, dropout=0.5)
    assert any(isinstance(m, torch.nn.Dropout) for m in b) and not any(isinstance(m, torch.nn.Dropout) for m in a)
    for va, vb in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb)                        # same seed, same weights with and without dropout
    b.eval()
    x = torch.randn(3, 3, 32, 32)
    assert torch.allclose(a(x), b(x))                    # dropout is the identity in eval mode
    with pytest.raises(ValueError, match="dropout must be a probability"):
        cifar_cnn(dropout=1.0)
    with pytest.raises(ValueError, match="width"):
        cifar_cnn(width=0)


def test_normalize_is_exact_in_float64_and_unchanged_in_float32():
    import numpy as np
    import torch

    from helpers.data import MNIST_MEAN, MNIST_STD
    from helpers.torch.models import Normalize

    x = np.random.default_rng(0).random((2, 1, 4, 4))
    layer = Normalize([MNIST_MEAN], [MNIST_STD])
    out64 = layer.double()(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(out64, (x - MNIST_MEAN) / MNIST_STD)      # what the NumPy engine computes
    x32 = torch.from_numpy(x.astype(np.float32))
    expected32 = (x32 - torch.tensor(MNIST_MEAN, dtype=torch.float32)) / torch.tensor(MNIST_STD, dtype=torch.float32)
    assert torch.equal(Normalize([MNIST_MEAN], [MNIST_STD])(x32), expected32)
