"""A small DCGAN for 28x28 grey images (MNIST) in PyTorch: generator, discriminator, one training step.

The networks follow the architecture rules of Radford et al. (2016): no pooling (the discriminator downsamples
with strided convolutions, the generator upsamples with transposed convolutions), batch normalization in both
(not on the generator's output nor the discriminator's input), ReLU in the generator with ``tanh`` on its output,
LeakyReLU (slope 0.2) in the discriminator, and weights initialized from N(0, 0.02). Images are scaled to
``[-1, 1]``. :func:`gan_step` is one alternating update with the losses of :mod:`helpers.numpy.gan`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import positive_int

__all__ = ["dcgan_generator", "dcgan_discriminator", "dcgan_init", "gan_step", "load_dcgan_generator"]


def dcgan_generator(nz: int = 32, width: int = 32) -> nn.Sequential:
    """``z`` (N, nz, 1, 1) -> image (N, 1, 28, 28) in [-1, 1].

    ``ConvT(nz -> 2w, 7x7) - BN - ReLU`` (1x1 -> 7x7), ``ConvT(2w -> w, 4x4, stride 2, padding 1) - BN - ReLU``
    (-> 14x14), ``ConvT(w -> 1, 4x4, stride 2, padding 1) - tanh`` (-> 28x28).
    """
    nz, width = positive_int(nz, "nz"), positive_int(width, "width")
    return nn.Sequential(
        nn.ConvTranspose2d(nz, 2 * width, 7, 1, 0, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(True),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
        nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())


def dcgan_discriminator(width: int = 32) -> nn.Sequential:
    """Image (N, 1, 28, 28) in [-1, 1] -> one logit per image, shape (N,).

    ``Conv(1 -> w, 4x4, stride 2) - LeakyReLU`` (-> 14x14), ``Conv(w -> 2w, 4x4, stride 2) - BN - LeakyReLU``
    (-> 7x7), ``Conv(2w -> 1, 7x7)`` (-> 1x1), flattened.
    """
    width = positive_int(width, "width")
    return nn.Sequential(
        nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),
        nn.Conv2d(2 * width, 1, 7, 1, 0), nn.Flatten(0))


def dcgan_init(model: nn.Module) -> nn.Module:
    """DCGAN initialization in place: conv weights ~ N(0, 0.02), BN weights ~ N(1, 0.02), biases 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def gan_step(generator, discriminator, opt_g, opt_d, real: torch.Tensor, nz: int, saturating: bool = False) -> dict:
    """One alternating update on a batch ``real`` (N, 1, 28, 28) in [-1, 1]; returns the batch's numbers.

    Discriminator: ``bce(D(x), 1) + bce(D(G(z)), 0)``. Generator: the non-saturating ``bce(D(G(z)), 1)``, or
    with ``saturating=True`` the minimax ``-bce(D(G(z)), 0)``. Returns ``d_loss``, ``g_loss``, ``d_real``
    (mean D(x)) and ``d_fake`` (mean D(G(z)) before the generator update).
    """
    if real.ndim != 4 or real.shape[1:] != (1, 28, 28):
        raise ValueError(f"real must have shape (N, 1, 28, 28); got {tuple(real.shape)}")
    n = real.shape[0]
    z = torch.randn(n, nz, 1, 1)
    fake = generator(z)
    t_real, t_fake = discriminator(real), discriminator(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(t_real, torch.ones_like(t_real))
              + F.binary_cross_entropy_with_logits(t_fake, torch.zeros_like(t_fake)))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    t_gen = discriminator(fake)
    if saturating:
        g_loss = -F.binary_cross_entropy_with_logits(t_gen, torch.zeros_like(t_gen))
    else:
        g_loss = F.binary_cross_entropy_with_logits(t_gen, torch.ones_like(t_gen))
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), "d_real": torch.sigmoid(t_real).mean().item(),
            "d_fake": torch.sigmoid(t_fake).mean().item()}


def load_dcgan_generator(name: str = "dcgan_mnist"):
    """The committed generator checkpoint ``name`` in eval mode, and its training log: ``(generator, log)``."""
    from helpers.torch.checkpoints import load_checkpoint

    state, log = load_checkpoint(name)
    generator = dcgan_generator(nz=log["model"]["nz"], width=log["model"]["width"])
    generator.load_state_dict(state)
    return generator.eval(), log
