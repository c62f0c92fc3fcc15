"""gradcheck, seeding, plots and widgets."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from helpers import seeding
from helpers.book import plots, widgets
from helpers.numpy import gradcheck


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


def test_seed_everything_turns_on_deterministic_algorithms_without_loading_the_compiler():
    import subprocess
    import sys
    code = ("import sys, torch; from helpers.seeding import seed_everything; seed_everything(0); "
            "print(torch.are_deterministic_algorithms_enabled(), "
            "torch.is_deterministic_algorithms_warn_only_enabled(), 'torch._inductor' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"]
    code = ("import torch, torch._inductor.config as c; from helpers.seeding import seed_everything; "
            "seed_everything(0); print(torch.are_deterministic_algorithms_enabled(), c.deterministic)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]          # with the compiler loaded, its flag is set too


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


# --------------------------------------------------------------------------- helpers.numpy.arrays (the dtype rule)


def test_float_dtype_rule_of_the_numpy_engine():
    from helpers.numpy import arrays

    u8, i64, b = np.zeros(2, np.uint8), np.zeros(2, np.int64), np.zeros(2, bool)
    f16, f32, f64 = np.zeros(2, np.float16), np.zeros(2, np.float32), np.zeros(2)
    assert arrays.float_dtype(u8) == arrays.float_dtype(b) == arrays.float_dtype(i64, u8) == np.float64
    assert arrays.float_dtype(u8, f32) == arrays.float_dtype(i64, f32, None) == np.float32  # as torch's promotion
    assert arrays.float_dtype(f16) == arrays.float_dtype(f16, u8) == np.float32
    assert arrays.float_dtype(f32, f64) == np.float64
    assert arrays.as_float(f32) is f32  # no copy
    assert arrays.as_float([1, 2]).dtype == np.float64
    assert arrays.as_float(u8, "x", np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="dout must be an array of real numbers"):
        arrays.as_float(np.array(["a"]), "dout")
    ro = np.broadcast_to(np.float64(1.0), (2, 2))
    assert arrays.writeable(ro).flags.writeable and arrays.writeable(f64) is f64


def test_engine_imports_no_private_names_across_modules():
    import ast
    import pathlib

    import helpers.numpy

    root = pathlib.Path(helpers.numpy.__file__).parent
    for path in [*root.glob("*.py"), root.parent / "torch" / "visualize.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
                private = [a.name for a in node.names if a.name.startswith("_") and a.name != "__future__"]
                assert not private, f"{path.name} imports private {private} from {node.module}"


def test_grad_cam_helpers_are_public():
    from helpers.numpy.visualize import cam_from_activations, class_array

    assert class_array(2, 3).tolist() == [2, 2, 2] and class_array([0, 1], 2).dtype == np.int64
    with pytest.raises(ValueError, match="classes must be"):
        class_array([0.5, 1.0], 2)
    acts = np.ones((1, 2, 2, 2))
    grads = np.stack([np.ones((2, 2)), -3 * np.ones((2, 2))])[None]
    np.testing.assert_array_equal(cam_from_activations(acts, grads), np.zeros((1, 2, 2)))  # ReLU(1 - 3)
    np.testing.assert_array_equal(cam_from_activations(acts, -grads), 2 * np.ones((1, 2, 2)))


def test_contrast_stretch_maps_percentiles_to_0_and_1():
    dark = np.linspace(0.0, 0.1, 101).reshape(1, 101)        # a dim image: values 0 ... 0.1
    out = plots.contrast_stretch(dark, 0, 100)
    assert out.min() == 0.0 and out.max() == 1.0 and np.allclose(out, dark / 0.1)
    out = plots.contrast_stretch(dark, 10, 90)
    assert out[0, 10] == 0.0 and out[0, 90] == 1.0 and out[0, 50] == pytest.approx(0.5)
    assert (plots.contrast_stretch(np.full((3, 3), 0.4)) == 0).all()   # a flat image stays flat
    with pytest.raises(ValueError, match="percentiles"):
        plots.contrast_stretch(dark, 50, 50)


def test_torch_threads_sets_and_restores_the_thread_count():
    import torch

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with seeding.torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), seeding.torch_threads(other):   # restored when the block raises too
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive int"), seeding.torch_threads(bad):
            pass
