"""Interactive controls that work everywhere: live in Jupyter and Colab, precomputed on the static site.

:func:`interact` wires controls to a function like ``ipywidgets.interact``. In a live kernel it shows
the ipywidgets controls and runs the function once with the defaults, so a result is there at once.
When the book's executor runs a lesson (``tools/execute_notebooks.py`` sets ``CNN_BOOK_STATIC=1``),
it instead runs the function for every point of a small grid of control values and saves one
self-contained HTML output: plain HTML controls that switch between the precomputed results in the
browser, with no kernel, no server and no CDN. The same output carries the default result as an
ordinary PNG (or text), so viewers that do not run JavaScript (GitHub, an untrusted notebook) show a
real figure instead of ``interactive(...)``.

A drop-down's grid is all its options; a slider's grid is its values when there are at most
:data:`SLIDER_POINTS`, else that many evenly spaced values including the default. A lesson chooses
coarser or finer grids with ``static={"name": [values]}``. Sliders update on release, not while dragging.
"""

from __future__ import annotations

import html
import itertools
import json
import os
import uuid
from collections.abc import Callable, Sequence

__all__ = ["slider", "choice", "interact", "static_grid", "STATIC_ENV", "SLIDER_POINTS", "MAX_STATIC_POINTS"]

STATIC_ENV = "CNN_BOOK_STATIC"   # set to "1" by tools/execute_notebooks.py
SLIDER_POINTS = 5                # default number of precomputed values of a slider with more steps
MAX_STATIC_POINTS = 36           # largest grid (product over the controls) one call may precompute
STATIC_DPI = 72                  # figures of the precomputed grid are saved at this resolution


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


def _slider_values(control) -> list:
    lo, hi, step, value = control.min, control.max, control.step, control.value
    n_steps = int(round((hi - lo) / step))
    everything = [lo + k * step for k in range(n_steps + 1)]
    if len(everything) <= SLIDER_POINTS:
        values = everything
    else:
        picks = {int(round(k * n_steps / (SLIDER_POINTS - 1))) for k in range(SLIDER_POINTS)}
        values = [everything[k] for k in sorted(picks)]
        if not any(abs(v - value) < 1e-12 for v in values):
            values = sorted(values + [value])
    if isinstance(value, int):
        return [int(round(v)) for v in values]
    return [round(float(v), 10) for v in values]


def static_grid(name: str, control, values: Sequence | None = None) -> tuple[list[str], list, int]:
    """``(labels, values, default_index)`` of the precomputed grid of one control.

    ``values`` overrides the default grid (they must be values the live control can take too).
    """
    if hasattr(control, "options") and hasattr(control, "label"):          # a Dropdown
        pairs = [(str(label), value) for label, value in
                 ((o if isinstance(o, tuple) else (o, o)) for o in control.options)]
        if values is not None:
            known = {repr(v) for _, v in pairs}
            missing = [v for v in values if repr(v) not in known]
            if missing:
                raise ValueError(f"{name}: static values {missing} are not options of the control")
            pairs = [(label, v) for label, v in pairs if any(repr(v) == repr(x) for x in values)]
        labels, vals = [p[0] for p in pairs], [p[1] for p in pairs]
        current = control.value
    elif hasattr(control, "min") and hasattr(control, "max"):              # a slider
        vals = list(values) if values is not None else _slider_values(control)
        bad = [v for v in vals if not control.min <= v <= control.max]
        if bad:
            raise ValueError(f"{name}: static values {bad} are outside [{control.min}, {control.max}]")
        labels, current = [f"{v:g}" if isinstance(v, float) else str(v) for v in vals], control.value
    else:
        raise ValueError(f"{name}: interact takes controls made by slider() or choice(); got {type(control).__name__}")
    if not vals:
        raise ValueError(f"{name}: the static grid is empty")
    matches = [k for k, v in enumerate(vals) if repr(v) == repr(current)
               or (isinstance(v, float) and isinstance(current, float) and abs(v - current) < 1e-9)]
    if not matches:
        raise ValueError(f"{name}: the default value {current!r} must be one of the static values {vals}")
    return labels, vals, matches[0]


def _capture(func: Callable, kwargs: dict) -> tuple[str, dict]:
    """Run ``func(**kwargs)``; return (an HTML fragment of everything it showed, the first MIME bundle shown)."""
    import matplotlib.pyplot as plt
    from IPython.utils.capture import capture_output

    with plt.rc_context({"figure.dpi": STATIC_DPI}), capture_output(display=True) as cap:
        func(**kwargs)
        plt.show()
    parts, first = [], None
    if cap.stdout:
        parts.append(f"<pre>{html.escape(cap.stdout)}</pre>")
    for out in cap.outputs:
        data = out.data
        if "image/png" in data:
            first = first or data
            mime, payload = _smaller_image(data["image/png"])
            parts.append(f'<img src="data:{mime};base64,{payload}" alt="result"/>')
        elif "text/html" in data:
            parts.append(data["text/html"])
        elif "text/plain" in data:
            parts.append(f"<pre>{html.escape(data['text/plain'])}</pre>")
    if cap.stderr:
        parts.append(f"<pre>{html.escape(cap.stderr)}</pre>")
    if first is None and cap.outputs:
        first = cap.outputs[0].data
    return "".join(parts), first or {}


def _smaller_image(png_base64: str) -> tuple[str, str]:
    """The PNG, or the same picture as a JPEG (quality 85) when that is under two thirds of its size.

    Photos and image grids shrink several-fold as JPEG; line plots stay PNG, where they are smaller and sharp.
    """
    import base64
    import io

    from PIL import Image

    raw = base64.b64decode(png_base64)
    with Image.open(io.BytesIO(raw)) as img:
        buf = io.BytesIO()
        img.convert("RGB").save(buf, format="JPEG", quality=85, optimize=True)
    if buf.tell() < 2 * len(raw) / 3:
        return "image/jpeg", base64.b64encode(buf.getvalue()).decode()
    return "image/png", png_base64


_SCRIPT = """
(function () {
  var root = document.getElementById("%(id)s");
  var data = JSON.parse(root.querySelector("script.cnnsi-data").textContent);
  var inputs = root.querySelectorAll("[data-control]");
  function show() {
    var key = [];
    inputs.forEach(function (el) {
      var k = parseInt(el.value, 10);
      key.push(k);
      var shown = root.querySelector('[data-value-of="' + el.dataset.control + '"]');
      if (shown) { shown.textContent = data.labels[el.dataset.control][k]; }
    });
    var panel = data.panels[key.join(",")];
    root.querySelector(".cnnsi-output").innerHTML = panel;
    root.dataset.shown = key.join(",");
  }
  inputs.forEach(function (el) { el.addEventListener("input", show); el.addEventListener("change", show); });
})();
"""


def _static_interact(func: Callable, controls: dict, static: dict):
    from IPython.display import display

    unknown = set(static) - set(controls)
    if unknown:
        raise ValueError(f"static= names controls that interact was not given: {sorted(unknown)}")
    grids = {name: static_grid(name, c, static.get(name)) for name, c in controls.items()}
    total = 1
    for labels, _, _ in grids.values():
        total *= len(labels)
    if total > MAX_STATIC_POINTS:
        sizes = {name: len(g[0]) for name, g in grids.items()}
        raise ValueError(f"the static grid has {total} points (sizes {sizes}), more than {MAX_STATIC_POINTS}: "
                         f"pass static={{name: [fewer values]}} for some controls")
    names = list(controls)
    panels, default_key, default_bundle = {}, None, {}
    default_index = [grids[n][2] for n in names]
    for index in itertools.product(*(range(len(grids[n][0])) for n in names)):
        kwargs = {n: grids[n][1][k] for n, k in zip(names, index, strict=True)}
        fragment, bundle = _capture(func, kwargs)
        key = ",".join(map(str, index))
        panels[key] = fragment
        if list(index) == default_index:
            default_key, default_bundle = key, bundle
    uid = "cnnsi-" + uuid.uuid4().hex[:10]
    rows, notes = [], []
    for c, n in enumerate(names):
        labels, vals, default = grids[n]
        desc = html.escape(controls[n].description or n)
        if len(labels) == 1:
            rows.append(f'<label>{desc}: <b>{html.escape(labels[0])}</b></label>'
                        f'<input type="hidden" data-control="{c}" value="0"/>')
        elif hasattr(controls[n], "options") and hasattr(controls[n], "label"):
            opts = "".join(f'<option value="{k}"{" selected" if k == default else ""}>{html.escape(lab)}</option>'
                           for k, lab in enumerate(labels))
            rows.append(f'<label>{desc} <select data-control="{c}">{opts}</select></label>')
        else:
            rows.append(f'<label>{desc} <input type="range" min="0" max="{len(labels) - 1}" step="1" '
                        f'value="{default}" data-control="{c}"/> <span data-value-of="{c}">'
                        f'{html.escape(labels[default])}</span></label>')
        live = controls[n]
        if hasattr(live, "min") and hasattr(live, "max"):
            n_live = int(round((live.max - live.min) / live.step)) + 1
            if n_live > len(labels):
                notes.append(f"{desc}: {len(labels)} of its {n_live} values ({', '.join(labels)})")
        elif len(labels) < len(live.options):
            notes.append(f"{desc}: {len(labels)} of its {len(live.options)} options")
    note = ("Precomputed on this page" + (": " + "; ".join(notes) if notes else "") +
            ". Open the notebook in Jupyter or Colab for the live controls.")
    data = {"labels": [grids[n][0] for n in names], "panels": panels}
    payload = json.dumps(data).replace("</", "<\\/")
    page = (f'<div class="cnn-static-interact" id="{uid}" data-shown="{default_key}">'
            f'<div class="cnnsi-controls">{"".join(rows)}</div>'
            f'<div class="cnnsi-note">{html.escape(note)}</div>'
            f'<div class="cnnsi-output">{panels[default_key]}</div>'
            f'<script type="application/json" class="cnnsi-data">{payload}</script>'
            f"<script>{_SCRIPT % {'id': uid}}</script></div>")
    bundle = {"text/html": page, "text/plain": f"{len(panels)} precomputed results of {func.__name__}; {note}"}
    if "image/png" in default_bundle:
        bundle["image/png"] = default_bundle["image/png"]
    display(bundle, raw=True)
    return panels


def interact(func: Callable, static: dict | None = None, **controls):
    """Show ``controls`` with the output of ``func(**values)``, live in a kernel and precomputed on the site.

    In a live kernel: an ``ipywidgets.interactive`` box, run once with the defaults (returned). When the
    environment variable ``CNN_BOOK_STATIC`` is ``"1"`` (the book's executor): ``func`` runs for every
    point of the grid of control values (see :func:`static_grid`; ``static={"name": [values]}`` chooses
    a control's grid) and one HTML output switches between the results in the browser; returns the
    dict of HTML panels. Raises ``ValueError`` if the grid is larger than :data:`MAX_STATIC_POINTS`.
    """
    if not controls:
        raise ValueError("interact needs at least one control")
    if os.environ.get(STATIC_ENV) == "1":
        return _static_interact(func, controls, dict(static or {}))
    import ipywidgets as w
    from IPython.display import display

    if static:
        unknown = set(static) - set(controls)
        if unknown:
            raise ValueError(f"static= names controls that interact was not given: {sorted(unknown)}")
    box = w.interactive(func, **controls)
    display(box)
    return box
