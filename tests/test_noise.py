"""The seed-spread rule: a gap counts only when it is larger than the seed range of either setting."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdviz.noise import best_and_ties, compare, describe_best, exceeds_noise, gap_and_range, spread

results = st.lists(st.integers(0, 10_000), min_size=1, max_size=6)


def test_the_issue_s_four_seed_example_is_within_noise():
    T4, T20 = [517, 547, 510, 501], [516, 534, 524, 508]
    assert not exceeds_noise(T4, T20)
    assert compare("T = 4", T4, "T = 20", T20).endswith("(gap 1.8 vs range 46): within noise.")


def test_a_gap_larger_than_both_ranges_is_a_finding_and_names_the_winner():
    alone, distilled = [139, 144, 135], [102, 99, 105]
    assert exceeds_noise(alone, distilled)
    sentence = compare("student alone", alone, "distilled student", distilled)
    assert "in favour of distilled student" in sentence and "real difference" in sentence


def test_one_seed_never_counts():
    assert not exceeds_noise([100], [500])
    assert "single seed" in compare("a", [100], "b", [500])


@given(results, results)
def test_the_rule_is_symmetric_and_needs_a_gap_beyond_each_range(a, b):
    assert exceeds_noise(a, b) == exceeds_noise(b, a)
    if exceeds_noise(a, b):
        gap = abs(spread(a).mean - spread(b).mean)
        assert len(a) > 1 and len(b) > 1 and gap > spread(a).range and gap > spread(b).range


@given(st.dictionaries(st.sampled_from("ABCDE"), results, min_size=1))
def test_best_and_ties_partition_the_other_settings(table):
    best, ties, beyond = best_and_ties(table)
    assert spread(table[best]).mean == min(spread(v).mean for v in table.values())
    assert sorted([best, *ties, *beyond]) == sorted(table)
    assert all(exceeds_noise(table[best], table[name]) for name in beyond)
    assert not any(exceeds_noise(table[best], table[name]) for name in ties)


def test_describe_best_is_printed_from_the_numbers():
    lines = describe_best({"T = 2": [238, 245, 240], "T = 3": [241, 250, 236], "T = 20": [335, 320, 330]}).split("\n")
    assert lines[0] == "Best setting: T = 2, 241.0 (range 238-245, 3 seeds)."
    assert (
        lines[1].startswith("Worse beyond the noise")
        and "T = 20, 328.3 (range 320-335): gap 87.3 vs range 15" in lines[1]
    )
    assert lines[2].startswith("Within noise of it") and "T = 3, 242.3 (range 236-250): gap 1.3 vs range 14" in lines[2]


def test_a_wide_setting_within_noise_is_explained_when_a_narrower_nearer_one_is_beyond_it():
    """The review's reading: T = 4 (mean 293, wide range) within noise, T = 3 (mean 282) beyond it."""
    results = {"T = 1": [265, 270, 276], "T = 3": [280, 282, 284], "T = 4": [262, 297, 320]}
    best, ties, beyond = best_and_ties(results)
    assert (best, ties, beyond) == ("T = 1", ["T = 4"], ["T = 3"])
    lines = describe_best(results, what="temperature").split("\n")
    assert "T = 3, 282.0 (range 280-284): gap 11.7 vs range 11" in lines[1]
    assert "T = 4, 293.0 (range 262-320): gap 22.7 vs range 58" in lines[2]
    assert lines[3].startswith("T = 4 has a mean further from the best than T = 3, yet is within noise: its own seeds")
    assert "3 seeds cannot rank it" in lines[3]
    assert len(describe_best({"T = 1": [265, 270, 276], "T = 3": [280, 282, 284]}).split("\n")) == 2  # no such case


@given(st.dictionaries(st.sampled_from("ABCDE"), st.lists(st.integers(0, 10_000), min_size=2, max_size=6), min_size=2))
def test_every_printed_gap_and_range_agree_with_the_verdict_they_stand_under(table):
    """A reader who checks 'gap X vs range Y' finds X > Y under 'beyond the noise' and X <= Y under 'within'."""
    best, ties, beyond = best_and_ties(table)
    found = {}
    for line in describe_best(table).split("\n")[1:]:
        kind = "beyond" if line.startswith("Worse beyond") else "within" if line.startswith("Within") else None
        for name, gap, limit in re.findall(r"([A-E]), [^:;]*: gap ([\d.]+) vs range ([\d.]+)", line):
            found[name] = kind
            assert (float(gap) > float(limit)) == (kind == "beyond"), line
    assert found == {**dict.fromkeys(ties, "within"), **dict.fromkeys(beyond, "beyond")}


def test_spread_summary():
    s = spread([3, 1, 2])
    assert (s.n, s.mean, s.low, s.high, s.range) == (3, 2.0, 1, 3, 2)
    assert s.sd == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one"):
        spread([])


@pytest.mark.parametrize("values", [[1, float("nan")], [float("inf"), 2], [True, False], ["1", "2"], [None]])
def test_results_that_are_not_finite_numbers_are_refused_not_ranked(values):
    with pytest.raises((ValueError, TypeError), match="per-seed results"):
        spread(values)
    with pytest.raises((ValueError, TypeError), match="per-seed results"):
        best_and_ties({"a": values, "b": [1, 2]})  # a nan setting was called the best


def test_small_results_such_as_error_rates_keep_their_digits():
    sentence = compare("a", [0.011, 0.012], "b", [0.020, 0.021])
    assert "in favour of a" in sentence and "(gap 0.009 vs range 0.001)" in sentence  # was 'The gap, 0.0'
    assert str(spread([0.011, 0.013])) == "0.012 (range 0.011-0.013, 2 seeds)"


@pytest.mark.parametrize(
    ("values", "unit", "text"),
    [
        ([611, 590, 640], "", "613.7 (range 590-640, 3 seeds)"),  # counts: whole ends, a mean with one decimal
        ([94.12, 94.3, 94.2], "%", "94.21% (range 94.12-94.30%, 3 seeds)"),  # every number with two decimals
        ([100.0, 100.0, 100.0], "%", "100% in all 3 seeds"),  # was '100.0 +- 0.0 (range 100-100, 3 seeds) %'
        ([-3, -1], "", "-2.0 (range -3 to -1, 2 seeds)"),
        ([7], "", "7 (1 seed)"),
        ([1e-7, 2e-7, 3e-7], "", "2e-07 (range 1e-07 to 3e-07, 3 seeds)"),  # finer than 4 decimals: 3 digits
        ([1.7e308, 1.6e308], "", "1.65e+308 (range 1.6e+308 to 1.7e+308, 2 seeds)"),
    ],
)
def test_one_format_for_a_setting_over_seeds(values, unit, text):
    assert spread(values).text(unit) == text


def test_settings_in_one_sentence_share_their_decimals():
    sentence = compare("hard", [83.41, 83.9, 83.7], "soft", [89.0, 90.1, 89.9], "points", False, "%")
    assert "hard: 83.67% (range 83.41-83.90%, 3 seeds); soft: 89.67% (range 89.00-90.10%, 3 seeds)." in sentence
    assert "(gap 6.00 vs range 1.10)" in sentence


def test_a_gap_just_beyond_the_range_never_prints_as_equal_to_it():
    a, b = [0, 10], [15.02, 15.02]
    assert exceeds_noise(a, b)
    assert gap_and_range(a, b, decimals=0) == "gap 10.02 vs range 10"  # not 'gap 10.0 vs range 10'
    assert gap_and_range([0, 10], [15, 15]) == "gap 10.0 vs range 10"  # equal, and within noise
