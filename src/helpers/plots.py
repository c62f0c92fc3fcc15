"""Small matplotlib helpers: image grids, feature maps and training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["show_images", "show_feature_maps", "plot_curves"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None, ncols: int = 8,
                size: float = 1.6, cmap: str = "gray", vmin=None, vmax=None, suptitle: str | None = None):
    """Show a list of images ``(H, W)`` or ``(H, W, 3)`` in a grid; return the figure.

    Grey images use ``cmap``; each is scaled on its own unless ``vmin``/``vmax`` are given.
    """
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    for k, im in enumerate(images):
        if np.ndim(im) not in (2, 3) or (np.ndim(im) == 3 and np.shape(im)[-1] not in (3, 4)):
            raise ValueError(f"image {k} must have shape (H, W) or (H, W, 3); got {np.shape(im)}")
    plt = _plt()
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k, im in enumerate(images):
        ax = axes.flat[k]
        ax.imshow(im, cmap=cmap if np.ndim(im) == 2 else None, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_feature_maps(maps: np.ndarray, ncols: int = 8, size: float = 1.4, cmap: str = "viridis",
                      titles: Sequence[str] | None = None, suptitle: str | None = None):
    """Show the channels of one feature volume ``(C, H, W)`` side by side; return the figure."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"feature maps must have shape (C, H, W) for one image; got {maps.shape}")
    titles = titles if titles is not None else [f"ch {c}" for c in range(len(maps))]
    return show_images(list(maps), titles=titles, ncols=ncols, size=size, cmap=cmap, suptitle=suptitle)


def plot_curves(history: Mapping[str, Sequence[float]], xlabel: str = "epoch", ylabel: str = "",
                title: str | None = None, logy: bool = False, ax=None):
    """Plot named series (e.g. ``{"train loss": [...], "val loss": [...]}``) on one axis; return it."""
    if not history:
        raise ValueError("plot_curves needs at least one series")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name, values in history.items():
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
