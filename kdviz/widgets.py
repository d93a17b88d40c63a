"""One function per interactive panel: ipywidgets controls around a ``kdviz.plots`` function.

A ``Panel`` redraws its figure into an image widget whenever a control changes. A ValueError
from bad input (a typo in the logits box) is shown in red under the controls; anything else
propagates, so tests that set control values see it.
"""

import html
import io

import ipywidgets as widgets
import numpy as np

from . import plots
from .temperature import random_logits


def figure_png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


class Panel(widgets.VBox):
    """Controls, a message line and the figure ``draw(**control_values)`` returns."""

    def __init__(self, draw, controls):
        self.draw, self.controls = draw, controls
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
        value=value,
        base=10,
        min=np.log10(low),
        max=np.log10(high),
        step=0.01,
        description=description,
        continuous_update=True,
        readout_format=".3g",
    )


def temperature_panel(logits=(1.0, 3.0, 2.0), T=1.0):
    """Bar chart of q(T) with a log T slider (0.05 to 100) and an editable logits box."""
    controls = {
        "T": temperature_slider(T),
        "logits": widgets.Text(
            value=", ".join(f"{v:g}" for v in logits), description="logits", continuous_update=False
        ),
    }
    return Panel(lambda T, logits: plots.plot_probabilities(parse_logits(logits), T), controls)


def curves_panel(n=7, seed=0, T_max=5.0, log_T=False):
    """q_i(T) curves for n random logits: sliders for n, seed, T range and a log-axis switch."""
    controls = {
        "n": widgets.IntSlider(value=n, min=2, max=20, description="classes n"),
        "seed": widgets.IntSlider(value=seed, min=0, max=50, description="seed"),
        "T_max": widgets.FloatLogSlider(
            value=T_max, base=10, min=0, max=3, step=0.05, description="T max", continuous_update=False
        ),
        "log_T": widgets.Checkbox(value=log_T, description="log T axis"),
    }

    def draw(n, seed, T_max, log_T):
        return plots.plot_temperature_curves(random_logits(n, seed), T_max=T_max, log_T=log_T)

    return Panel(draw, controls)


def turning_panel(logits, i=None):
    """Pick a class and see q_i(T), the sign of dq_i/dT and its turning temperature T*."""
    logits = np.asarray(logits, dtype=float)
    options = [(f"class {k} (z = {z:.2f})", k) for k, z in enumerate(logits)]
    i = int(np.argsort(logits)[-2]) if i is None else i
    controls = {"i": widgets.Dropdown(options=options, value=i, description="class")}
    return Panel(lambda i: plots.plot_turning_point(logits, i), controls)


def soft_share_panel(student_logits, teacher_logits, label, T=5.0, alpha=0.5):
    """Sliders for T and alpha: how much of the blended gradient the soft term supplies, with and without T^2."""
    controls = {
        "T": temperature_slider(T, low=1.0, high=100.0),
        "alpha": widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha"),
    }

    def draw(T, alpha):
        return plots.plot_soft_share(student_logits, teacher_logits, label, T, alpha)

    return Panel(draw, controls)


class DistillationLab(widgets.VBox):
    """Sliders for T and alpha, a student size, and a Train button.

    Each press trains one student from the workspace's cached teacher logits (``kdviz.train``) on
    the first ``n_transfer`` transfer images (all by default), with a progress bar and a live
    curve, then adds a row to the results table and a point to the results plot. ``error`` holds
    the exception of a failed press (ipywidgets would only print it).
    """

    def __init__(self, workspace, epochs=2, sizes=(30, 100, 300, 800), hidden=100, T=4.0, alpha=0.5, n_transfer=None):
        if n_transfer is not None and not 0 < n_transfer <= len(workspace.x_train):
            raise ValueError(f"n_transfer must lie in 1..{len(workspace.x_train)}, got {n_transfer}")
        self.workspace, self.epochs, self.n_transfer = workspace, epochs, n_transfer
        self.controls = {
            "T": temperature_slider(T, low=1.0, high=50.0),
            "alpha": widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha"),
            "hidden": widgets.Dropdown(options=list(sizes), value=hidden, description="hidden units"),
        }
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.progress = widgets.Output()
        self.live = widgets.Image(format="png")
        self.table = widgets.HTML()
        self.results_plot = widgets.Image(format="png")
        self.rows, self.error = [], None
        self.button.on_click(self.train)
        super().__init__(
            [
                widgets.HBox([*self.controls.values(), self.button]),
                self.progress,
                widgets.HBox([self.live]),
                widgets.HBox([self.table, self.results_plot]),
            ]
        )

    def train(self, _button=None):
        import time

        from .train import StudentConfig, train_students

        ws, values = self.workspace, {name: c.value for name, c in self.controls.items()}
        n = self.n_transfer
        self.button.disabled, self.error = True, None
        start = time.perf_counter()
        try:
            with self.progress:
                self.progress.clear_output(wait=True)
                _, history = train_students(
                    ws.x_train[:n],
                    ws.y_train[:n],
                    ws.teacher_logits[:n],
                    values["T"],
                    values["alpha"],
                    StudentConfig(hidden=values["hidden"], epochs=self.epochs, seed=len(self.rows)),
                    x_test=ws.x_test,
                    y_test=ws.y_test,
                    callback=self._show_live,
                )
            errors = int(history.test_errors[-1][0])  # counted after the last epoch, in eval mode
            self.rows.append({**values, "test errors": errors, "seconds": round(time.perf_counter() - start, 2)})
            self._show_results()
        except Exception as err:
            self.error = err
            self.table.value = f"<span style='color:#b00020'>training failed: {html.escape(repr(err))}</span>"
            raise
        finally:
            self.button.disabled = False

    def _show_live(self, epoch, history):
        self.live.value = figure_png(plots.plot_training_curves(history, ["this run"], title=f"epoch {epoch + 1}"))

    def _show_results(self):
        header = "".join(f"<th>{h}</th>" for h in ("run", "T", "alpha", "hidden", "test errors", "seconds"))
        body = "".join(
            f"<tr><td>{k + 1}</td><td>{r['T']:.3g}</td><td>{r['alpha']:.2f}</td><td>{r['hidden']}</td>"
            f"<td>{r['test errors']}</td><td>{r['seconds']}</td></tr>"
            for k, r in enumerate(self.rows)
        )
        self.table.value = f"<table><tr>{header}</tr>{body}</table>"
        self.results_plot.value = figure_png(plots.plot_lab_results(self.rows))


def distillation_lab(workspace, epochs=2, sizes=(30, 100, 300, 800), hidden=100, n_transfer=None):
    """The interactive distillation lab for a prepared ``kdviz.experiments.Workspace``."""
    return DistillationLab(workspace, epochs=epochs, sizes=sizes, hidden=hidden, n_transfer=n_transfer)


def similarity_panel(teacher_logits, labels, T=20.0):
    """Mean soft targets per true class as a heatmap, with a temperature slider."""
    controls = {"T": temperature_slider(T, low=1.0, high=50.0)}
    return Panel(lambda T: plots.plot_class_similarity(teacher_logits, labels, T), controls)
