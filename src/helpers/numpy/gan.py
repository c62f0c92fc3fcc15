"""The losses of a generative adversarial network (GAN) and their gradients w.r.t. the logits, in NumPy.

The discriminator D outputs a logit ``t``; ``D(x) = sigmoid(t)`` is its probability that ``x`` is real. All losses
are built from the binary cross-entropy on logits, ``bce(t, y) = softplus(t) - y * t`` (computed stably as
``max(t, 0) - y * t + log1p(exp(-|t|))``), whose gradient is ``sigmoid(t) - y``:

* discriminator: ``mean bce(t_real, 1) + mean bce(t_fake, 0)`` (real images labelled 1, generated ones 0);
* generator, non-saturating (what is used in practice): ``mean bce(t_fake, 1) = mean -log D(G(z))``,
  gradient ``(sigmoid(t) - 1) / N``, close to ``-1/N`` when D confidently rejects the fakes;
* generator, saturating (the minimax game of Goodfellow et al. 2014): ``-mean bce(t_fake, 0) =
  mean log(1 - D(G(z)))``, gradient ``-sigmoid(t) / N``, which vanishes exactly when D rejects the fakes.

Each function returns ``(loss, gradients)`` like :func:`helpers.numpy.losses.softmax_cross_entropy`.
"""

from __future__ import annotations

import numpy as np

from helpers.numpy.arrays import as_float

__all__ = ["sigmoid", "bce_with_logits", "discriminator_loss", "generator_loss_nonsaturating",
           "generator_loss_saturating"]


def _logits(t, name: str) -> np.ndarray:
    t = as_float(t, name)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array of discriminator logits, one per image; got shape "
                         f"{t.shape}")
    if not np.isfinite(t).all():
        raise ValueError(f"{name} must be finite")
    return t


def sigmoid(t) -> np.ndarray:
    """``1 / (1 + exp(-t))`` elementwise, without overflow for large ``|t|``."""
    t = as_float(t, "t")
    e = np.exp(-np.abs(t))
    return np.where(t >= 0, 1 / (1 + e), e / (1 + e))


def bce_with_logits(t, y):
    """Mean binary cross-entropy of logits ``t`` (N,) against targets ``y`` in [0, 1]: ``(loss, dt)``.

    Equals ``torch.nn.functional.binary_cross_entropy_with_logits(t, y)``; ``dt = (sigmoid(t) - y) / N``.
    """
    t = _logits(t, "t")
    y = np.broadcast_to(as_float(y, "y"), t.shape) if np.ndim(y) == 0 else as_float(y, "y")
    if y.shape != t.shape:
        raise ValueError(f"targets y must be a number or have the shape of the logits {t.shape}; got {y.shape}")
    if (y < 0).any() or (y > 1).any():
        raise ValueError("targets y must lie in [0, 1]")
    per_item = np.maximum(t, 0) - y * t + np.log1p(np.exp(-np.abs(t)))
    return float(np.mean(per_item, dtype=np.float64)), ((sigmoid(t) - y) / t.shape[0]).astype(t.dtype)


def discriminator_loss(real_logits, fake_logits):
    """``mean bce(real, 1) + mean bce(fake, 0)``: returns ``(loss, d_real_logits, d_fake_logits)``."""
    loss_r, d_r = bce_with_logits(_logits(real_logits, "real_logits"), 1.0)
    loss_f, d_f = bce_with_logits(_logits(fake_logits, "fake_logits"), 0.0)
    return loss_r + loss_f, d_r, d_f


def generator_loss_nonsaturating(fake_logits):
    """``mean -log D(G(z)) = mean bce(fake, 1)``: returns ``(loss, d_fake_logits)``."""
    return bce_with_logits(_logits(fake_logits, "fake_logits"), 1.0)


def generator_loss_saturating(fake_logits):
    """``mean log(1 - D(G(z))) = -mean bce(fake, 0)`` (the minimax objective): returns ``(loss, d_fake_logits)``."""
    loss, d = bce_with_logits(_logits(fake_logits, "fake_logits"), 0.0)
    return -loss, -d
