"""Draw the book's diagrams (the figures that are drawings, not results) into book/figures/*.svg.

    python tools/draw_diagrams.py            # redraw all
    python tools/draw_diagrams.py --check    # fail if a committed SVG differs from what this script draws

Matplotlib only, no fonts or tools beyond the book's environment; the SVGs carry no date, so redrawing an
unchanged diagram gives the same file.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Polygon, Rectangle  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "book" / "figures"
plt.rcParams.update({"svg.hashsalt": "cnn-book", "font.size": 10, "svg.fonttype": "path"})


def _arrow(ax, a, b, color="k", style="-|>", lw=1.4, ls="-", rad=0.0):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=12, color=color, lw=lw, linestyle=ls,
                                 connectionstyle=f"arc3,rad={rad}"))


def _box(ax, xy, w, h, text, fc="#e8eef7", ec="#35507a", fontsize=9):
    ax.add_patch(Rectangle(xy, w, h, fc=fc, ec=ec, lw=1.2))
    ax.text(xy[0] + w / 2, xy[1] + h / 2, text, ha="center", va="center", fontsize=fontsize)


def _cuboid(ax, x, y, w, h, d, fc, ec="#333", label=None):
    """A box seen slightly from above and the right: front face w x h, depth d drawn diagonally."""
    dx, dy = 0.5 * d, 0.35 * d
    ax.add_patch(Polygon([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], fc=fc, ec=ec))
    ax.add_patch(Polygon([(x, y + h), (x + w, y + h), (x + w + dx, y + h + dy), (x + dx, y + h + dy)], fc=fc, ec=ec,
                         alpha=0.75))
    ax.add_patch(Polygon([(x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)], fc=fc, ec=ec,
                         alpha=0.55))
    if label:
        ax.text(x + w / 2, y - 0.35, label, ha="center", va="top", fontsize=9)


def convolution_volume():
    fig, ax = plt.subplots(figsize=(9, 3.6))
    _cuboid(ax, 0.0, 0.5, 3.0, 3.0, 1.2, "#dde7f3", label="input  C x H x W  (3 x 7 x 7)")
    _cuboid(ax, 1.2, 1.7, 0.9, 0.9, 1.2, "#f4b183")
    ax.text(1.65, 3.15, "receptive field\nC x k x k", ha="center", fontsize=8)
    _cuboid(ax, 4.2, 1.3, 0.9, 0.9, 1.2, "#f4b183", label="one filter  C x k x k")
    ax.text(5.55, 1.75, "+ b", fontsize=10)
    _cuboid(ax, 7.0, 0.9, 2.1, 2.1, 0.15, "#c5e0b4", label="output map  H' x W'  (one per filter)")
    ax.add_patch(Rectangle((7.6, 1.9), 0.3, 0.3, fc="#70ad47", ec="#333"))
    _arrow(ax, (2.6, 2.3), (4.1, 1.9), color="#c55a11")
    ax.text(3.4, 2.45, "multiply\nelementwise", ha="center", fontsize=8, color="#c55a11")
    _arrow(ax, (6.0, 1.8), (7.6, 2.05), color="#548235")
    ax.text(6.8, 2.35, "sum all C k k\nproducts: 1 number", ha="center", fontsize=8, color="#548235")
    ax.text(4.6, 4.1, "F filters give F output maps: the output is F x H' x W'", ha="center", fontsize=10)
    ax.set(xlim=(-0.3, 10.0), ylim=(-0.6, 4.4), aspect="equal")
    ax.axis("off")
    return fig


def im2col():
    fig, ax = plt.subplots(figsize=(9, 3.4))
    for r in range(4):
        for c in range(4):
            ax.add_patch(Rectangle((c * 0.5, 2.5 - r * 0.5), 0.5, 0.5, fc="#dde7f3", ec="#35507a"))
            ax.text(c * 0.5 + 0.25, 2.75 - r * 0.5, str(4 * r + c), ha="center", va="center", fontsize=8)
    ax.add_patch(Rectangle((0, 1.5), 1.5, 1.5, fill=False, ec="#c55a11", lw=2.5))
    ax.text(1.0, 0.65, "4 x 4 image, 3 x 3 kernel:\n4 positions", ha="center", fontsize=9)
    _arrow(ax, (2.3, 2.0), (3.2, 2.0))
    ax.text(2.75, 2.2, "im2col", ha="center", fontsize=9)
    cols = [[0, 1, 2, 4, 5, 6, 8, 9, 10], [1, 2, 3, 5, 6, 7, 9, 10, 11], [4, 5, 6, 8, 9, 10, 12, 13, 14],
            [5, 6, 7, 9, 10, 11, 13, 14, 15]]
    for j, col in enumerate(cols):
        for i, v in enumerate(col):
            ax.add_patch(Rectangle((3.4 + j * 0.4, 3.2 - i * 0.33), 0.4, 0.33,
                                   fc="#fbe5d6" if j == 0 else "#dde7f3", ec="#35507a"))
            ax.text(3.6 + j * 0.4, 3.36 - i * 0.33, str(v), ha="center", va="center", fontsize=7)
    ax.text(4.2, 0.1, "(C k k) x (positions)\none receptive field per column", ha="center", fontsize=9)
    ax.text(5.55, 1.9, "=", fontsize=16)
    for i in range(2):
        for j in range(9):
            ax.add_patch(Rectangle((5.9 + j * 0.22, 2.3 - i * 0.3), 0.22, 0.3, fc="#f4b183", ec="#333", lw=0.6))
    ax.text(6.9, 1.45, "weights F x (C k k)", ha="center", fontsize=9)
    ax.text(8.15, 1.9, "@  columns", fontsize=10)
    ax.text(7.4, 0.6, "one matrix product = the whole layer\nmemory: each pixel copied up to k k times",
            ha="center", fontsize=9)
    ax.set(xlim=(-0.2, 9.3), ylim=(-0.3, 3.7), aspect="equal")
    ax.axis("off")
    return fig


def backprop_graph():
    fig, ax = plt.subplots(figsize=(10, 2.9))
    names = ["x", "conv\n(W1, b1)", "ReLU", "max pool", "flatten", "dense\n(W2, b2)", "softmax +\ncross-entropy", "L"]
    xs = [0.3 + 1.3 * i for i in range(len(names))]
    for x, name in zip(xs, names, strict=True):
        _box(ax, (x - 0.5, 1.2), 1.0, 0.8, name, fc="#e2f0d9" if name in ("x", "L") else "#e8eef7")
    for a, b in zip(xs[:-1], xs[1:], strict=True):
        _arrow(ax, (a + 0.5, 1.75), (b - 0.5, 1.75), color="#35507a")
        _arrow(ax, (b - 0.5, 1.45), (a + 0.5, 1.45), color="#c00000", ls="--")
    ax.text(xs[0] - 0.5, 2.45, "forward: each layer caches what its backward pass needs", color="#35507a", fontsize=9)
    ax.text(xs[0] - 0.5, 0.75, "backward: each layer maps dL/d(output) to dL/d(input) and dL/d(its weights)",
            color="#c00000", fontsize=9)
    notes = {5: "dL/dz = p - onehot", 3: "routes to the max", 2: "masks x < 0", 1: "dL/dW1 = x * dL/dy"}
    for i, note in notes.items():
        ax.text((xs[i] + xs[i + 1]) / 2 if i == 5 else xs[i], 0.95 if i != 5 else 2.15, note, ha="center",
                fontsize=7.5, color="#7f0000")
    ax.set(xlim=(-0.4, xs[-1] + 0.7), ylim=(0.5, 2.7))
    ax.axis("off")
    return fig


def residual_blocks():
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    for ax, (title, layers) in zip(axes, [("basic block (ResNet-18/20/34)", ["3x3 conv, BN", "ReLU", "3x3 conv, BN"]),
                                          ("bottleneck (ResNet-50)", ["1x1 conv, BN (256 -> 64)", "ReLU",
                                                                      "3x3 conv, BN (64)", "ReLU",
                                                                      "1x1 conv, BN (64 -> 256)"])], strict=True):
        ys = [3.6 - 0.62 * i for i in range(len(layers))]
        for y, name in zip(ys, layers, strict=True):
            _box(ax, (0.3, y), 2.4, 0.42, name, fc="#e8eef7" if name != "ReLU" else "#fff2cc", fontsize=8.5)
        for a, b in zip(ys[:-1], ys[1:], strict=True):
            _arrow(ax, (1.5, a), (1.5, b + 0.42))
        _arrow(ax, (1.5, 4.55), (1.5, ys[0] + 0.42))
        ax.text(1.5, 4.62, "x", ha="center", va="bottom")
        bottom = ys[-1]
        ax.add_patch(plt.Circle((1.5, bottom - 0.45), 0.17, fc="white", ec="k"))
        ax.text(1.5, bottom - 0.45, "+", ha="center", va="center", fontsize=12)
        _arrow(ax, (1.5, bottom), (1.5, bottom - 0.28))
        ax.plot([1.5, 2.95, 2.95], [4.35, 4.35, bottom - 0.45], color="#c00000", lw=1.4)
        _arrow(ax, (2.95, bottom - 0.45), (1.68, bottom - 0.45), color="#c00000")
        ax.text(3.05, (4.3 + bottom) / 2, "identity shortcut\n(1x1 projection if\nthe shape changes)",
                fontsize=8, color="#c00000", ha="left", va="center")
        _box(ax, (0.9, bottom - 1.15), 1.2, 0.38, "ReLU", fc="#fff2cc", fontsize=8.5)
        _arrow(ax, (1.5, bottom - 0.62), (1.5, bottom - 0.77))
        ax.text(1.5, bottom - 1.3, "F(x) + x, then ReLU", ha="center", va="top", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.set(xlim=(0, 4.6), ylim=(bottom - 1.7, 5.0))
        ax.axis("off")
    fig.tight_layout()
    return fig


def unet_shape():
    fig, ax = plt.subplots(figsize=(9.5, 4.4))
    levels = [(96, 16), (48, 32), (24, 64), (12, 128)]

    def column(i):
        size, ch = levels[i]
        h = 0.9 * size / 24
        return 3.9 - i * 1.0 - h / 2, h

    x_enc = [0.4 + 1.0 * i for i in range(3)] + [4.6]          # the last level is the bottleneck, centred
    x_dec = [8.6 - 1.0 * i for i in range(3)]
    for i, (size, ch) in enumerate(levels):
        y, h = column(i)
        ax.add_patch(Rectangle((x_enc[i], y), 0.35, h, fc="#dde7f3", ec="#35507a"))
        ax.text(x_enc[i] + 0.17, y - 0.08, f"{ch} ch\n{size}x{size}", ha="center", va="top", fontsize=7)
        if i == len(levels) - 1:
            continue
        ny, nh = column(i + 1)
        _arrow(ax, (x_enc[i] + 0.35, y + 0.05), (x_enc[i + 1], ny + nh - 0.05), color="#c00000")
        ax.add_patch(Rectangle((x_dec[i], y), 0.35, h, fc="#c5e0b4", ec="#548235"))
        ax.add_patch(Rectangle((x_dec[i] - 0.35, y), 0.35, h, fc="#dde7f3", ec="#35507a", alpha=0.6))
        _arrow(ax, (x_enc[i] + 0.4, y + h / 2), (x_dec[i] - 0.4, y + h / 2), color="#7f7f7f", ls="--")
        ax.text((x_enc[i] + x_dec[i]) / 2, y + h / 2 + 0.08, "skip: copy and concatenate", ha="center",
                fontsize=7, color="#595959")
        below = x_enc[3] + 0.35 if i == 2 else x_dec[i + 1] + 0.35
        _arrow(ax, (below, ny + nh - 0.05), (x_dec[i] - 0.35, y + 0.05), color="#548235")
    y0, h0 = column(0)
    ax.add_patch(Rectangle((9.35, y0), 0.35, h0, fc="#fbe5d6", ec="#c55a11"))
    ax.text(9.52, y0 - 0.08, "1x1 conv:\n1 logit\nper pixel", ha="center", va="top", fontsize=7)
    _arrow(ax, (8.95, y0 + h0 / 2), (9.35, y0 + h0 / 2))
    ax.text(0.4, -0.35, "encoder: conv blocks, then 2x2 max pool (red)", fontsize=8.5, color="#c00000")
    ax.text(5.4, -0.35, "decoder: 2x2 transposed conv (green),\nconcatenate the skip, conv block", fontsize=8.5,
            color="#548235", va="top")
    ax.set(xlim=(0, 10), ylim=(-0.9, 5.9))
    ax.axis("off")
    return fig


DIAGRAMS = {"convolution_volume": convolution_volume, "im2col": im2col, "backprop_graph": backprop_graph,
            "residual_blocks": residual_blocks, "unet_shape": unet_shape}


def render(fn) -> bytes:
    fig = fn()
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed SVGs, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name, fn in DIAGRAMS.items():
        path, svg = OUT / f"{name}.svg", render(fn)
        if args.check:
            if not path.exists() or path.read_bytes() != svg:
                stale.append(path.name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_bytes(svg)
    if stale:
        print("out of date (run python tools/draw_diagrams.py):", ", ".join(stale))
        return 1
    print("diagrams:", ", ".join(DIAGRAMS), "up to date" if args.check else f"written to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
