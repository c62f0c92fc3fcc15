"""gradcheck, seeding, plots and widgets."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers import gradcheck, plots, seeding, widgets


def test_numerical_gradient_of_known_function():
    x = np.array([1.0, -2.0, 3.0])
    dout = np.array([1.0, 2.0, -1.0])
    grad = gradcheck.numerical_gradient(lambda v: v**3, x, dout)
    np.testing.assert_allclose(grad, 3 * x**2 * dout, rtol=1e-8)
    assert x.tolist() == [1.0, -2.0, 3.0]  # restored
    with pytest.raises(ValueError, match="float64"):
        gradcheck.numerical_gradient(lambda v: v, x.astype(np.float32), dout)


def test_rel_error():
    assert gradcheck.rel_error(np.ones(3), np.ones(3)) == 0
    assert gradcheck.rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        gradcheck.rel_error(np.ones(2), np.ones(3))


def test_seed_everything_is_reproducible():
    import torch

    a = (seeding.seed_everything(7).standard_normal(3), np.random.rand(), torch.rand(2))
    b = (seeding.seed_everything(7).standard_normal(3), np.random.rand(), torch.rand(2))
    assert np.array_equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    with pytest.raises(ValueError):
        seeding.seed_everything(-1)


def test_seed_everything_threads_and_env_override(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("CNN_BOOK_THREADS", raising=False)
        seeding.seed_everything(0, threads=1)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("CNN_BOOK_THREADS", "2")
        seeding.seed_everything(0, threads=1)
        assert torch.get_num_threads() == 2
        monkeypatch.setenv("CNN_BOOK_THREADS", "many")
        with pytest.raises(ValueError, match="CNN_BOOK_THREADS"):
            seeding.seed_everything(0)
    finally:
        torch.set_num_threads(before)


def test_show_images_grid_and_errors():
    fig = plots.show_images([np.zeros((4, 4))] * 5 + [np.zeros((4, 4, 3))], titles=list("abcdef"), ncols=4)
    assert len(fig.axes) == 8 and fig.axes[5].get_title() == "f"
    with pytest.raises(ValueError, match="shape"):
        plots.show_images([np.zeros(4)])
    with pytest.raises(ValueError, match="titles"):
        plots.show_images([np.zeros((2, 2))], titles=["a", "b"])


def test_show_matrix_writes_every_finite_number():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    plots.show_matrix(ax, [[1, 2], [np.nan, 4]], title="m")
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "4"] and ax.get_title() == "m"
    assert ax.texts[-1].get_color() == "white" and ax.texts[0].get_color() == "black"
    with pytest.raises(ValueError, match="2-D"):
        plots.show_matrix(ax, np.zeros((2, 2, 2)))


def test_animation_html_needs_no_cdn():
    import matplotlib.pyplot as plt
    from matplotlib import animation

    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 0])
    anim = animation.FuncAnimation(fig, lambda i: (line.set_ydata([i, i]),), frames=3)
    html = plots.animation_html(anim).data
    plt.close(fig)
    assert "font-awesome" not in html and 'class="fa' not in html
    assert html.count("data:image/png;base64") == 3  # one frame each
    assert "&#x25B6;" in html  # the play button has a visible label


def test_feature_maps_and_curves():
    fig = plots.show_feature_maps(np.zeros((3, 5, 5)))
    assert [ax.get_title() for ax in fig.axes] == ["ch 0", "ch 1", "ch 2"]
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        plots.show_feature_maps(np.zeros((1, 3, 5, 5)))
    ax = plots.plot_curves({"train": [3, 2, 1], "val": [3, 2.5, 2.4]}, ylabel="loss")
    assert [line.get_label() for line in ax.get_lines()] == ["train", "val"]


def test_widgets_run_callback_once_with_defaults():
    calls = []
    box = widgets.interact(lambda k, s: calls.append((k, s)), k=widgets.choice("kernel", {"a": 1, "b": 2}),
                           s=widgets.slider("stride", 1, 3, 2))
    assert calls == [(1, 2)]
    box.children[1].value = 3
    assert calls[-1] == (1, 3)
    assert isinstance(widgets.slider("x", 0.0, 1.0, 0.5, 0.1).value, float)
    with pytest.raises(ValueError, match="outside"):
        widgets.slider("x", 0, 1, 5)
