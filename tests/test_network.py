"""A whole NumPy CNN: numerical gradient check, equality with the same network in PyTorch, training steps."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy import layers, optim
from helpers.numpy.conv import conv2d_backward, conv2d_forward
from helpers.numpy.losses import softmax_cross_entropy
from helpers.numpy.network import Sequential, numerical_check, to_torch


def small_cnn(rng, dtype=np.float64, in_ch=2, channels=3, size=6, classes=4):
    """Conv2D -> ReLU -> MaxPool2D -> Flatten -> Dense, with non-zero biases."""
    net = Sequential([
        layers.Conv2D(in_ch, channels, 3, padding=1, rng=rng, dtype=dtype),
        layers.ReLU(),
        layers.MaxPool2D(2),
        layers.Flatten(),
        layers.Dense(channels * (size // 2) ** 2, classes, rng=rng, dtype=dtype),
    ])
    for _, name, p in net.parameters():
        if name == "b":
            p[:] = 0.1 * rng.standard_normal(p.shape)
    return net


def torch_twin(net):
    """The same network in PyTorch, with the NumPy network's weights copied in."""
    conv, dense = net[0], net[4]
    dtype = torch.float64 if conv.params["w"].dtype == np.float64 else torch.float32
    model = torch.nn.Sequential(
        torch.nn.Conv2d(conv.in_ch, conv.out_ch, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(dense.in_features, dense.out_features),
    ).to(dtype)
    with torch.no_grad():
        for ours, theirs in ((conv, model[0]), (dense, model[4])):
            theirs.weight.copy_(torch.from_numpy(ours.params["w"]))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"]))
    return model


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_whole_network_passes_numerical_gradient_check(seed):
    rng = np.random.default_rng(seed)
    net = small_cnn(rng)
    x, y = rng.standard_normal((3, 2, 6, 6)), rng.integers(0, 4, 3)
    errors = numerical_check(net, x, y)
    assert set(errors) == {"input", "0.w", "0.b", "4.w", "4.b"}
    report = ", ".join(f"{k}: {v:.1e}" for k, v in errors.items())
    assert max(errors.values()) < 1e-6, f"relative errors {report}"


def test_numerical_check_can_sample_entries_and_needs_float64():
    rng = np.random.default_rng(1)
    net = small_cnn(rng)
    x, y = rng.standard_normal((2, 2, 6, 6)), rng.integers(0, 4, 2)
    errors = numerical_check(net, x, y, num_checks=5)
    assert max(errors.values()) < 1e-6, errors
    with pytest.raises(ValueError, match="float64 parameters"):
        numerical_check(small_cnn(rng, dtype=np.float32), x, y)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(3))
def test_same_loss_and_gradients_as_pytorch(seed, dtype, tol):
    rng = np.random.default_rng(10 + seed)
    net = small_cnn(rng, dtype, in_ch=1, channels=4, size=8, classes=5)
    model = torch_twin(net)
    x, y = rng.standard_normal((6, 1, 8, 8)).astype(dtype), rng.integers(0, 5, 6)

    loss, dlogits = softmax_cross_entropy(net.forward(x, train=True), y)
    dx = net.backward(dlogits)
    tx = torch.tensor(x, requires_grad=True)
    t_loss = F.cross_entropy(model(tx), torch.tensor(y))
    t_loss.backward()

    assert loss == pytest.approx(t_loss.item(), rel=tol, abs=tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol)
    t_grads = [model[0].weight.grad, model[0].bias.grad, model[4].weight.grad, model[4].bias.grad]
    for (i, name, g), t_g in zip(net.gradients(), t_grads, strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, t_g.numpy(), rtol=tol, atol=tol, err_msg=f"layer {i} {name}")


def test_training_steps_with_adam_match_pytorch():
    rng = np.random.default_rng(5)
    net = small_cnn(rng, in_ch=1, channels=4, size=8, classes=5)
    model = torch_twin(net)
    opt = optim.Adam(net.parameters(), lr=0.01)
    t_opt = torch.optim.Adam(model.parameters(), lr=0.01)
    x, y = rng.standard_normal((8, 1, 8, 8)), rng.integers(0, 5, 8)
    losses, t_losses = [], []
    for _ in range(5):
        loss, dlogits = softmax_cross_entropy(net.forward(x), y)
        net.backward(dlogits)
        opt.step(net.gradients())
        t_opt.zero_grad()
        t_loss = F.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
        t_loss.backward()
        t_opt.step()
        losses.append(loss)
        t_losses.append(t_loss.item())
    np.testing.assert_allclose(losses, t_losses, rtol=1e-6)
    assert losses[-1] < losses[0]
    for (_, _, p), t_p in zip(net.parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(p, t_p.detach().numpy(), rtol=1e-6, atol=1e-6)


def test_sequential_bookkeeping_and_predict():
    rng = np.random.default_rng(0)
    net = small_cnn(rng, np.float32, in_ch=1, channels=2, size=8, classes=3)
    assert [(i, name) for i, name, _ in net.parameters()] == [(0, "w"), (0, "b"), (4, "w"), (4, "b")]
    assert net.parameters()[0][2] is net[0].params["w"]  # the arrays themselves, for in-place updates
    assert net.num_parameters() == 2 * 9 + 2 + 3 * 32 + 3
    assert len(net) == 5 and "(2) MaxPool2D(kernel=2" in repr(net)
    x = rng.standard_normal((10, 1, 8, 8)).astype(np.float32)
    full = net.forward(x, train=False)
    assert full.dtype == np.float32
    np.testing.assert_allclose(net.predict(x, batch_size=3), full, rtol=1e-6, atol=1e-6)
    y = full.argmax(axis=1)
    assert net.accuracy(x, y, batch_size=4) == 1.0
    with pytest.raises(RuntimeError, match="train=True"):
        net.backward(np.ones_like(full))  # predict keeps nothing for a backward pass


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: Sequential([]), "at least one layer"),
        (lambda: Sequential([layers.ReLU(), "relu"]), "layer 1 .* is not a layer"),
        (lambda: Sequential([layers.ReLU()]).predict(np.zeros((2, 3)), batch_size=0), "batch_size"),
        (lambda: Sequential([layers.ReLU()]).predict(np.zeros((0, 3))), "empty"),
        (lambda: Sequential([layers.ReLU()]).accuracy(np.zeros((2, 3)), np.zeros(3, int)), "3 labels"),
    ],
)
def test_sequential_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_save_and_load_weights_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    net, other = small_cnn(rng, np.float32), small_cnn(rng, np.float32)
    path = tmp_path / "weights.npz"
    net.save_weights(path)
    with np.load(path) as f:
        assert sorted(f.files) == ["0.b", "0.w", "4.b", "4.w"]
    w_before = other[0].params["w"]
    opt = optim.Adam(other.parameters())
    other.load_weights(path)
    assert other[0].params["w"] is w_before  # in place: the optimizer still holds the live arrays
    assert opt.params[0] is other[0].params["w"]
    x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(other.predict(x), net.predict(x))
    state = net.state_dict()
    state["0.w"][:] = 0  # a copy: the network is untouched
    assert np.any(net[0].params["w"] != 0)
    other.load_weights(state)
    np.testing.assert_array_equal(other[0].params["w"], 0)
    with pytest.raises(ValueError, match="missing .*'4.b'"):
        other.load_weights({k: v for k, v in net.state_dict().items() if k != "4.b"})
    with pytest.raises(ValueError, match="0.w has shape"):
        other.load_weights({**net.state_dict(), "0.w": np.zeros((1, 2, 3, 3))})
    with pytest.raises(ValueError, match=".npz path or a dict"):
        other.load_weights([1, 2])


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_to_torch_builds_the_same_network(dtype, tol):
    rng = np.random.default_rng(8)
    net = Sequential([
        layers.Conv2D(2, 3, 3, stride=2, padding=1, rng=rng, dtype=dtype), layers.Sigmoid(),
        layers.AvgPool2D(2), layers.Conv2D(3, 4, 1, rng=rng, dtype=dtype, bias=False), layers.Tanh(),
        layers.MaxPool2D(2, stride=1), layers.GlobalAvgPool(), layers.Dense(4, 5, rng=rng, dtype=dtype),
        layers.ReLU(), layers.Dense(5, 3, rng=rng, dtype=dtype),
    ])
    model = to_torch(net)
    assert len(model) == len(net)
    x, y = rng.standard_normal((3, 2, 12, 12)).astype(dtype), rng.integers(0, 3, 3)
    loss, dlogits = softmax_cross_entropy(net.forward(x), y)
    dx = net.backward(dlogits)
    tx = torch.tensor(x, requires_grad=True)
    t_loss = F.cross_entropy(model(tx), torch.tensor(y))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=tol)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol)
    for i, name, g in net.gradients():
        t_g = getattr(model[i], {"w": "weight", "b": "bias"}[name]).grad.numpy()
        np.testing.assert_allclose(g, t_g, rtol=tol, atol=tol, err_msg=f"layer {i} {name}")
    with pytest.raises(ValueError, match="no PyTorch counterpart"):
        to_torch(Sequential([layers.ReLU(), type("Odd", (layers.Layer,), {})()]))
    with pytest.raises(ValueError, match="Sequential"):
        to_torch([layers.ReLU()])


def test_numerical_check_norm_reduction():
    rng = np.random.default_rng(4)
    net = small_cnn(rng)
    x, y = rng.standard_normal((2, 2, 6, 6)), rng.integers(0, 4, 2)
    by_norm = numerical_check(net, x, y, reduce="norm")
    by_max = numerical_check(net, x, y)
    assert by_norm.keys() == by_max.keys()
    assert all(by_norm[k] <= by_max[k] + 1e-12 for k in by_norm)  # an average is never worse than the worst
    assert max(by_norm.values()) < 1e-8
    original = net[4]._backward

    def broken(dout, cache):
        dx = original(dout, cache)
        net[4].grads["w"] = net[4].grads["w"] * 1.1
        return dx

    net[4]._backward = broken
    assert numerical_check(net, x, y, reduce="norm")["4.w"] > 1e-2
    with pytest.raises(ValueError, match="reduce must be"):
        numerical_check(net, x, y, reduce="mean")


def test_sequential_with_train_dependent_layers_and_a_pair_stride_block():
    # BatchNorm, Dropout and ResidualBlock now use the Layer base protocol: Sequential must see no difference
    from helpers.numpy.batchnorm import BatchNorm
    from helpers.numpy.dropout import Dropout
    from helpers.numpy.residual import ResidualBlock

    rng = np.random.default_rng(0)
    net = Sequential([
        layers.Conv2D(1, 2, 3, padding=(1, 1), rng=rng, dtype=np.float64, bias=False), BatchNorm(2, dtype=np.float64),
        layers.ReLU(), ResidualBlock(2, 3, stride=(2, 2), rng=rng, dtype=np.float64), Dropout(0.0),
        layers.GlobalAvgPool(), layers.Dense(3, 4, rng=rng, dtype=np.float64),
    ])
    x, y = rng.standard_normal((4, 1, 6, 6)), np.array([0, 1, 2, 3])
    errors = numerical_check(net, x, y, num_checks=5)
    assert max(errors.values()) < 1e-6, errors
    eval_out = net.forward(x, train=False)
    np.testing.assert_array_equal(eval_out, net.predict(x))
    with pytest.raises(RuntimeError, match="train=True"):
        net.backward(np.ones_like(eval_out))


def test_backward_without_input_gradient_gives_the_same_parameter_gradients():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 2, 6, 6)).astype(np.float32), rng.integers(0, 4, 6)
    net = small_cnn(rng, dtype=np.float32)
    grads = {}
    for input_grad in (True, False):
        _, dlogits = softmax_cross_entropy(net.forward(x, train=True), y)
        dx = net.backward(dlogits, input_grad=input_grad)
        grads[input_grad] = [g.copy() for _, _, g in net.gradients()]
        assert (dx is None) == (not input_grad) and (dx is None or dx.shape == x.shape)
    assert all(np.array_equal(a, b) for a, b in zip(grads[True], grads[False], strict=True))


def test_a_first_layer_that_cannot_skip_its_input_gradient_still_returns_it():
    net = Sequential([layers.Flatten(), layers.Dense(16, 3, rng=np.random.default_rng(0))])
    x = np.random.default_rng(1).standard_normal((2, 1, 4, 4)).astype(np.float32)
    net.forward(x, train=True)
    dx = net.backward(np.ones((2, 3), np.float32), input_grad=False)
    assert dx is not None and dx.shape == x.shape


def test_conv2d_backward_can_skip_dx():
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 2, 9, 9), (4, 2, 3, 3), (4,)))
    out, cache = conv2d_forward(x, w, b, stride=2, padding=1)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dout, cache)
    none, dw2, db2 = conv2d_backward(dout, cache, input_grad=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)
