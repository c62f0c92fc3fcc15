"""The executor stores figures as palette PNGs when that is smaller, without changing what they show."""

import base64
import io

import matplotlib
import numpy as np
from execute_notebooks import compact_png
from PIL import Image

matplotlib.use("Agg")


def _figure_png() -> str:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.plot(np.sin(np.linspace(0, 6, 200)), label="sin")
    ax.imshow(np.random.default_rng(0).random((20, 20)), extent=(0, 60, -1, 1), aspect="auto", alpha=0.5)
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _pixels(b64):
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"), dtype=float)


def test_a_plot_gets_smaller_and_looks_the_same():
    before = _figure_png()
    after = compact_png(before)
    assert len(after) < len(before)
    a, b = _pixels(before), _pixels(after)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 2.0            # mean change under 2 of 255 grey levels


def test_a_transparent_image_and_an_incompressible_one_are_left_alone():
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(buf, "PNG")
    transparent = base64.b64encode(buf.getvalue()).decode()
    assert compact_png(transparent) == transparent
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), (1, 2, 3)).save(buf, "PNG", optimize=True)
    tiny = base64.b64encode(buf.getvalue()).decode()
    assert len(compact_png(tiny)) <= len(tiny)                 # never larger than what it was given
