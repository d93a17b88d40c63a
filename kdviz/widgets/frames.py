"""A panel's frames: its own draw function over a grid of its control values, for pages where no kernel runs.

Each control gives a grid (``control_grid``) that holds its current value: a FloatLogSlider log-spaced values, a
FloatSlider or IntSlider evenly spaced ones on its step, a Checkbox both, a Dropdown every option, anything else (a
free Text box) its current value only. ``render_frames`` calls ``draw(**values)`` for every combination, the first
control slowest, and keeps each figure as the PNG the widget would show. The course site switches between these
frames as the reader moves a control (kdviz.course.live). Quick mode draws fewer: at most QUICK_STEPS values of the
first control and two of each other one, through the same code.
"""

import base64
import itertools

import ipywidgets as widgets
import numpy as np

from ..runmode import quick_mode

FRAMES_MIME = "application/vnd.kdviz.frames+json"
SLIDER_STEPS = 9  # values of a slider on the site, unless its panel asks for another number
QUICK_STEPS = 3  # quick mode: values of the first control (the others get 2)


def _spaced(low, high, current, n, step):
    """About n values from low to high that hold both ends and ``current``, evenly spaced from ``current`` (the
    spacing a whole number of ``step``), the last gap before each end between half a spacing and one and a half."""
    if n <= 2 or high <= low:  # the current value, and the far end of the range where two are asked for
        return sorted({current, *([high if high - current >= current - low else low] if n == 2 else [])})
    spacing = max(step, round((high - low) / (n - 1) / step) * step)
    below = np.arange(current - spacing, low + spacing / 2, -spacing)
    above = np.arange(current + spacing, high - spacing / 2, spacing)
    return sorted({float(low), *map(float, below), float(current), *map(float, above), float(high)})


def _plain(value):
    """A numpy scalar as the Python number it holds (JSON takes only those)."""
    return value.item() if isinstance(value, np.generic) else value


def control_grid(control, n):
    """(kind, values, labels) of ``control`` for about ``n`` values (see the module's docstring); kind is
    'slider', 'checkbox', 'select' or 'fixed'."""
    if isinstance(control, widgets.FloatLogSlider):
        exponent = float(np.log(control.value) / np.log(control.base))
        exponents = _spaced(control.min, control.max, exponent, n, control.step)
        values = [control.value if e == exponent else control.base**e for e in exponents]
        return "slider", values, [format(v, control.readout_format) for v in values]
    if isinstance(control, (widgets.FloatSlider, widgets.IntSlider)):
        values = _spaced(control.min, control.max, control.value, n, control.step)
        if isinstance(control, widgets.IntSlider):
            values = [int(round(v)) for v in values]
        else:
            values = [round(v, 10) for v in values]  # 0.5 - 2 * 0.05 is 0.39999999999999997
        return "slider", values, [format(v, control.readout_format) for v in values]
    if isinstance(control, widgets.Checkbox):
        return "checkbox", [False, True], ["off", "on"]
    if isinstance(control, widgets.Dropdown):
        pairs = [option if isinstance(option, tuple) else (str(option), option) for option in control.options]
        if n < len(pairs):  # quick mode: the current option and the ones after it
            start = [value for _, value in pairs].index(control.value)
            pairs = (pairs[start:] + pairs[:start])[:n]
        return "select", [_plain(value) for _, value in pairs], [str(label) for label, _ in pairs]
    return "fixed", [_plain(control.value)], [str(control.value)]


def grid_steps(controls, steps=None):
    """How many values each control gets: ``steps`` (name -> count) where given, else SLIDER_STEPS for a slider and
    every option of a menu; in quick mode at most QUICK_STEPS for the first control and 2 for each other one."""
    steps = steps or {}
    counts = {}
    for k, (name, control) in enumerate(controls.items()):
        options = len(control.options) if isinstance(control, widgets.Dropdown) else SLIDER_STEPS
        counts[name] = steps.get(name, options)
        if quick_mode():
            counts[name] = min(counts[name], QUICK_STEPS if k == 0 else 2)
    return counts


def render_frames(draw, controls, png, steps=None):
    """{controls: [{name, description, kind, values, labels, start}], frames: [...]}: ``draw(**values)`` over the
    product of the controls' grids, the first control slowest; each frame the PNG ``png(figure)`` makes, base64, or
    {"error": message} where draw refused those values with a ValueError (the widget shows that message too)."""
    counts = grid_steps(controls, steps)
    described = []
    for name, control in controls.items():
        kind, values, labels = control_grid(control, counts[name])
        current = _plain(control.value)
        start = int(np.argmin([abs(v - current) for v in values])) if kind == "slider" else values.index(current)
        entry = {"name": name, "description": control.description, "kind": kind, "values": values, "labels": labels}
        described.append({**entry, "start": start})
    frames = []
    for combination in itertools.product(*(entry["values"] for entry in described)):
        values = {entry["name"]: value for entry, value in zip(described, combination, strict=True)}
        try:
            frames.append(base64.b64encode(png(draw(**values))).decode("ascii"))
        except ValueError as err:
            frames.append({"error": str(err)})
    return {"controls": described, "frames": frames}


def frame_index(payload, positions):
    """The index into ``payload['frames']`` of the frame at ``positions`` (one grid index per control)."""
    sizes = [len(entry["values"]) for entry in payload["controls"]]
    return int(np.ravel_multi_index(tuple(positions), sizes)) if sizes else 0
