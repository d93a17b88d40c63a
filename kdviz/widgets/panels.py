"""One function per interactive panel: ipywidgets controls around a ``kdviz.figures.softmax`` function.

A ``Panel`` redraws its figure into an image widget whenever a control changes. A ValueError
from bad input (a typo in the logits box) is shown in red under the controls; anything else
propagates, so tests that set control values see it.

Every panel also teaches without a kernel: its display bundle carries a PNG of the figure it shows
when displayed (``StaticPNG``), next to the widget view. JupyterLab draws the live widget for output
of the running session (its widget renderer outranks image/png) and the PNG for output it does not
trust, such as a notebook opened from disk; GitHub shows the PNG, and exported HTML shows the widget
state saved in the notebook.
"""

import base64
import functools
import hashlib
import html
import inspect
import io
import json

import ipywidgets as widgets
import numpy as np

from .._checks import class_index, logit_list, same_shape, slider_start
from ..figures.beyond import plot_kl_split
from ..figures.language import plot_next_symbols, plot_sampling, plot_two_jobs, plot_two_modes
from ..figures.mnist import plot_class_similarity
from ..figures.softmax import plot_probabilities, plot_soft_share, plot_temperature_curves, plot_turning_point
from ..language import LETTERS, N_SYMBOLS, source_contexts
from ..runmode import frames_wanted
from ..temperature import random_logits
from .frames import FRAMES_MIME, render_frames


def figure_png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def bundle_with_png(bundle, png):
    """A display bundle with ``png`` (bytes) added as image/png, base64-encoded as notebooks store it."""
    bundle = dict(bundle or {})
    if png:
        bundle["image/png"] = base64.b64encode(png).decode("ascii")
    return bundle


class StaticPNG:
    """Mix into an ipywidgets widget class to put a picture of it in its output.

    ``class MyWidget(StaticPNG, widgets.VBox)`` with a method ``static_png()`` that returns PNG bytes
    (or None): displaying the widget then publishes the widget view and that PNG in one bundle.
    """

    def static_png(self):
        return None

    def _repr_mimebundle_(self, **kwargs):
        return bundle_with_png(super()._repr_mimebundle_(**kwargs), self.static_png())


class Panel(StaticPNG, widgets.VBox):
    """Controls, a message line and the figure ``draw(**control_values)`` returns.

    ``frames()`` draws the figure over a grid of the control values (kdviz.widgets.frames; ``steps``: how many
    values a slider gets there, by name); when ``runmode.frames_wanted()`` the display bundle carries them as
    FRAMES_MIME, so the course site moves the panel's sliders without a kernel.
    """

    def __init__(self, draw, controls, steps=None):
        self.draw, self.controls, self.steps = draw, controls, dict(steps or {})
        self.recipe = None  # {function, arguments} of the panel function that made it (``remembered``)
        self.message = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.figure, self.error = None, None
        for control in controls.values():
            control.observe(lambda change: self.refresh(), names="value")
        super().__init__([widgets.HBox(list(controls.values())), self.message, self.image])
        self.refresh()

    def values(self):
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self):
        try:
            figure = self.draw(**self.values())
        except ValueError as err:
            self.error = str(err)
            self.message.value = f"<span style='color:#b00020'>{html.escape(self.error)}</span>"
            return
        self.error, self.message.value = None, ""
        self.figure = figure
        self.image.value = figure_png(figure)

    def static_png(self):
        """The figure the panel shows now, as PNG bytes (None before a first successful drawing)."""
        return self.image.value or None

    def frames(self):
        """The panel's figure over a grid of its control values (``kdviz.widgets.frames.render_frames``)."""
        return {**render_frames(self.draw, self.controls, figure_png, self.steps), "panel": self.recipe}

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if frames_wanted():
            bundle[FRAMES_MIME] = self.frames()
        return bundle


def _plain(value):
    """``value`` with numpy arrays and numbers as lists and Python numbers, as JSON holds them."""
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


RECIPE_CHARS = 20000  # arguments longer than this as JSON (a test set's logits) are kept as their sha256


def remembered(make):
    """Decorate a panel function: the panel it returns keeps ``recipe``, the call that made it: {function, arguments}
    or, where the arguments are long, {function, arguments_sha256} (the sha256 of their JSON); None where an argument
    is not plain data. A browser test redraws the panel's frames from it."""

    @functools.wraps(make)
    def made(*args, **kwargs):
        panel = make(*args, **kwargs)
        arguments = _plain(dict(inspect.signature(make).bind(*args, **kwargs).arguments))
        try:
            text = json.dumps(arguments, allow_nan=False)
        except (TypeError, ValueError):
            panel.recipe = None
            return panel
        if len(text) > RECIPE_CHARS:
            panel.recipe = {"function": make.__name__, "arguments_sha256": hashlib.sha256(text.encode()).hexdigest()}
        else:
            panel.recipe = {"function": make.__name__, "arguments": arguments}
        return panel

    return made


def parse_logits(text):
    """'1, 3, 2' -> array([1., 3., 2.]); a clear ValueError for anything else."""
    try:
        values = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"logits must be numbers separated by commas, got {text!r}") from None
    if len(values) < 2:
        raise ValueError("enter at least two logits, separated by commas")
    return np.array(values)


def temperature_slider(value=1.0, low=0.05, high=100.0, description="T"):
    """A log-scale temperature slider."""
    return widgets.FloatLogSlider(
        value=slider_start(value, low, high, description),
        base=10,
        min=np.log10(low),
        max=np.log10(high),
        step=0.01,
        description=description,
        continuous_update=True,
        readout_format=".3g",
    )


@remembered
def temperature_panel(logits=(1.0, 3.0, 2.0), T=1.0):
    """Bar chart of q(T) with a log T slider (0.05 to 100) and an editable logits box."""
    controls = {
        "T": temperature_slider(T),
        "logits": widgets.Text(
            value=", ".join(f"{v:g}" for v in logits), description="logits", continuous_update=False
        ),
    }
    return Panel(lambda T, logits: plot_probabilities(parse_logits(logits), T), controls, steps={"T": 33})


@remembered
def curves_panel(n=7, seed=0, T_max=5.0, log_T=False):
    """q_i(T) curves for n random logits: sliders for n, seed, T range and a log-axis switch."""
    controls = {
        "n": widgets.IntSlider(value=slider_start(n, 2, 20, "n", integer=True), min=2, max=20, description="classes n"),
        "seed": widgets.IntSlider(
            value=slider_start(seed, 0, 50, "seed", integer=True), min=0, max=50, description="seed"
        ),
        "T_max": widgets.FloatLogSlider(
            value=slider_start(T_max, 1, 1000, "T_max"),
            base=10,
            min=0,
            max=3,
            step=0.05,
            description="T max",
            continuous_update=False,
        ),
        "log_T": widgets.Checkbox(value=log_T, description="log T axis"),
    }

    def draw(n, seed, T_max, log_T):
        return plot_temperature_curves(random_logits(n, seed), T_max=T_max, log_T=log_T)

    return Panel(draw, controls, steps={"n": 4, "seed": 3, "T_max": 4})


@remembered
def turning_panel(logits, i=None):
    """Pick a class and see q_i(T), the sign of dq_i/dT and its turning temperature T*."""
    logits = logit_list(logits)
    options = [(f"class {k} (z = {z:.2f})", k) for k, z in enumerate(logits)]
    i = int(np.argsort(logits)[-2]) if i is None else class_index(i, len(logits), "class")
    controls = {"i": widgets.Dropdown(options=options, value=i, description="class")}
    return Panel(lambda i: plot_turning_point(logits, i), controls)


@remembered
def soft_share_panel(student_logits, teacher_logits, label, T=5.0, alpha=0.5):
    """Sliders for T and alpha: how much of the blended gradient the soft term supplies, with and without T^2."""
    student_logits = logit_list(student_logits, "student_logits")
    teacher_logits = logit_list(teacher_logits, "teacher_logits")
    same_shape(student_logits, teacher_logits, ("student_logits", "teacher_logits"))
    class_index(label, len(student_logits), "label")
    controls = {
        "T": temperature_slider(T, low=1.0, high=100.0),
        "alpha": widgets.FloatSlider(
            value=slider_start(alpha, 0, 1, "alpha"), min=0.0, max=1.0, step=0.05, description="alpha"
        ),
    }

    def draw(T, alpha):
        return plot_soft_share(student_logits, teacher_logits, label, T, alpha)

    return Panel(draw, controls, steps={"T": 17, "alpha": 5})


@remembered
def similarity_panel(teacher_logits, labels, T=20.0, show_diagonal=False):
    """Mean soft targets per true class as a heatmap, with a temperature slider and a switch that shows the
    diagonal (the mean probability of the correct class) or hides it, so the colour scale fits the wrong classes."""
    controls = {
        "T": temperature_slider(T, low=1.0, high=50.0),
        "show_diagonal": widgets.Checkbox(value=bool(show_diagonal), description="show diagonal"),
    }

    def draw(T, show_diagonal):
        return plot_class_similarity(teacher_logits, labels, T, hide_diagonal=not show_diagonal)

    return Panel(draw, controls, steps={"T": 15})


@remembered
def kl_split_panel(teacher_logits, student_logits, targets, T=1.0):
    """The distillation KL split at the target class (kdviz.temperature.kl_decomposition) against T, averaged
    over a batch, with a temperature slider (0.5 to 50)."""
    controls = {"T": temperature_slider(T, low=0.5, high=50.0)}
    return Panel(lambda T: plot_kl_split(teacher_logits, student_logits, targets, T), controls, steps={"T": 17})


@remembered
def sampling_panel(teacher_logits, T=1.0, top_k=N_SYMBOLS, top_p=1.0):
    """The teacher's strings against the sampling T (0.05 to 5): entropy and valid share, and strings written at T,
    with sliders for T, top-k (1 to the number of symbols: all kept) and top-p (1: no cut)."""
    controls = {
        "T": temperature_slider(T, low=0.05, high=5.0),
        "top_k": widgets.IntSlider(
            value=slider_start(top_k, 1, N_SYMBOLS, "top_k", integer=True), min=1, max=N_SYMBOLS, description="top-k"
        ),
        "top_p": widgets.FloatSlider(
            value=slider_start(top_p, 0.05, 1.0, "top_p"), min=0.05, max=1.0, step=0.05, description="top-p"
        ),
    }

    def draw(T, top_k, top_p):
        return plot_sampling(teacher_logits, T, None if top_k == N_SYMBOLS else top_k, None if top_p >= 1 else top_p)

    return Panel(draw, controls, steps={"T": 13, "top_k": 3, "top_p": 3})


@remembered
def two_modes_panel(separation=5.0, left_weight=0.5):
    """One Gaussian fitted to two modes by forward and by reverse KL, with sliders for the modes' distance (0 to 8)
    and the left mode's weight."""
    controls = {
        "separation": widgets.FloatSlider(
            value=slider_start(separation, 0.0, 8.0, "separation"), min=0.0, max=8.0, step=0.25, description="distance"
        ),
        "left_weight": widgets.FloatSlider(
            value=slider_start(left_weight, 0.05, 0.95, "left_weight"),
            min=0.05,
            max=0.95,
            step=0.05,
            description="left weight",
        ),
    }
    draw = lambda separation, left_weight: plot_two_modes(separation, left_weight)  # noqa: E731
    return Panel(draw, controls, steps={"separation": 17, "left_weight": 3})


@remembered
def next_symbol_panel(teacher_logits, student_logits, last_letter="a", seed=0):
    """Next-symbol distributions after one letter: the teacher's (one per letter before it) and each student's,
    with a menu for the letter and a slider for the seed. ``student_logits`` maps a recipe to one logit table per
    seed (``Students.logits``)."""
    n_seeds = min(len(tables) for tables in student_logits.values())
    controls = {
        "last_letter": widgets.Dropdown(options=list(LETTERS), value=last_letter, description="after"),
        "seed": widgets.IntSlider(
            value=slider_start(seed, 0, n_seeds - 1, "seed", integer=True), min=0, max=n_seeds - 1, description="seed"
        ),
    }

    def draw(last_letter, seed):
        return plot_next_symbols(
            teacher_logits, {name: tables[seed] for name, tables in student_logits.items()}, last_letter
        )

    return Panel(draw, controls, steps={"seed": n_seeds})


@remembered
def two_jobs_panel(teacher_logits, context="ba", T=1.0):
    """The teacher's next-symbol distribution in one context at T (0.1 to 20), as soft target and as sampling
    distribution, with a menu for the context and a temperature slider."""
    controls = {
        "context": widgets.Dropdown(options=source_contexts(), value=context, description="context"),
        "T": temperature_slider(T, low=0.1, high=20.0),
    }
    return Panel(lambda context, T: plot_two_jobs(teacher_logits, context, T), controls, steps={"T": 9})
