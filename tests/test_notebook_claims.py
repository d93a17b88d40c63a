"""What notebooks 02 and 03 compute in their own cells (the sign checks, the F.kl_div calls) says what their
prose says, in the run the suite makes of them (quick mode; the same code runs at full size)."""

import re


def printed(executed, marker):
    """The stdout of the one code cell whose source contains ``marker``."""
    cells = [c for c in executed.nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"{len(cells)} cells contain {marker!r}"
    return "".join(o.get("text", "") for o in cells[0].outputs if o.get("name") == "stdout")


def number(text, label):
    """The first number printed after ``label`` on its line."""
    line = next(line for line in text.splitlines() if label in line)
    return float(re.search(r"[-+]?\d[\d,]*\.?\d*(?:e[-+]?\d+)?", line.split(label, 1)[1]).group().replace(",", ""))


def test_02_finds_the_sign_rule_at_every_resolved_point(executed_notebook):
    text = printed(executed_notebook("02_temperature_curves_and_sign.ipynb"), "resolved = ")
    agree, of = re.search(r"at ([\d,]+) of ([\d,]+) resolved", text).groups()
    assert agree == of and int(of.replace(",", "")) > 1000  # 7 classes x 200 temperatures in quick mode
    assert "E_q[z] never rises along the grid (up to 1e-12): True" in text


def test_03_measures_each_kl_div_pitfall_it_names(executed_notebook):
    text = printed(executed_notebook("03_gradients_and_logit_matching.ipynb"), "F.kl_div(log_q")
    true_kl = number(text, "true KL, mean over rows")
    assert number(text, "reduction='batchmean')") == true_kl
    assert number(text, "'batchmean' / 'mean' =") == 10  # the number of classes
    assert number(text, "(wrong)") != true_kl
    assert number(text, "is a constant):") < 1e-15
