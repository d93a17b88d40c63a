"""The temperature-against-size report: each verdict from the seed-spread rule, the paper's finding beside it."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdviz.dark_knowledge import temperature_report

TEMPERATURES = [1, 2, 3, 4, 8, 20]


@pytest.fixture(autouse=True)
def full_mode(monkeypatch):
    """The report as a full-size run prints it (tests/test_report_sentences.py checks quick mode's extra line)."""
    monkeypatch.setattr("kdviz.noise.quick_mode", lambda: False)


def rows(lines):
    """The table's rows by name: the lines after the header, up to and with the labels-alone row."""
    end = next(k for k, line in enumerate(lines) if line.startswith("labels alone"))
    return {line[:13].strip(): line[13:] for line in lines[1 : end + 1]}


def test_the_review_s_30_unit_run_is_called_a_disagreement_with_the_paper():
    errors = [[265, 270, 276], [268, 275, 279], [280, 282, 284], [262, 297, 320], [300, 310, 305], [330, 340, 335]]
    lines = temperature_report(TEMPERATURES, errors, [285, 290, 288], hidden=30)
    table = rows(lines)
    assert "best" in table["T = 1"] and table["labels alone"].strip() == "287.7 (range 285-290)"
    assert "worse (gap 17.3 vs range 10)" in table["T = 8"] and "worse (gap 47.3 vs range 10)" in table["T = 20"]
    assert "within noise (gap 22.7 vs range 58)" in table["T = 4"]  # wide seeds: not ranked...
    assert "worse (gap 11.7 vs range 11)" in table["T = 3"]  # ...while a nearer, narrower T is, and a note says why
    assert any(line.startswith("T = 4 has a mean further from the best than T = 3") for line in lines)
    assert lines[-1].startswith("The paper (30 units): T = 2.5 to 4 worked significantly better")
    assert lines[-1].endswith(
        "Here the best mean is at T = 1, outside that range (T = 4 within noise of it; "
        "T = 3 worse beyond the noise): this run does not agree."
    )


def test_a_30_unit_run_like_the_paper_s_agrees():
    errors = [[300, 305, 302], [280, 284, 282], [250, 254, 252], [256, 259, 258], [290, 292, 291], [310, 312, 311]]
    lines = temperature_report(TEMPERATURES, errors, [320, 322, 321], hidden=30)
    assert lines[-1].endswith("This run agrees: best T = 3, and T = 1, T = 2, T = 8, T = 20 worse beyond the noise.")


def test_a_best_inside_the_paper_s_range_with_a_tie_outside_it_is_not_significantly_better():
    errors = [[300, 305, 302], [250, 262, 256], [250, 254, 252], [256, 259, 258], [290, 292, 291], [310, 312, 311]]
    lines = temperature_report(TEMPERATURES, errors, [320, 322, 321], hidden=30)
    assert "T = 2 outside it is within noise of it: not significantly better in this run" in lines[-1]


@pytest.mark.parametrize(
    ("high", "ending"),
    [
        (
            [[120, 124, 122], [121, 126, 123]],
            "T = 8, T = 20 are all within noise of the best of them (T = 8): this run agrees.",
        ),
        ([[120, 124, 122], [140, 142, 141]], "T = 20 is worse than T = 8 beyond the noise."),
    ],
)
def test_300_units_and_more_are_judged_on_the_temperatures_from_8_up(high, ending):
    errors = [[150, 152, 151], [140, 142, 141], [130, 133, 131], [126, 129, 127], *high]
    for hidden in (300, 800):
        assert temperature_report(TEMPERATURES, errors, [150, 153, 151], hidden)[-1].endswith(ending)


def test_sizes_the_paper_does_not_report_say_so():
    lines = temperature_report([1, 4, 20], [[5, 6], [7, 8], [9, 10]], [6, 7], hidden=100)
    assert (
        lines[-1]
        == "The paper reports no temperature finding for 100-unit students (only for 30, and for 300 or more)."
    )


@given(
    st.lists(st.lists(st.integers(100, 400), min_size=3, max_size=3), min_size=4, max_size=4),
    st.lists(st.integers(100, 400), min_size=3, max_size=3),
)
def test_every_verdict_in_the_table_matches_its_printed_gap_and_range(errors, baseline):
    table = rows(temperature_report([1, 3, 8, 20], errors, baseline, hidden=30))
    judged = 0
    for row in table.values():
        for word, gap, limit in re.findall(r"(better|worse|within noise) \(gap ([\d.]+) vs range ([\d.]+)\)", row):
            assert (float(gap) > float(limit)) == (word != "within noise"), row
            judged += 1
    assert len(table) == 5 and judged == 7  # each T against labels alone, and all but the best against the best
