"""The seed-spread rule: a gap counts only when it is larger than the seed range of either setting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdviz.noise import best_and_ties, compare, describe_best, exceeds_noise, spread

results = st.lists(st.integers(0, 10_000), min_size=1, max_size=6)


def test_the_issue_s_four_seed_example_is_within_noise():
    T4, T20 = [517, 547, 510, 501], [516, 534, 524, 508]
    assert not exceeds_noise(T4, T20)
    assert "within noise" in compare("T = 4", T4, "T = 20", T20)


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
    sentence = describe_best({"T = 2": [238, 245, 240], "T = 3": [241, 250, 236], "T = 20": [335, 320, 330]})
    assert sentence.startswith("Best setting: T = 2") and "Within noise of it: T = 3" in sentence
    assert "Worse beyond the noise: T = 20" in sentence


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
    assert "The gap, 0.009 test errors in favour of a" in sentence  # was 'The gap, 0.0'
    assert str(spread([0.011, 0.012])).startswith("0.0115 +- ")
    assert str(spread([611, 590, 640])).startswith("613.7 +- 25.1")  # errors keep one decimal
