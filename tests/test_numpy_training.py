"""The NumPy trainer: batching, schedule, reproducibility, agreement with PyTorch, the MNIST builder."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers import data
from helpers.history import History
from helpers.numpy import training as nt
from helpers.numpy.losses import softmax_cross_entropy
from helpers.numpy.models import mnist_cnn
from helpers.numpy.network import to_torch
from helpers.numpy.optim import SGD, Adam


def blobs(rng, n=96, size=8):
    """Two classes of 1-channel images: a bright top half or a bright bottom half, plus noise."""
    y = rng.integers(0, 2, n)
    x = 0.3 * rng.standard_normal((n, 1, size, size))
    for i, label in enumerate(y):
        half = slice(0, size // 2) if label == 0 else slice(size // 2, size)
        x[i, 0, half] += 1.0
    return x, y


def tiny_net(seed, dtype=np.float64):
    from helpers.numpy import layers as L
    from helpers.numpy.network import Sequential

    rng = np.random.default_rng(seed)
    return Sequential([L.Conv2D(1, 2, 3, padding=1, rng=rng, dtype=dtype), L.ReLU(), L.MaxPool2D(2),
                       L.Flatten(), L.Dense(2 * 16, 2, rng=rng, dtype=dtype)])


def test_normalize_mnist():
    images = np.array([[[0, 255]]], dtype=np.uint8).repeat(2, axis=0)
    x = data.normalize_mnist(images)
    assert x.shape == (2, 1, 1, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], [-0.1307 / 0.3081, (1 - 0.1307) / 0.3081], rtol=1e-6)
    with pytest.raises(ValueError, match="uint8 digits"):
        data.normalize_mnist(np.zeros((2, 28, 28)))


def test_mnist_cnn_architecture_and_seed():
    net = mnist_cnn(seed=0)
    assert net.num_parameters() == 9098
    assert [type(layer).__name__ for layer in net] == ["Conv2D", "ReLU", "MaxPool2D", "Conv2D", "ReLU",
                                                        "MaxPool2D", "Flatten", "Dense"]
    x = np.zeros((3, 1, 28, 28), np.float32)
    out = net.forward(x)
    assert out.shape == (3, 10) and out.dtype == np.float32
    same, other = mnist_cnn(seed=0), mnist_cnn(seed=1)
    np.testing.assert_array_equal(net[0].params["w"], same[0].params["w"])
    assert not np.array_equal(net[0].params["w"], other[0].params["w"])
    assert mnist_cnn(dtype=np.float64)[7].params["w"].dtype == np.float64
    with pytest.raises(ValueError, match="channels must be a pair"):
        mnist_cnn(channels=8)


def test_batches_orders_and_schedule():
    assert nt.steps_per_epoch(10, 3) == 4 and nt.steps_per_epoch(9, 3) == 3
    orders = nt.epoch_orders(7, 3, seed=4)
    assert orders.shape == (3, 7)
    for row in orders:
        np.testing.assert_array_equal(np.sort(row), np.arange(7))
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders, nt.epoch_orders(7, 3, seed=4))
    lr = nt.cosine_lr(0.1, 10, final_lr=0.01)
    assert lr(0) == pytest.approx(0.1) and lr(10) == pytest.approx(0.01) and lr(5) == pytest.approx(0.055)
    assert lr(20) == pytest.approx(0.01)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    for step in range(10):
        assert lr(step) == pytest.approx(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: nt.steps_per_epoch(0, 3), "n must be"),
        (lambda: nt.steps_per_epoch(5, 0), "batch_size must be"),
        (lambda: nt.epoch_orders(5, 0), "epochs must be"),
        (lambda: nt.cosine_lr(0, 10), r"base_lr must be a finite number in \(0, inf\)"),
        (lambda: nt.cosine_lr(0.1, 10, final_lr=float("nan")), "final_lr must be a finite number"),
        (lambda: nt.cosine_lr(0.1, 0), "total_steps"),
    ],
)
def test_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_train_learns_and_is_reproducible():
    rng = np.random.default_rng(0)
    x, y = blobs(rng)
    xv, yv = blobs(rng, n=64)
    runs = []
    for _ in range(2):
        net = tiny_net(1)
        hist = nt.train(net, Adam(net.parameters(), lr=0.02), x, y, epochs=4, batch_size=16, seed=3,
                        x_val=xv, y_val=yv, progress=False)
        runs.append((net, hist))
    (net, hist), (net2, hist2) = runs
    assert len(hist.train_loss) == len(hist.val_acc) == 4 and len(hist.step_loss) == 4 * 6
    assert hist.train_loss[-1] < hist.train_loss[0] and hist.val_acc[-1] == 1.0
    assert nt.evaluate(net, xv, yv) == (pytest.approx(hist.val_loss[-1]), hist.val_acc[-1])
    assert hist.step_loss == hist2.step_loss  # same seeds: the same run
    for (_, _, a), (_, _, b) in zip(net.parameters(), net2.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(hist.curves()) == {"train loss", "val loss", "train acc", "val acc"}
    assert isinstance(hist, History) and len(hist) == 4 and len(hist.seconds) == 4 and min(hist.seconds) > 0
    assert hist.total_seconds == pytest.approx(sum(hist.seconds))
    assert hist.lr == [0.02] * 4 and hist.step_lr == [0.02] * 24


def test_train_equals_a_hand_written_loop_with_the_same_order_and_schedule():
    rng = np.random.default_rng(2)
    x, y = blobs(rng, n=40)
    net, ref = tiny_net(5), tiny_net(5)
    schedule = nt.cosine_lr(0.1, 2 * nt.steps_per_epoch(40, 16))
    hist = nt.train(net, SGD(net.parameters(), lr=0.1, momentum=0.9), x, y, epochs=2, batch_size=16, seed=9,
                    lr_schedule=schedule, progress=False)
    opt = SGD(ref.parameters(), lr=0.1, momentum=0.9)
    losses, step = [], 0
    for order in nt.epoch_orders(40, 2, seed=9):
        for start in range(0, 40, 16):
            idx = order[start:start + 16]
            opt.lr = schedule(step)
            loss, d = softmax_cross_entropy(ref.forward(x[idx]), y[idx])
            ref.backward(d)
            opt.step(ref.gradients())
            losses.append(loss)
            step += 1
    assert hist.step_loss == losses and hist.step_lr == [schedule(s) for s in range(6)]
    assert hist.lr == [schedule(0), schedule(3)]  # the rate at each epoch's first step
    assert np.isnan(hist.val_loss).all() and len(hist.val_acc) == 2  # no validation data: NaN, one per epoch
    assert set(hist.curves()) == {"train loss", "train acc"}
    for (_, _, a), (_, _, b) in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_train_matches_pytorch_trained_on_the_same_batches():
    rng = np.random.default_rng(4)
    x, y = blobs(rng, n=48)
    net = tiny_net(6)
    model = to_torch(net)
    nt.train(net, Adam(net.parameters(), lr=0.01), x, y, epochs=2, batch_size=16, seed=1, progress=False)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for order in nt.epoch_orders(48, 2, seed=1):
        for start in range(0, 48, 16):
            idx = order[start:start + 16]
            opt.zero_grad()
            F.cross_entropy(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx])).backward()
            opt.step()
    for (_, _, p), t_p in zip(net.parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(p, t_p.detach().numpy(), rtol=1e-6, atol=1e-8)


def test_train_errors():
    net = tiny_net(0)
    opt = Adam(net.parameters())
    x, y = np.zeros((4, 1, 8, 8)), np.zeros(4, int)
    with pytest.raises(ValueError, match="one label per sample"):
        nt.train(net, opt, x, y[:3], progress=False)
    with pytest.raises(ValueError, match="both x_val and y_val"):
        nt.train(net, opt, x, y, x_val=x, progress=False)
    with pytest.raises(ValueError, match="batch_size must be"):
        nt.train(net, opt, x, y, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="3 labels"):
        nt.evaluate(net, x, y[:3])


def test_train_mnist_cnn_is_the_lesson_recipe():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    net, hist = nt.train_mnist_cnn(x, y, epochs=2, batch_size=16, seed=3, progress=False)
    ref = mnist_cnn(seed=3)
    ref_hist = nt.train(ref, Adam(ref.parameters(), lr=2e-3), x, y, epochs=2, batch_size=16, seed=3,
                        lr_schedule=nt.cosine_lr(2e-3, 2 * 3), progress=False)
    assert hist.step_loss == ref_hist.step_loss and hist.step_lr == ref_hist.step_lr and hist.lr == ref_hist.lr
    for (_, _, a), (_, _, b) in zip(net.parameters(), ref.parameters(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert hist.train_loss[-1] < hist.train_loss[0]  # it learns even random labels by heart
