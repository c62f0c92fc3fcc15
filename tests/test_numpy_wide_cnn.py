"""The wider NumPy MNIST CNN (helpers.numpy.wide_cnn) and training with augmentation (training.train_augmented)."""

import numpy as np
import pytest
import torch

from helpers.numpy import training as nt
from helpers.numpy.augment import random_shift
from helpers.numpy.network import to_torch
from helpers.numpy.optim import Adam
from helpers.numpy.wide_cnn import mnist_cnn_wide


def test_the_wide_cnn_matches_its_pytorch_twin_and_counts_its_parameters():
    net = mnist_cnn_wide(seed=0)
    model = to_torch(net)
    assert net.num_parameters() == sum(p.numel() for p in model.parameters()) == 206_922
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-4, atol=1e-5)
    assert net.predict(x).dtype == np.float32


def test_seed_options_and_errors():
    a, b, c = mnist_cnn_wide(seed=3), mnist_cnn_wide(seed=3), mnist_cnn_wide(seed=4)
    np.testing.assert_array_equal(a[0].params["w"], b[0].params["w"])
    assert not np.array_equal(a[0].params["w"], c[0].params["w"])
    small = mnist_cnn_wide(channels=(4, 8), hidden=0, classes=3)
    assert small.num_parameters() == (9 * 4 + 4) + (36 * 8 + 8) + (8 * 49 * 3 + 3)
    assert mnist_cnn_wide(hidden=16, image_size=32).predict(np.zeros((1, 1, 32, 32), np.float32)).shape == (1, 10)
    for kwargs, match in [({"channels": (4,)}, "pair"), ({"channels": (0, 4)}, "channels"),
                          ({"hidden": -1}, "hidden"), ({"classes": 0}, "classes")]:
        with pytest.raises(ValueError, match=match):
            mnist_cnn_wide(**kwargs)


def blobs(n=96, size=8, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = 0.3 * rng.standard_normal((n, 1, size, size)).astype(np.float32)
    x[y == 0, :, : size // 2] += 1.0
    x[y == 1, :, size // 2:] += 1.0
    return x, y


def small_net(seed):
    return mnist_cnn_wide(seed=seed, channels=(2, 3), hidden=4, classes=2, image_size=8)


def test_without_augmentation_it_is_exactly_train():
    x, y = blobs()
    results = []
    for fn in (nt.train, nt.train_augmented):
        net = small_net(0)
        opt = Adam(net.parameters(), lr=1e-2)
        hist = fn(net, opt, x, y, epochs=2, batch_size=16, seed=1, x_val=x[:20], y_val=y[:20],
                  lr_schedule=nt.cosine_lr(1e-2, 12), progress=False)
        results.append((net, hist))
    (n1, h1), (n2, h2) = results
    for (_, k, p), (_, _, q) in zip(n1.parameters(), n2.parameters(), strict=True):
        np.testing.assert_array_equal(p, q, err_msg=k)
    assert h1.step_loss == h2.step_loss and h1.val_acc == h2.val_acc and h1.step_lr == h2.step_lr


def test_augmentation_sees_every_batch_is_seeded_and_learns():
    x, y = blobs(n=200)
    seen = []

    def augment(xb, rng):
        seen.append(len(xb))
        return random_shift(xb, 1, rng)

    runs = []
    for _ in range(2):
        net = small_net(0)
        hist = nt.train_augmented(net, Adam(net.parameters(), lr=1e-2), x, y, epochs=3, batch_size=32, seed=2,
                                  augment=augment, progress=False)
        runs.append(hist.step_loss)
    assert seen[:7] == [32] * 6 + [8] and len(seen) == 2 * 3 * 7
    assert runs[0] == runs[1]                                    # same seed, same augmented batches
    net = small_net(0)
    other = nt.train_augmented(net, Adam(net.parameters(), lr=1e-2), x, y, epochs=3, batch_size=32, seed=3,
                               augment=augment, progress=False)
    assert other.step_loss != runs[0]
    assert np.mean(runs[0][-7:]) < 0.5 * runs[0][0]              # it learns
    assert net.accuracy(x, y) > 0.9


def test_train_augmented_refuses_bad_arguments():
    x, y = blobs(n=20)
    net = small_net(0)
    opt = Adam(net.parameters(), lr=1e-2)
    with pytest.raises(ValueError, match="augment must be None or a function"):
        nt.train_augmented(net, opt, x, y, augment=3, progress=False)
    with pytest.raises(ValueError, match="keep the batch shape"):
        nt.train_augmented(net, opt, x, y, augment=lambda xb, rng: xb[:, :, :4], progress=False)
    with pytest.raises(ValueError, match="both x_val and y_val"):
        nt.train_augmented(net, opt, x, y, x_val=x, progress=False)
    with pytest.raises(ValueError, match="one label per sample"):
        nt.train_augmented(net, opt, x, y[:5], progress=False)
