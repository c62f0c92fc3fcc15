"""Counting a PyTorch model's parameters: the one counter every lesson and script uses."""

from __future__ import annotations

__all__ = ["count_params"]


def count_params(model, trainable_only: bool = False) -> int:
    """Number of parameter elements of a ``torch.nn.Module``.

    ``trainable_only=True`` counts only tensors with ``requires_grad`` (what an
    optimizer would update); the default counts every parameter, frozen or not.
    Buffers (batch-norm running statistics) are not parameters and never count.
    """
    if not hasattr(model, "parameters"):
        raise TypeError(f"count_params needs a torch.nn.Module; got {type(model).__name__}")
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))
