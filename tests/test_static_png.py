"""Executed notebooks show a picture for every widget panel, so they still teach where no kernel runs.

The notebooks are the ones nbmake executes (conftest's executed_notebook: each notebook runs once per
session, from a temporary copy, so this test adds no execution of its own when nbmake runs them too).
Every output that holds a widget view must also hold a PNG of the panel's figure.
"""

import base64
import re

import nbformat
import pytest
from nbclient import NotebookClient

from kdviz.widgets import WIDGET_VIEW

PANEL_CELLS = {  # notebook -> how many widget panels it displays
    "01_softmax_and_temperature.ipynb": 1,
    "02_temperature_curves_and_sign.ipynb": 2,
    "03_gradients_and_logit_matching.ipynb": 1,
    "07_temperature_in_language_models.ipynb": 4,
}


@pytest.mark.parametrize("name", PANEL_CELLS)
def test_every_panel_output_carries_a_png_of_its_figure(name, executed_notebook):
    result = executed_notebook(name)
    if result.error is not None:
        pytest.fail(f"{name} did not run to the end: {result.error.summary}", pytrace=False)
    panels = [  # a quiz is a widget too, but shows its question as static HTML instead of a figure
        output.data
        for cell in result.nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type in ("display_data", "execute_result")
        and WIDGET_VIEW in output.data
        and "text/html" not in output.data
    ]
    assert len(panels) == PANEL_CELLS[name]
    for data in panels:
        assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
    nbformat.validate(result.nb)  # the bundle is valid notebook output, so GitHub and nbviewer can render it


def test_an_executed_notebook_keeps_the_finished_progress_bar_not_its_first_zero(tmp_path):
    """tqdm's notebook widget saves the text it had when first shown (0%); kdviz shows it again when it closes."""
    source = (
        "import torch\n"
        "from kdviz.mnist.train import StudentConfig, train_students\n"
        "x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))\n"
        "_ = train_students(x, y, None, 1.0, 0.0, StudentConfig(hidden=4, epochs=2, batch_size=32))"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    bars = [out.data["text/plain"] for out in nb.cells[0].outputs if WIDGET_VIEW in out.get("data", {})]
    assert len(bars) == 1 and "100%" in bars[0] and "2/2" in bars[0], bars


@pytest.mark.mnist
def test_notebook_04_exported_shows_finished_bars_its_panels_and_the_lab_table(executed_notebook):
    """Where no widget renders, 04 still shows what ran: every progress bar at 100%, a PNG of the similarity
    panel and of the lab, and the lab's results table as text."""
    result = executed_notebook("04_mnist_distillation_lab.ipynb")
    if result.error is not None:
        pytest.fail(f"04 did not run to the end: {result.error.summary}", pytrace=False)
    outputs = [output for cell in result.nb.cells if cell.cell_type == "code" for output in cell.outputs]
    shown = [output.data for output in outputs if WIDGET_VIEW in output.get("data", {})]
    bars = [data["text/plain"] for data in shown if re.search(r"\| *\d+/\d+ \[", data.get("text/plain", ""))]
    assert len(bars) >= 2 and all("100%" in bar for bar in bars), bars  # the comparison's and the grid's at least
    pictures = [data for data in shown if "image/png" in data]
    assert len(pictures) == 2  # the similarity panel and the lab
    assert all(base64.b64decode(data["image/png"]).startswith(b"\x89PNG") for data in pictures)
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "test errors: mean +- sd" in text and "range" in text
