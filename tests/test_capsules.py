"""NumPy capsules (squash, predictions, dynamic routing, margin loss) against the PyTorch versions and by hand."""

import numpy as np
import pytest
import torch

from helpers.numpy.capsules import capsule_predictions, dynamic_routing, margin_loss, squash
from helpers.torch import capsules as tc


def test_squash_matches_torch_and_definition():
    rng = np.random.default_rng(0)
    s = rng.normal(0, 2, (5, 7, 8))
    v = squash(s)
    np.testing.assert_allclose(v, tc.squash(torch.from_numpy(s)).numpy(), atol=1e-12)
    norm = np.linalg.norm(s, axis=-1, keepdims=True)
    np.testing.assert_allclose(v, norm**2 / (1 + norm**2) * s / norm, rtol=1e-7)
    lengths = np.linalg.norm(v, axis=-1)
    assert np.all(lengths < 1) and np.all(lengths >= 0)
    # direction kept; zero stays zero; other axis
    np.testing.assert_allclose(np.sum(v * s, -1), lengths * norm[..., 0], rtol=1e-7)
    assert np.all(squash(np.zeros((2, 3))) == 0)
    np.testing.assert_allclose(squash(s, axis=1), tc.squash(torch.from_numpy(s), dim=1).numpy(), atol=1e-12)
    assert squash(s.astype(np.float32)).dtype == np.float32
    # short vectors shrink quadratically, long ones approach length 1
    assert np.linalg.norm(squash(np.array([1e-2, 0.0]))) == pytest.approx(1e-4, rel=1e-3)
    assert np.linalg.norm(squash(np.array([1e3, 0.0]))) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("iterations", [1, 2, 3, 5])
def test_routing_matches_torch(iterations):
    rng = np.random.default_rng(iterations)
    u, W = rng.normal(size=(3, 12, 4)), rng.normal(0, 0.5, (12, 5, 6, 4))
    u_hat = capsule_predictions(u, W)
    ref_u_hat = torch.einsum("ijkl,nil->nijk", torch.from_numpy(W), torch.from_numpy(u))
    np.testing.assert_allclose(u_hat, ref_u_hat.numpy(), atol=1e-12)
    v, c = dynamic_routing(u_hat, iterations)
    tv, tcoef = tc.dynamic_routing(ref_u_hat, iterations)
    np.testing.assert_allclose(v, tv.numpy(), atol=1e-10)
    np.testing.assert_allclose(c, tcoef.numpy(), atol=1e-10)
    np.testing.assert_allclose(c.sum(axis=2), 1.0, atol=1e-12)
    tv2, _ = tc.dynamic_routing(ref_u_hat, iterations, detach=True)      # same forward values
    np.testing.assert_allclose(tv2.numpy(), tv.numpy(), atol=1e-12)


def test_routing_by_hand_and_agreement():
    rng = np.random.default_rng(7)
    u_hat = rng.normal(size=(2, 6, 3, 4))
    v1, c1 = dynamic_routing(u_hat, 1)                       # one round: uniform coupling 1/3 to each of 3
    np.testing.assert_allclose(c1, 1 / 3)
    np.testing.assert_allclose(v1, squash(u_hat.sum(axis=1) / 3), atol=1e-12)
    # two rounds written out by hand
    b = np.einsum("nijk,njk->nij", u_hat, v1)
    c2 = np.exp(b) / np.exp(b).sum(axis=2, keepdims=True)
    v2, c2_got = dynamic_routing(u_hat, 2)
    np.testing.assert_allclose(c2_got, c2, atol=1e-12)
    np.testing.assert_allclose(v2, squash(np.einsum("nij,nijk->njk", c2, u_hat)), atol=1e-12)
    # agreement: lower capsules that all predict the same vector for upper capsule 0 route there
    agree = np.zeros((1, 8, 2, 3))
    agree[0, :, 0] = [0.3, 0.0, 0.0]
    scattered = rng.normal(size=(8, 3))
    agree[0, :, 1] = 0.3 * scattered / np.linalg.norm(scattered, axis=1, keepdims=True)  # same lengths
    mean_c0 = [dynamic_routing(agree, r)[1][0, :, 0].mean() for r in (1, 2, 3)]
    assert mean_c0[0] == pytest.approx(0.5) and mean_c0[0] < mean_c0[1] < mean_c0[2]
    v, _ = dynamic_routing(agree, 3)
    assert np.linalg.norm(v[0, 0]) > np.linalg.norm(v[0, 1])


def test_margin_loss_matches_torch():
    rng = np.random.default_rng(3)
    lengths, y = rng.uniform(0, 1, (9, 10)), rng.integers(0, 10, 9)
    ref = tc.margin_loss(torch.from_numpy(lengths), torch.from_numpy(y)).item()
    assert margin_loss(lengths, y) == pytest.approx(ref, rel=1e-12)
    perfect = np.full((2, 3), 0.05)
    perfect[[0, 1], [2, 0]] = 0.95
    assert margin_loss(perfect, np.array([2, 0])) == 0.0
    assert margin_loss(np.array([[0.0, 1.0]]), np.array([0])) == pytest.approx(0.81 + 0.5 * 0.81)


def test_tiny_capsnet_shapes_and_numpy_routing():
    torch.manual_seed(0)
    net = tc.TinyCapsNet(conv=4, primary=2, d_primary=4, d_class=8)
    x = torch.rand(3, 1, 28, 28)
    u, u_hat, v, c = net.capsules(x)
    assert u.shape == (3, 72, 4) and u_hat.shape == (3, 72, 10, 8) and v.shape == (3, 10, 8) and c.shape == (3, 72, 10)
    uh = u_hat.detach().double().numpy()
    np.testing.assert_allclose(capsule_predictions(u.detach().double().numpy(), net.W.detach().double().numpy()), uh,
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dynamic_routing(uh, 3)[0], v.detach().double().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="28, 28"):
        net(torch.rand(2, 1, 32, 32))


def test_errors():
    with pytest.raises(ValueError, match="real numeric"):
        squash(np.array(["a"]))
    with pytest.raises(ValueError, match="finite"):
        squash(np.array([np.nan, 1.0]))
    with pytest.raises(ValueError, match="axis"):
        squash(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="W must have shape"):
        capsule_predictions(np.zeros((1, 4, 3)), np.zeros((4, 2, 5, 2)))
    with pytest.raises(ValueError, match="4 dimensions"):
        dynamic_routing(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="iterations"):
        dynamic_routing(np.zeros((1, 2, 3, 4)), 0)
    with pytest.raises(ValueError, match="labels must be"):
        margin_loss(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="integer labels"):
        margin_loss(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="u_hat must have shape"):
        tc.dynamic_routing(torch.zeros(2, 3, 4))
