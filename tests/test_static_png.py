"""Executed notebooks show a picture for every widget panel, so they still teach where no kernel runs.

Each theory notebook is executed from a copy in a temporary folder (nothing is written into the
checkout). Every output that holds a widget view must also hold a PNG of the panel's figure.
"""

import base64
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from kdviz.widgets import WIDGET_VIEW

ROOT = Path(__file__).resolve().parent.parent
PANEL_CELLS = {  # notebook -> how many widget panels it displays
    "01_softmax_and_temperature.ipynb": 1,
    "02_temperature_curves_and_sign.ipynb": 2,
    "03_gradients_and_logit_matching.ipynb": 1,
}


@pytest.mark.parametrize("name", PANEL_CELLS)
def test_every_panel_output_carries_a_png_of_its_figure(name, tmp_path, monkeypatch):
    copy = tmp_path / name
    shutil.copy(ROOT / "notebooks" / name, copy)
    monkeypatch.setenv("KDVIZ_QUICK", "1")
    nb = nbformat.read(copy, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    panels = [
        output.data
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type in ("display_data", "execute_result") and WIDGET_VIEW in output.data
    ]
    assert len(panels) == PANEL_CELLS[name]
    for data in panels:
        assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
    nbformat.validate(nb)  # the bundle is valid notebook output, so GitHub and nbviewer can render it


def test_an_executed_notebook_keeps_the_finished_progress_bar_not_its_first_zero(tmp_path):
    """tqdm's notebook widget saves the text it had when first shown (0%); kdviz shows it again when it closes."""
    source = (
        "import torch\n"
        "from kdviz.train import StudentConfig, train_students\n"
        "x, y = torch.randn(64, 784), torch.randint(0, 10, (64,))\n"
        "_ = train_students(x, y, None, 1.0, 0.0, StudentConfig(hidden=4, epochs=2, batch_size=32))"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    bars = [out.data["text/plain"] for out in nb.cells[0].outputs if WIDGET_VIEW in out.get("data", {})]
    assert len(bars) == 1 and "100%" in bars[0] and "2/2" in bars[0], bars
