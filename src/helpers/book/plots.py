"""Small matplotlib helpers: image grids, feature maps, small matrices, training curves, animations."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["show_images", "show_feature_maps", "show_matrix", "plot_curves", "animation_html", "contrast_stretch"]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def contrast_stretch(image, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Rescale an image for display so its ``low``-th and ``high``-th percentiles map to 0 and 1 (clipped).

    Dark fluorescence micrographs look black when shown as stored; stretched, their nuclei show.
    Colour images ``(H, W, 3)`` are stretched with one pair of percentiles for all channels. Display only:
    the model never sees the stretched image.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have shape (H, W) or (H, W, C); got {image.shape}")
    if not 0 <= low < high <= 100:
        raise ValueError(f"need 0 <= low < high <= 100 (percentiles); got low={low}, high={high}")
    lo, hi = np.percentile(image, [low, high])
    if hi <= lo:
        return np.zeros_like(image)
    return np.clip((image - lo) / (hi - lo), 0.0, 1.0)


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


def show_matrix(ax, a, title: str = "", cmap: str = "Blues", vmin=None, vmax=None, fmt: str = "{:g}",
                fontsize: int = 10):
    """Draw a small 2-D array on ``ax`` as coloured cells with each number written in; return ``ax``.

    NaN cells are left blank. The text is white on dark cells and black on light ones.
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 2:
        raise ValueError(f"show_matrix draws a 2-D array; got shape {a.shape}")
    lo = np.nanmin(a) if vmin is None else vmin
    hi = np.nanmax(a) if vmax is None else vmax
    ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi)
    for (i, j), v in np.ndenumerate(a):
        if np.isfinite(v):
            dark = (v - lo) / (hi - lo + 1e-12) > 0.6
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "black")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=fontsize)
    return ax


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


# matplotlib's JavaScript animation player draws its buttons with Font Awesome from a CDN,
# which an offline page cannot reach. Plain characters work everywhere.
_BUTTON_LABELS = {
    "fa fa-minus": "&minus;", "fa fa-fast-backward": "|&#x25C0;&#x25C0;", "fa fa-step-backward": "&#x25C0;|",
    "fa fa-play fa-flip-horizontal": "&#x25C0;", "fa fa-pause": "&#x2759;&#x2759;", "fa fa-play": "&#x25B6;",
    "fa fa-step-forward": "|&#x25B6;", "fa fa-fast-forward": "&#x25B6;&#x25B6;|", "fa fa-plus": "+",
}
_CDN_LINK = re.compile(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">')
_ICON = re.compile(r'<i class="(fa [^"]+)"></i>')


def animation_html(anim, default_mode: str = "once"):
    """A matplotlib animation as a self-contained HTML player (``IPython.display.HTML``).

    Same as ``anim.to_jshtml()``, but the player's buttons are plain characters
    instead of Font Awesome icons loaded from a CDN, so it works offline and on
    the static site without failed requests.
    """
    from IPython.display import HTML

    html, found = _CDN_LINK.subn("", anim.to_jshtml(default_mode=default_mode))
    if found != 1:
        raise RuntimeError("matplotlib's animation template changed: the Font Awesome link was not found")
    html = _ICON.sub(lambda m: f'<span aria-hidden="true">{_BUTTON_LABELS.get(m.group(1), "?")}</span>', html)
    return HTML(html)
