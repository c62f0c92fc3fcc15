"""Interactive controls that also mean something on the static site.

:func:`interact` wires ipywidgets controls to a function, like
``ipywidgets.interact``, but runs the function once with the default values
right away, so the executed notebook (and the static page made from it) shows
a real result next to the controls. Sliders update on release, not while
dragging, so a slow callback does not queue up work.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["slider", "choice", "interact"]


def slider(description: str, min: float, max: float, value: float, step: float = 1):
    """An int or float slider (int when every argument is an int) that updates on release."""
    import ipywidgets as w

    if not (min <= value <= max):
        raise ValueError(f"{description}: value {value} is outside [{min}, {max}]")
    is_int = all(isinstance(v, int) for v in (min, max, value, step))
    cls = w.IntSlider if is_int else w.FloatSlider
    return cls(value=value, min=min, max=max, step=step, description=description,
               continuous_update=False, style={"description_width": "initial"})


def choice(description: str, options, value=None):
    """A drop-down menu over ``options`` (a list, or a dict of label -> value)."""
    import ipywidgets as w

    opts = list(options.items()) if isinstance(options, dict) else list(options)
    if not opts:
        raise ValueError(f"{description}: needs at least one option")
    kwargs = {} if value is None else {"value": value}
    return w.Dropdown(options=opts, description=description, style={"description_width": "initial"}, **kwargs)


def interact(func: Callable, **controls):
    """Show ``controls`` above the output of ``func(**values)``; run it once with the defaults.

    Returns the ``ipywidgets.interactive`` box (already displayed).
    """
    import ipywidgets as w
    from IPython.display import display

    if not controls:
        raise ValueError("interact needs at least one control")
    box = w.interactive(func, **controls)
    display(box)
    return box
