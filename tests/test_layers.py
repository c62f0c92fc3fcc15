"""NumPy layers (functions and objects) and the softmax cross-entropy against PyTorch and numerical gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy import layers, losses
from helpers.numpy.gradcheck import numerical_gradient, rel_error

F64 = dict(dtype=np.float64)


# ----------------------------------------------------------------------------- functions


@pytest.mark.parametrize("seed", range(5))
def test_relu_and_dense_functions_match_pytorch(seed):
    rng = np.random.default_rng(seed)
    n, d, m = (int(v) for v in rng.integers(1, 9, size=3))
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((m, d)), rng.standard_normal(m)
    out, cache = layers.dense_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.dense_backward(dout, cache)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = F.linear(tx, tw, tb)
    t_out.backward(torch.tensor(dout))
    for ours, theirs in ((out, t_out.detach()), (dx, tx.grad), (dw, tw.grad), (db, tb.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-10)

    r_out, r_cache = layers.relu_forward(x)
    r_dx = layers.relu_backward(dout[:, :1] * x, r_cache)
    tx = torch.tensor(x, requires_grad=True)
    t_r = F.relu(tx)
    t_r.backward(torch.tensor(dout[:, :1] * x))
    np.testing.assert_array_equal(r_out, t_r.detach().numpy())
    np.testing.assert_array_equal(r_dx, tx.grad.numpy())


def test_relu_gradient_at_zero_is_zero_like_pytorch():
    x = np.array([-1.0, 0.0, 2.0])
    out, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, [0, 0, 2])
    np.testing.assert_array_equal(layers.relu_backward(np.ones(3), cache), [0, 0, 1])
    assert layers.relu_forward(x.astype(np.float32))[0].dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_functions_match_pytorch_and_never_overflow(dtype):
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 0.5, 30.0, 1000.0], dtype=dtype)
    dout = np.linspace(-1, 1, len(x)).astype(dtype)
    for forward, backward, t_fn in ((layers.sigmoid_forward, layers.sigmoid_backward, torch.sigmoid),
                                    (layers.tanh_forward, layers.tanh_backward, torch.tanh)):
        with np.errstate(over="raise", invalid="raise"):  # an overflow in exp would raise here
            out, cache = forward(x)
            dx = backward(dout, cache)
        assert out.dtype == dtype and dx.dtype == dtype
        tx = torch.tensor(x, requires_grad=True)
        t_out = t_fn(tx)
        t_out.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-6, atol=1e-7)
    s, cache = layers.sigmoid_forward(np.array([0.0]))
    assert s[0] == 0.5 and layers.sigmoid_backward(np.ones(1), cache)[0] == 0.25  # the largest slope
    assert layers.sigmoid_forward(np.array([1, 2]))[0].dtype == np.float64
    with pytest.raises(ValueError, match="forward output's shape"):
        layers.tanh_backward(np.ones(3), layers.tanh_forward(np.ones(2))[1])


def test_dense_numerical_gradients_and_no_bias():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    out, cache = layers.dense_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.dense_backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda v: layers.dense_forward(v, w, b)[0], x, dout)) < 1e-7
    assert rel_error(dw, numerical_gradient(lambda v: layers.dense_forward(x, v, b)[0], w, dout)) < 1e-7
    assert rel_error(db, numerical_gradient(lambda v: layers.dense_forward(x, w, v)[0], b, dout)) < 1e-7
    out, cache = layers.dense_forward(x, w)
    assert layers.dense_backward(dout, cache)[2] is None


@pytest.mark.parametrize(
    "x_shape,w_shape,b_shape,message",
    [
        ((4, 2, 3), (3, 6), None, "Flatten"),
        ((5,), (3, 5), None, r"\(N, D\)"),
        ((4, 5), (5,), None, "out_features, in_features"),
        ((4, 5), (3, 4), None, "feature mismatch"),
        ((4, 5), (3, 5), (5,), "one bias per output"),
    ],
)
def test_dense_errors(x_shape, w_shape, b_shape, message):
    b = None if b_shape is None else np.zeros(b_shape)
    with pytest.raises(ValueError, match=message):
        layers.dense_forward(np.zeros(x_shape), np.zeros(w_shape), b)


def test_backward_functions_check_dout_shape():
    _, cache = layers.relu_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"forward output's shape \(2, 3\)"):
        layers.relu_backward(np.zeros((3, 2)), cache)
    _, cache = layers.dense_forward(np.zeros((2, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"forward output's shape \(2, 4\)"):
        layers.dense_backward(np.zeros((2, 3)), cache)


# ----------------------------------------------------------------------------- layer objects


def random_layer_case(rng, dtype=np.float64):
    """Every layer type with a random configuration, its PyTorch twin and a matching input."""
    n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
    h, w = (int(v) for v in rng.integers(5, 10, size=2))
    k = int(rng.integers(1, 4))
    stride, padding = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1))
    conv = layers.Conv2D(c, f, k, stride=stride, padding=padding, rng=rng, dtype=dtype)
    conv.params["b"][:] = rng.standard_normal(f)  # non-zero biases, so that their use is tested
    t_conv = torch.nn.Conv2d(c, f, k, stride=stride, padding=padding).to(torch.float64 if dtype == np.float64 else
                                                                        torch.float32)
    dense = layers.Dense(c * h, f, rng=rng, dtype=dtype)
    dense.params["b"][:] = rng.standard_normal(f)
    t_dense = torch.nn.Linear(c * h, f).to(t_conv.weight.dtype)
    for ours, theirs in ((conv, t_conv), (dense, t_dense)):
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.params["w"]))
            theirs.bias.copy_(torch.from_numpy(ours.params["b"]))
    pk = int(rng.integers(1, 4))
    ps, pp = int(rng.integers(1, 4)), int(rng.integers(0, pk // 2 + 1))
    image = (n, c, h, w)
    return [
        (conv, t_conv, image),
        (dense, t_dense, (n, c * h)),
        (layers.ReLU(), torch.nn.ReLU(), image),
        (layers.Sigmoid(), torch.nn.Sigmoid(), image),
        (layers.Tanh(), torch.nn.Tanh(), image),
        (layers.MaxPool2D(pk, ps, pp), torch.nn.MaxPool2d(pk, ps, pp), image),
        (layers.AvgPool2D(pk, ps, pp), torch.nn.AvgPool2d(pk, ps, pp), image),
        (layers.GlobalAvgPool(), torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()), image),
        (layers.Flatten(), torch.nn.Flatten(), image),
    ]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-5), (np.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(10))
def test_layer_objects_match_pytorch_modules(seed, dtype, tol):
    rng = np.random.default_rng(seed)
    for layer, module, shape in random_layer_case(rng, dtype):
        x = rng.standard_normal(shape).astype(dtype)
        out = layer.forward(x, train=True)
        assert out.dtype == dtype, layer
        dout = rng.standard_normal(out.shape).astype(dtype)
        dx = layer.backward(dout)
        assert dx.dtype == dtype and dx.shape == x.shape, layer
        tx = torch.tensor(x, requires_grad=True)
        t_out = module(tx)
        t_out.backward(torch.tensor(dout))
        np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=tol, atol=tol, err_msg=repr(layer))
        np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=tol, atol=tol, err_msg=repr(layer))
        assert layer.params.keys() == layer.grads.keys()
        for name, t_name in (("w", "weight"), ("b", "bias")):
            if name in layer.params:
                assert layer.grads[name].dtype == dtype
                t_grad = getattr(module, t_name).grad.numpy()
                np.testing.assert_allclose(layer.grads[name], t_grad, rtol=tol, atol=tol, err_msg=f"{layer} {name}")


@pytest.mark.parametrize("seed", range(3))
def test_every_layer_passes_numerical_gradient_check(seed):
    # Bound 1e-5, not 1e-7: the objective sum(out * dout) is rounded to ~1e-16 of its size, which after
    # dividing by 2h leaves ~1e-10 absolute noise; an entry of dx that nearly cancels (1e-4 when the largest
    # is 5) then shows a relative error of ~1e-6. A wrong gradient gives errors of 1e-2 and more.
    rng = np.random.default_rng(50 + seed)
    for layer, _, shape in random_layer_case(rng):
        x = rng.standard_normal(shape)
        out = layer.forward(x)
        dout = rng.standard_normal(out.shape)
        dx = layer.backward(dout)
        err = rel_error(dx, numerical_gradient(lambda v, layer=layer: layer.forward(v, train=False), x, dout))
        assert err < 1e-5, f"{layer}: input gradient relative error {err:.2e}"
        for name, p in layer.params.items():
            num = numerical_gradient(lambda _, layer=layer, x=x: layer.forward(x, train=False), p, dout)
            err = rel_error(layer.grads[name], num)
            assert err < 1e-5, f"{layer}: {name} gradient relative error {err:.2e}"


def test_he_initialization_and_reproducibility():
    conv = layers.Conv2D(16, 64, 3, rng=0)
    assert conv.params["w"].shape == (64, 16, 3, 3) and conv.params["w"].dtype == np.float32
    assert conv.params["w"].std() == pytest.approx(np.sqrt(2 / (16 * 9)), rel=0.05)
    assert conv.params["w"].mean() == pytest.approx(0, abs=0.01)
    np.testing.assert_array_equal(conv.params["b"], np.zeros(64))
    dense = layers.Dense(400, 300, rng=np.random.default_rng(1))
    assert dense.params["w"].shape == (300, 400)
    assert dense.params["w"].std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    np.testing.assert_array_equal(layers.Conv2D(2, 3, 3, rng=5).params["w"], layers.Conv2D(2, 3, 3, rng=5).params["w"])
    rng = np.random.default_rng(0)
    assert not np.array_equal(layers.Dense(4, 4, rng=rng).params["w"], layers.Dense(4, 4, rng=rng).params["w"])
    assert layers.Conv2D(1, 2, (3, 5), rng=0, bias=False).params.keys() == {"w"}
    assert repr(layers.Conv2D(1, 8, 3, padding=1, rng=0)) == "Conv2D(1, 8, kernel=3, stride=1, padding=1)"
    assert repr(layers.Dense(784, 10, rng=0)) == "Dense(784, 10)"


def test_float32_in_float32_out_and_gradients_stored_in_parameter_dtype():
    rng = np.random.default_rng(0)
    conv = layers.Conv2D(1, 2, 3, rng=rng)
    x = rng.standard_normal((2, 1, 5, 5)).astype(np.float32)
    out = conv.forward(x)
    assert out.dtype == np.float32
    conv.backward(np.ones_like(out))
    assert conv.grads["w"].dtype == np.float32 and conv.grads["b"].dtype == np.float32
    assert conv.forward(np.zeros((2, 1, 5, 5), dtype=np.uint8)).dtype == np.float32  # raw pixels are fine
    conv.forward(x.astype(np.float64))  # float64 input computes in float64 ...
    conv.backward(np.ones((2, 2, 3, 3)))
    assert conv.grads["w"].dtype == np.float32  # ... but the gradients keep the parameters' dtype


def test_inference_forward_keeps_nothing_for_backward():
    relu = layers.ReLU()
    relu.forward(np.ones((2, 3)), train=False)
    with pytest.raises(RuntimeError, match=r"forward\(x, train=True\)"):
        relu.backward(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="Dense.backward"):
        layers.Dense(3, 2, rng=0).backward(np.ones((2, 2)))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: layers.Conv2D(0, 4, 3, rng=0), "in_ch must be an int >= 1"),
        (lambda: layers.Conv2D(1, 4, 0, rng=0), "kernel must be >= 1"),
        (lambda: layers.Conv2D(1, 4, 3, stride=0, rng=0), "stride must be >= 1"),
        (lambda: layers.Conv2D(1, 4, 3, rng="seed"), "rng must be"),
        (lambda: layers.Dense(10, 0, rng=0), "out_features must be an int >= 1"),
        (lambda: layers.MaxPool2D(2, padding=2), "at most half the kernel"),
        (lambda: layers.AvgPool2D(2, stride=0), "stride must be >= 1"),
        (lambda: layers.Conv2D(3, 4, 3, rng=0).forward(np.zeros((1, 1, 8, 8))), "channel mismatch"),
        (lambda: layers.Dense(10, 2, rng=0).forward(np.zeros((1, 1, 8, 8))), "Flatten"),
        (lambda: layers.Flatten().forward(np.float64(1.0)), "batch axis"),
    ],
)
def test_layer_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_flatten_round_trip():
    flat = layers.Flatten()
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out = flat.forward(x)
    assert out.shape == (2, 12)
    np.testing.assert_array_equal(flat.backward(out), x)
    with pytest.raises(ValueError, match="2 rows of 12 features"):
        flat.backward(np.zeros((3, 8)))


# ----------------------------------------------------------------------------- softmax cross-entropy


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(5))
def test_softmax_cross_entropy_matches_pytorch(seed, dtype, tol):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 20)), int(rng.integers(2, 12))
    logits = (rng.standard_normal((n, k)) * 3).astype(dtype)
    labels = rng.integers(0, k, n)
    loss, dlogits = losses.softmax_cross_entropy(logits, labels)
    assert isinstance(loss, float) and dlogits.dtype == dtype
    t_logits = torch.tensor(logits, requires_grad=True)
    t_loss = F.cross_entropy(t_logits, torch.tensor(labels))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=tol, abs=tol)
    np.testing.assert_allclose(dlogits, t_logits.grad.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(losses.softmax(logits), F.softmax(t_logits, 1).detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(losses.log_softmax(logits), F.log_softmax(t_logits, 1).detach().numpy(),
                               rtol=tol, atol=tol)


def test_softmax_cross_entropy_numerical_gradient():
    rng = np.random.default_rng(11)
    logits, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    _, dlogits = losses.softmax_cross_entropy(logits, labels)
    num = numerical_gradient(lambda v: np.array(losses.softmax_cross_entropy(v, labels)[0]), logits, np.array(1.0))
    assert rel_error(dlogits, num) < 1e-7


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_cross_entropy_is_stable_for_huge_logits(dtype):
    logits = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 3, -1e4], [2e4, 2e4, 2e4]], dtype=dtype)
    labels = np.array([1, 1, 0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, no 0 * inf, no log(0)
        loss, dlogits = losses.softmax_cross_entropy(logits, labels)
    assert np.isfinite(loss) and np.all(np.isfinite(dlogits))
    t_logits = torch.tensor(logits, requires_grad=True)
    t_loss = F.cross_entropy(t_logits, torch.tensor(labels))
    t_loss.backward()
    assert loss == pytest.approx(t_loss.item(), rel=1e-6)
    np.testing.assert_allclose(dlogits, t_logits.grad.numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "logits,labels,message",
    [
        (np.zeros(3), np.zeros(1, int), r"\(N, K\)"),
        (np.zeros((2, 3)), np.zeros(3, int), r"shape \(2,\)"),
        (np.zeros((2, 3)), np.array([0, 3]), r"\[0, 3\)"),
        (np.zeros((2, 3)), np.array([-1, 0]), r"\[0, 3\)"),
        (np.zeros((2, 3)), np.array([0.0, 1.0]), "integer class indices"),
        (np.zeros((0, 3)), np.zeros(0, int), "empty"),
    ],
)
def test_softmax_cross_entropy_errors(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        losses.softmax_cross_entropy(logits, labels)


# --------------------------------------------------------------------------- regressions


def test_integer_inputs_give_float_results_like_torch():
    x = np.array([[-2, 0, 3]], dtype=np.int64)
    out, cache = layers.relu_forward(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[0.0, 0.0, 3.0]])
    assert layers.relu_backward(np.array([[5, 5, 5]]), cache).dtype == np.float64
    s, _ = layers.sigmoid_forward(np.array([0], dtype=np.int8))
    assert s.dtype == np.float64 and s.item() == 0.5
    assert layers.tanh_forward(np.array([1], dtype=np.float16))[0].dtype == np.float32
    # dense: uint8 inputs and integer weights used to compute (and wrap) in integers
    xi = np.full((2, 3), 200, dtype=np.uint8)
    wi = np.full((4, 3), 2, dtype=np.uint8)
    out, cache = layers.dense_forward(xi, wi, np.ones(4, dtype=np.uint8))
    ref = F.linear(torch.from_numpy(xi).double(), torch.from_numpy(wi).double(), torch.ones(4, dtype=torch.float64))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref.numpy())
    dx, dw, db = layers.dense_backward(np.full((2, 4), 0.5), cache)
    np.testing.assert_allclose(dw, np.full((4, 3), 200.0))  # 2 rows * 0.5 * 200
    np.testing.assert_allclose(db, [1.0] * 4)
    # uint8 input through float32 parameters stays float32, as in PyTorch's type promotion
    assert layers.dense_forward(xi, wi.astype(np.float32))[0].dtype == np.float32
    _, loss_grad = losses.softmax_cross_entropy(np.array([[1, 2]], dtype=np.int32), np.array([0]))
    assert loss_grad.dtype == np.float64


def _backward_cases():
    rng = np.random.default_rng(0)
    x4 = rng.standard_normal((2, 2, 4, 4))
    yield "relu", layers.relu_forward(x4), layers.relu_backward
    yield "sigmoid", layers.sigmoid_forward(x4), layers.sigmoid_backward
    yield "tanh", layers.tanh_forward(x4), layers.tanh_backward
    yield "dense", layers.dense_forward(x4.reshape(2, -1), rng.standard_normal((3, 32))), layers.dense_backward
    yield "concat", layers.concat_forward(x4, x4), layers.concat_backward
    for layer in (layers.Flatten(), layers.GlobalAvgPool(), layers.MaxPool2D(2), layers.AvgPool2D((2, 1)),
                  layers.Conv2D(2, 3, (3, 1), padding=(1, 0), rng=0, dtype=np.float64), layers.ReLU()):
        out = layer.forward(x4)
        yield type(layer).__name__, (out, None), (lambda d, _c, lay=layer: lay.backward(d))


@pytest.mark.parametrize("name,forward,backward", list(_backward_cases()),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_backward_returns_writeable_arrays_even_for_a_read_only_dout(name, forward, backward):
    out, cache = forward
    dout = np.broadcast_to(np.float64(1.0), out.shape)  # read-only
    grads = backward(dout, cache)
    for g in grads if isinstance(grads, tuple) else (grads,):
        if g is not None:
            assert g.flags.writeable, name


def test_layer_subclass_gets_the_train_flag_and_the_base_keeps_the_cache():
    seen = []

    class Scale(layers.Layer):
        def _forward(self, x, train):
            seen.append(train)
            return 2 * x if train else 3 * x, "cache"

        def _backward(self, dout, cache):
            assert cache == "cache"
            return 2 * dout

    layer = Scale()
    assert layer.forward(np.ones(2)).tolist() == [2.0, 2.0]
    assert layer.backward(np.ones(2)).tolist() == [2.0, 2.0]
    assert layer.forward(np.ones(2), train=False).tolist() == [3.0, 3.0] and seen == [True, False]
    with pytest.raises(RuntimeError, match="train=True"):
        layer.backward(np.ones(2))


def test_conv_and_pool_layers_take_ints_or_pairs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 7, 6)).astype(np.float32)
    conv_layer = layers.Conv2D(2, 3, (3, 2), stride=(2, 1), padding=[1, 0], rng=0)
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(conv_layer.params["w"]), stride=(2, 1), padding=(1, 0))
    np.testing.assert_allclose(conv_layer.forward(x), ref.numpy(), rtol=1e-5, atol=1e-5)
    out = layers.MaxPool2D((2, 3), stride=(1, 2), padding=(1, 1)).forward(x)
    ref = F.max_pool2d(torch.from_numpy(x), (2, 3), stride=(1, 2), padding=(1, 1))
    np.testing.assert_array_equal(out, ref.numpy())
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        layers.Conv2D(2, 3, 3, stride=(1, 2, 3))
