"""Controls that work without a kernel: helpers.book.widgets.interact in the executor's static mode."""

import json
import re

import pytest

from helpers.book import widgets


@pytest.fixture
def shown(monkeypatch):
    """Static mode on, and every display() call recorded instead of shown."""
    import IPython.display
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.instance()                       # a shell, so that output capture works as in a kernel
    monkeypatch.setenv(widgets.STATIC_ENV, "1")
    calls = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: calls.append((a, k)))
    return calls


def test_static_grid_of_dropdowns_and_sliders():
    labels, values, default = widgets.static_grid("k", widgets.choice("kernel", {"box": 1, "gauss": 2}, value=2))
    assert labels == ["box", "gauss"] and values == [1, 2] and default == 1
    labels, values, default = widgets.static_grid("s", widgets.slider("stride", 1, 3, 2))
    assert values == [1, 2, 3] and default == 1                     # few steps: every value
    _, values, default = widgets.static_grid("d", widgets.slider("digit", 0, 299, 7))
    assert len(values) == widgets.SLIDER_POINTS + 1 and values[0] == 0 and values[-1] == 299 and values[default] == 7
    _, values, _ = widgets.static_grid("t", widgets.slider("threshold", 0.05, 0.95, 0.45, 0.05))
    assert 0.45 in values and all(isinstance(v, float) for v in values)
    _, values, default = widgets.static_grid("s", widgets.slider("stride", 1, 4, 1), [1, 4])
    assert values == [1, 4] and default == 0
    with pytest.raises(ValueError, match="default value"):
        widgets.static_grid("s", widgets.slider("stride", 1, 4, 2), [1, 4])
    with pytest.raises(ValueError, match="outside"):
        widgets.static_grid("s", widgets.slider("stride", 1, 4, 1), [1, 9])
    with pytest.raises(ValueError, match="not options"):
        widgets.static_grid("k", widgets.choice("kernel", ["a", "b"], value="a"), ["a", "z"])


def test_static_interact_precomputes_every_combination(shown):
    def report(mode, k):
        print(f"mode={mode} k={k}")

    panels = widgets.interact(report, static={"k": [1, 3]}, mode=widgets.choice("mode", ["max", "avg"], value="avg"),
                              k=widgets.slider("window", 1, 7, 3))
    assert set(panels) == {"0,0", "0,1", "1,0", "1,1"}
    assert "mode=max k=3" in panels["0,1"] and "mode=avg k=1" in panels["1,0"]
    (bundle,), kwargs = shown[-1]
    assert kwargs == {"raw": True}
    page = bundle["text/html"]
    assert 'data-shown="1,1"' in page and "mode=avg k=3" in page.split("cnnsi-output")[1].split("</div>")[0]
    data = json.loads(re.search(r'class="cnnsi-data">(.*?)</script>', page, re.S).group(1))
    assert data["panels"] == panels and data["labels"] == [["max", "avg"], ["1", "3"]]
    assert "window: 2 of its 7 values (1, 3)" in page                    # the static page says what it precomputed
    assert "<select" in page and 'type="range"' in page and "http" not in page.split("<script>")[1]


def _png(array):
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_static_interact_keeps_the_default_figure_for_viewers_without_javascript(shown):
    import numpy as np
    from IPython.core.display_functions import display  # the real one (the fixture replaced IPython.display's)
    from IPython.display import Image

    noisy = _png(np.random.default_rng(0).integers(0, 256, (64, 64, 3)))     # a photo-like picture
    flat = _png(np.full((64, 64, 3), 200))                                    # a plot-like one
    panels = widgets.interact(lambda v: display(Image(data=noisy if v == "photo" else flat)),
                              v=widgets.choice("v", ["photo", "plot"]))
    (bundle,), _ = shown[-1]
    assert bundle["image/png"]                                  # GitHub and untrusted notebooks show this
    assert "data:image/jpeg;base64," in panels["0"]             # photos are stored as JPEG (smaller) ...
    assert "data:image/png;base64," in panels["1"]              # ... plots stay PNG


def test_static_interact_refuses_a_grid_too_large_to_store(shown):
    with pytest.raises(ValueError, match="more than"):
        widgets.interact(lambda a, b: None, a=widgets.slider("a", 0, 100, 0), b=widgets.slider("b", 0, 100, 0),
                         static={"a": list(range(10)), "b": list(range(10))})
    with pytest.raises(ValueError, match="not given"):
        widgets.interact(lambda a: None, a=widgets.slider("a", 0, 3, 0), static={"z": [1]})
