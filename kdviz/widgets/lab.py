"""The distillation lab: sliders for T and alpha, a student size, and a Train button.

Each press trains students from a prepared workspace's cached teacher logits (``kdviz.mnist.train``)
and adds them to a results table and plot. The lab never trains a teacher itself.
"""

import html
import time

import ipywidgets as widgets

from .._checks import count, hidden_sizes, slider_start
from ..figures.mnist import plot_lab_results, plot_training_curves
from ..noise import spread
from .panels import StaticPNG, figure_png, temperature_slider

PRESS_EPOCHS = 3  # one press at full size: 3 epochs on the first 15,000 transfer images, about 3 s
PRESS_IMAGES = 15000  # on a 2-core CPU with 3 seeds of 100 units (benchmarks/bench_lab_press.py)


class DistillationLab(StaticPNG, widgets.VBox):
    """Sliders for T and alpha, a student size, a number of seeds, and a Train button.

    Each press trains the chosen number of students, seeds 0, 1, ..., stacked in one pass, from the
    workspace's cached teacher logits (``kdviz.mnist.train``) on the first ``n_transfer`` transfer images (all of them
    if there are fewer), with a progress bar and a live curve. It then adds a row (mean, spread and range of the
    test errors over the seeds) to the results table and a point with its seed range to the results plot.
    Every press uses the same seeds, so settings are compared on equal terms. ``error`` holds the
    exception of a failed press (ipywidgets would only print it), which ``message`` shows above the table
    of the presses that worked.
    """

    def __init__(
        self,
        workspace,
        epochs=PRESS_EPOCHS,
        sizes=(30, 100, 300, 800),
        hidden=100,
        T=4.0,
        alpha=0.5,
        seeds=3,
        n_transfer=PRESS_IMAGES,
    ):
        n_transfer = min(count(n_transfer, "n_transfer (images per press)"), len(workspace.x_train))
        epochs, sizes = count(epochs, "epochs"), list(sizes)
        hidden_sizes(sizes, hidden)
        slider_start(seeds, 1, 5, "seeds", integer=True)
        slider_start(alpha, 0, 1, "alpha")
        self.workspace, self.epochs, self.n_transfer = workspace, epochs, n_transfer
        self.controls = {
            "T": temperature_slider(T, low=1.0, high=50.0),
            "alpha": widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha"),
            "hidden": widgets.Dropdown(options=sizes, value=hidden, description="hidden units"),
            "seeds": widgets.IntSlider(value=seeds, min=1, max=5, description="seeds"),
        }
        self.button = widgets.Button(description="Train", button_style="primary", icon="play")
        self.progress = widgets.Output()
        self.live = widgets.Image(format="png")
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.results_plot = widgets.Image(format="png")
        self.rows, self.error = [], None
        self.button.on_click(self.train)
        super().__init__(
            [
                widgets.HBox([*self.controls.values(), self.button]),
                self.progress,
                widgets.HBox([self.live]),
                self.message,
                widgets.HBox([self.table, self.results_plot]),
            ]
        )

    def static_png(self):
        """The picture an exported notebook shows: the results plot, else the last live curve."""
        return self.results_plot.value or self.live.value or None

    def describe(self):
        """What one press does, in a sentence."""
        n = self.n_transfer
        return (
            f"Each press trains the chosen number of seeds (0, 1, ...) stacked in one pass, {self.epochs} "
            f"epoch{'s' if self.epochs > 1 else ''} each on the first {n:,} transfer images."
        )

    def train(self, _button=None):
        from ..mnist.train import StudentConfig, TrainingOptions

        ws, values = self.workspace, {name: c.value for name, c in self.controls.items()}
        n, seeds = self.n_transfer, list(range(values["seeds"]))
        self.button.disabled, self.error = True, None
        start = time.perf_counter()
        try:
            with self.progress:
                self.progress.clear_output(wait=True)
                options = TrainingOptions(
                    test=ws.test_set,
                    callback=self._show_live,
                    description=f"{len(seeds)} seed{'s' if len(seeds) > 1 else ''}",
                )
                student = StudentConfig(hidden=values["hidden"], epochs=self.epochs)
                _, history = ws.subset(n).train_students(values["T"], values["alpha"], student, seeds, options=options)
            errors = [int(e) for e in history.test_errors[-1]]  # counted after the last epoch, in eval mode
            self.rows.append({**values, "errors": errors, "seconds": time.perf_counter() - start})
            self.message.value = ""
            self._show_results()
        except Exception as err:  # shown above the results so far, which stay
            self.error = err
            self.message.value = f"<span style='color:#b00020'>training failed: {html.escape(str(err))}</span>"
            raise
        finally:
            self.button.disabled = False

    def _show_live(self, epoch, history):
        labels = [f"seed {k}" for k in range(len(history.loss[-1]))]
        figure = plot_training_curves(history, labels, title=f"epoch {epoch + 1}")
        self.live.value = figure_png(figure)

    HEADINGS = ("run", "T", "alpha", "hidden", "seeds", "test errors: mean +- sd", "range", "time")

    def table_rows(self):
        """The results table as rows of strings, one per press (the HTML table and ``results_text`` show them)."""
        from ..mnist.timing import format_seconds

        rows = []
        for k, row in enumerate(self.rows):
            s = spread(row["errors"])
            rows.append(
                (
                    str(k + 1),
                    f"{row['T']:.3g}",
                    f"{row['alpha']:.2f}",
                    str(row["hidden"]),
                    str(s.n),
                    f"{s.mean:.1f} +- {s.sd:.1f}" if s.n > 1 else f"{s.mean:.0f}",
                    f"{s.low}-{s.high}",
                    format_seconds(row["seconds"]),
                )
            )
        return rows

    def results_text(self):
        """The results table as plain text, for output that shows no widgets (an exported notebook)."""
        lines = [self.HEADINGS, *self.table_rows()]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.HEADINGS))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)) for line in lines)

    def _show_results(self):
        header = "".join(f"<th>{h}</th>" for h in self.HEADINGS)
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>" for cells in self.table_rows())
        note = (
            "<p>A gap between two rows counts only when it is larger than the range of either row "
            "(one seed: no range, so no gap counts).</p>"
        )
        self.table.value = f"<table><tr>{header}</tr>{body}</table>{note}"
        self.results_plot.value = figure_png(plot_lab_results(self.rows))


def distillation_lab(
    workspace, epochs=PRESS_EPOCHS, sizes=(30, 100, 300, 800), hidden=100, seeds=3, n_transfer=PRESS_IMAGES
):
    """The interactive distillation lab for a prepared ``kdviz.mnist.Workspace``: each press trains
    ``epochs`` epochs on the first ``n_transfer`` transfer images (all of them if there are fewer)."""
    return DistillationLab(workspace, epochs=epochs, sizes=sizes, hidden=hidden, seeds=seeds, n_transfer=n_transfer)
