"""GAN losses in NumPy against PyTorch (BCE with logits + autograd), and the DCGAN networks' shapes and step."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.numpy.gan import (
    bce_with_logits,
    discriminator_loss,
    generator_loss_nonsaturating,
    generator_loss_saturating,
    sigmoid,
)
from helpers.torch.gan import dcgan_discriminator, dcgan_generator, dcgan_init, gan_step

RNG = np.random.default_rng(0)
CASES = [RNG.standard_normal(16), 5 * RNG.standard_normal(7), np.array([0.0]), np.array([-40.0, 40.0, -1e3, 1e3])]


def _torch_grad(f, t):
    tt = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    loss = f(tt)
    loss.backward()
    return loss.item(), tt.grad.numpy()


@pytest.mark.parametrize("t", CASES)
def test_bce_and_generator_losses_match_torch(t):
    for y in (0.0, 1.0, 0.3):
        loss, d = bce_with_logits(t, y)
        ref, dref = _torch_grad(lambda x, y=y: F.binary_cross_entropy_with_logits(x, torch.full_like(x, y)), t)
        assert np.isfinite(loss) and loss == pytest.approx(ref, rel=1e-10, abs=1e-12)
        np.testing.assert_allclose(d, dref, rtol=1e-10, atol=1e-14)
    loss, d = generator_loss_nonsaturating(t)
    ref, dref = _torch_grad(lambda x: F.binary_cross_entropy_with_logits(x, torch.ones_like(x)), t)
    assert loss == pytest.approx(ref, rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(d, dref, rtol=1e-10, atol=1e-14)
    loss, d = generator_loss_saturating(t)
    ref, dref = _torch_grad(lambda x: torch.log1p(-torch.sigmoid(x).clamp(max=1 - 1e-16)).mean(), t[np.abs(t) < 30]) \
        if (np.abs(t) < 30).all() else (None, None)
    if ref is not None:
        assert loss == pytest.approx(ref, rel=1e-8, abs=1e-12)
        np.testing.assert_allclose(d, dref, rtol=1e-8, atol=1e-14)


@pytest.mark.parametrize("n_real,n_fake", [(8, 8), (3, 11), (1, 1)])
def test_discriminator_loss_matches_torch(n_real, n_fake):
    tr, tf = 3 * RNG.standard_normal(n_real), 3 * RNG.standard_normal(n_fake)
    loss, dr, df = discriminator_loss(tr, tf)
    a = torch.tensor(tr, requires_grad=True)
    b = torch.tensor(tf, requires_grad=True)
    ref = F.binary_cross_entropy_with_logits(a, torch.ones_like(a)) + F.binary_cross_entropy_with_logits(
        b, torch.zeros_like(b))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    np.testing.assert_allclose(dr, a.grad.numpy(), rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(df, b.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_saturating_gradient_vanishes_where_nonsaturating_does_not():
    t = np.array([-8.0, -6.0])                      # D confidently rejects the fakes
    _, d_sat = generator_loss_saturating(t)
    _, d_ns = generator_loss_nonsaturating(t)
    assert np.all(np.abs(d_sat) < 2e-3) and np.all(np.abs(d_ns) > 0.49)


def test_sigmoid_is_stable_and_matches_torch():
    t = np.array([-1000.0, -30.0, 0.0, 2.5, 1000.0])
    np.testing.assert_allclose(sigmoid(t), torch.sigmoid(torch.tensor(t)).numpy(), rtol=1e-12, atol=0)
    assert sigmoid(np.float32(3.0)).dtype == np.float32


def test_float32_stays_float32():
    assert bce_with_logits(np.ones(3, np.float32), 1.0)[1].dtype == np.float32


@pytest.mark.parametrize("call,match", [
    (lambda: bce_with_logits(np.ones((2, 2)), 1.0), "1-D array"),
    (lambda: bce_with_logits(np.array([]), 1.0), "non-empty"),
    (lambda: bce_with_logits(np.ones(3), np.ones(2)), "shape of the logits"),
    (lambda: bce_with_logits(np.ones(3), 2.0), r"\[0, 1\]"),
    (lambda: discriminator_loss(np.ones(3), np.array([np.nan])), "finite"),
    (lambda: generator_loss_saturating(np.ones((1, 3))), "fake_logits"),
])
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_dcgan_shapes_init_and_step():
    torch.manual_seed(0)
    g, d = dcgan_init(dcgan_generator(8, 8)), dcgan_init(dcgan_discriminator(8))
    z = torch.randn(5, 8, 1, 1)
    x = g(z)
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert d(x).shape == (5,)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert all(abs(m.weight.std().item() - 0.02) < 0.01 for m in convs)
    pools = (torch.nn.MaxPool2d, torch.nn.AvgPool2d)
    assert not any(isinstance(m, pools) for m in list(g.modules()) + list(d.modules()))
    og, od = torch.optim.Adam(g.parameters(), 1e-3), torch.optim.Adam(d.parameters(), 1e-3)
    before = [p.clone() for p in list(g.parameters()) + list(d.parameters())]
    real = torch.rand(6, 1, 28, 28) * 2 - 1
    r = gan_step(g, d, og, od, real, 8)
    assert set(r) == {"d_loss", "g_loss", "d_real", "d_fake"} and all(np.isfinite(list(r.values())))
    assert all(not torch.equal(a, b) for a, b in zip(before, list(g.parameters()) + list(d.parameters()), strict=True))
    r2 = gan_step(g, d, og, od, real, 8, saturating=True)
    assert r2["g_loss"] < 0                          # log(1 - D(G(z))) is negative
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        gan_step(g, d, og, od, torch.zeros(2, 28, 28), 8)
    with pytest.raises(ValueError, match="nz"):
        dcgan_generator(0)
