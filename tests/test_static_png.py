"""Executed notebooks show a picture for every widget panel, so they still teach where no kernel runs.

The notebooks are the ones nbmake executes (conftest's executed_notebook: each notebook runs once per
session, from a temporary copy, so this test adds no execution of its own when nbmake runs them too).
Every output that holds a widget view must also hold a PNG of the panel's figure.
"""

import base64

import nbformat
import pytest

from kdviz.widgets import WIDGET_VIEW

PANEL_CELLS = {  # notebook -> how many widget panels it displays
    "01_softmax_and_temperature.ipynb": 1,
    "02_temperature_curves_and_sign.ipynb": 2,
    "03_gradients_and_logit_matching.ipynb": 1,
}


@pytest.mark.parametrize("name", PANEL_CELLS)
def test_every_panel_output_carries_a_png_of_its_figure(name, executed_notebook):
    result = executed_notebook(name)
    if result.error is not None:
        pytest.fail(f"{name} did not run to the end: {result.error.summary}", pytrace=False)
    panels = [
        output.data
        for cell in result.nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type in ("display_data", "execute_result") and WIDGET_VIEW in output.data
    ]
    assert len(panels) == PANEL_CELLS[name]
    for data in panels:
        assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG\r\n\x1a\n")
    nbformat.validate(result.nb)  # the bundle is valid notebook output, so GitHub and nbviewer can render it
