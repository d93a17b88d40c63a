"""The distillation lab: sliders for T and alpha, a student size, and a Train button.

Each press trains students from a prepared workspace's cached teacher logits (``kdviz.train``)
and adds them to a results table and plot. The lab never trains a teacher itself.
"""

import html
import time

import ipywidgets as widgets

from . import mnist_plots
from .widgets import figure_png, temperature_slider


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
        self.live.value = figure_png(
            mnist_plots.plot_training_curves(history, ["this run"], title=f"epoch {epoch + 1}")
        )

    def _show_results(self):
        header = "".join(f"<th>{h}</th>" for h in ("run", "T", "alpha", "hidden", "test errors", "seconds"))
        body = "".join(
            f"<tr><td>{k + 1}</td><td>{r['T']:.3g}</td><td>{r['alpha']:.2f}</td><td>{r['hidden']}</td>"
            f"<td>{r['test errors']}</td><td>{r['seconds']}</td></tr>"
            for k, r in enumerate(self.rows)
        )
        self.table.value = f"<table><tr>{header}</tr>{body}</table>"
        self.results_plot.value = figure_png(mnist_plots.plot_lab_results(self.rows))


def distillation_lab(workspace, epochs=2, sizes=(30, 100, 300, 800), hidden=100, n_transfer=None):
    """The interactive distillation lab for a prepared ``kdviz.experiments.Workspace``."""
    return DistillationLab(workspace, epochs=epochs, sizes=sizes, hidden=hidden, n_transfer=n_transfer)
