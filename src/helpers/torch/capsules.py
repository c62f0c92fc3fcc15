"""A small capsule network in PyTorch: squash, dynamic routing (differentiable) and a CapsNet for MNIST.

The NumPy twins of :func:`squash` and :func:`dynamic_routing` are in :mod:`helpers.numpy.capsules`
(same arguments, same results). :class:`TinyCapsNet` is Sabour, Frosst & Hinton's architecture shrunk
to train in seconds on a CPU: a 9x9 convolution, a "primary capsule" convolution whose channels are grouped
into vectors, and one class capsule per digit reached by routing-by-agreement; the length of a class
capsule is the network's score for that class. There is no reconstruction decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import integer, positive_int

__all__ = ["squash", "dynamic_routing", "margin_loss", "TinyCapsNet"]


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """``|s|^2 / (1 + |s|^2) * s / |s|`` along ``dim`` (see :func:`helpers.numpy.capsules.squash`)."""
    sq = (s * s).sum(dim=dim, keepdim=True)
    return sq / (1 + sq) * s / torch.sqrt(sq + eps)


def dynamic_routing(u_hat: torch.Tensor, iterations: int = 3, eps: float = 1e-8, detach: bool = False):
    """Routing by agreement; ``u_hat`` is ``(N, n_in, n_out, d_out)``; returns ``(v, c)`` as the NumPy version.

    ``detach=True`` stops gradients through the agreement updates of the logits (the coupling coefficients
    are then treated as constants by backpropagation, a common simplification); the default keeps them.
    """
    if u_hat.ndim != 4:
        raise ValueError(f"u_hat must have shape (N, n_in, n_out, d_out); got {tuple(u_hat.shape)}")
    iterations = integer(iterations, "iterations", minimum=1)
    b = torch.zeros(u_hat.shape[:3], dtype=u_hat.dtype, device=u_hat.device)
    agree_with = u_hat.detach() if detach else u_hat
    for r in range(iterations):
        c = F.softmax(b, dim=2)
        v = squash(torch.einsum("nij,nijk->njk", c, u_hat), eps=eps)
        if r < iterations - 1:
            b = b + torch.einsum("nijk,njk->nij", agree_with, v.detach() if detach else v)
    return v, c


def margin_loss(lengths: torch.Tensor, y: torch.Tensor, m_plus: float = 0.9, m_minus: float = 0.1,
                lam: float = 0.5) -> torch.Tensor:
    """Capsule margin loss averaged over the batch (see :func:`helpers.numpy.capsules.margin_loss`)."""
    t = F.one_hot(y, lengths.shape[1]).to(lengths.dtype)
    per = t * F.relu(m_plus - lengths) ** 2 + lam * (1 - t) * F.relu(lengths - m_minus) ** 2
    return per.sum(dim=1).mean()


class TinyCapsNet(nn.Module):
    """Conv(1->``conv``, 9x9) - ReLU - primary capsules - routing - 10 class capsules; input ``(N, 1, 28, 28)``.

    Primary capsules: a 9x9 convolution with stride 2 to ``primary * d_primary`` channels on the 20x20 map,
    giving ``6 * 6 * primary`` capsules of dimension ``d_primary`` (squashed). Each predicts each of the
    ``n_classes`` class capsules (dimension ``d_class``) with its own matrix. :meth:`forward` returns the class
    capsules ``(N, n_classes, d_class)``; their lengths are the class scores. :meth:`capsules` also returns the
    primary capsules, the prediction vectors and the coupling coefficients, for pictures.
    """

    def __init__(self, conv: int = 16, primary: int = 8, d_primary: int = 4, d_class: int = 8, n_classes: int = 10,
                 iterations: int = 3):
        super().__init__()
        conv, primary = positive_int(conv, "conv"), positive_int(primary, "primary")
        d_primary, d_class = positive_int(d_primary, "d_primary"), positive_int(d_class, "d_class")
        n_classes, self.iterations = positive_int(n_classes, "n_classes"), positive_int(iterations, "iterations")
        self.primary, self.d_primary = primary, d_primary
        self.conv = nn.Conv2d(1, conv, 9)
        self.prim = nn.Conv2d(conv, primary * d_primary, 9, stride=2)
        self.W = nn.Parameter(0.05 * torch.randn(6 * 6 * primary, n_classes, d_class, d_primary))

    def capsules(self, x: torch.Tensor, iterations: int | None = None):
        """``(u, u_hat, v, c)``: primary capsules, predictions, class capsules and coupling coefficients."""
        if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
            raise ValueError(f"x must have shape (N, 1, 28, 28); got {tuple(x.shape)}")
        h = self.prim(F.relu(self.conv(x)))                                  # (N, P*D, 6, 6)
        n = len(x)
        u = h.view(n, self.primary, self.d_primary, 6, 6).permute(0, 1, 3, 4, 2).reshape(n, -1, self.d_primary)
        u = squash(u)
        i, j, k, d = self.W.shape                                            # u_hat[n,i,j] = W[i,j] @ u[n,i]
        u_hat = torch.matmul(self.W.view(i, j * k, d), u.permute(1, 2, 0)).view(i, j, k, n).permute(3, 0, 1, 2)
        v, c = dynamic_routing(u_hat, self.iterations if iterations is None else iterations)
        return u, u_hat, v, c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.capsules(x)[2]
