"""Seed spread: summaries of repeated runs, and whether a difference between two settings exceeds it.

The rule used throughout the lessons: a gap between the mean results of two settings counts as a
finding only when it is larger than the seed range (max - min) of each of them, that is larger than
the wider of the two ranges. With one seed there is no measured spread, so no difference counts.
Sentences show each setting as its mean and seed range, and every verdict names the gap and the range
it was compared with, so a reader can check it.
"""

from dataclasses import dataclass

import numpy as np

from ._checks import finite_values, non_empty
from .runmode import quick_mode

MOST_DECIMALS = 4
LARGEST_FIXED = 1e15  # larger results print with 3 significant digits, as do results that need more than 4 decimals


def decimals_of(values):
    """The fewest decimals (at most 4) that show every value as it is stored: 0 for counts, 2 for 94.12; None
    (3 significant digits) for values that need more, or that are too large to print digit by digit."""
    if max(abs(v) for v in values) >= LARGEST_FIXED:
        return None
    for d in range(MOST_DECIMALS + 1):
        if all(abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v)) for v in values):
            return d
    return None


def _number(x, decimals, significant=3):
    """x with ``decimals`` decimals, or with ``significant`` digits when decimals is None."""
    return f"{x:.{significant}g}" if decimals is None else f"{x:.{decimals}f}"


def _mean_decimals(decimals):
    """A mean of counts gets one decimal (282.3); other numbers keep the values' own."""
    return None if decimals is None else max(decimals, 1)


@dataclass(frozen=True)
class Spread:
    """Results of one setting over several seeds."""

    values: tuple

    @property
    def n(self):
        return len(self.values)

    def _scaled(self):
        """The values times 2^-e, all in [-1, 1], and e: mean and sd of results near 1.8e308 do not overflow."""
        values = np.asarray(self.values, dtype=float)
        _, power = np.frexp(np.abs(values).max())
        return np.ldexp(values, -power), power

    @property
    def mean(self):
        scaled, power = self._scaled()
        return float(np.ldexp(np.mean(scaled), power))

    @property
    def sd(self):
        """Sample standard deviation (n - 1); 0 for a single seed."""
        scaled, power = self._scaled()
        return float(np.ldexp(np.std(scaled, ddof=1), power)) if self.n > 1 else 0.0

    @property
    def low(self):
        return min(self.values)

    @property
    def high(self):
        return max(self.values)

    @property
    def range(self):
        return self.high - self.low

    @property
    def decimals(self):
        """Decimals of the values themselves (``decimals_of``)."""
        return decimals_of(self.values)

    def text(self, unit="", seeds=True, decimals=None):
        """'282.3 (range 279-285, 3 seeds)', '94.22% (range 94.12-94.35%, 3 seeds)', '100% in all 3 seeds'.

        ``decimals`` (default: the values' own) lets several settings in one sentence share a format."""
        d = self.decimals if decimals is None else decimals
        if self.n == 1:
            return f"{_number(self.values[0], d)}{unit} (1 seed)"
        if self.range == 0:
            return f"{_number(self.low, d)}{unit} in all {self.n} seeds"
        to = "-" if self.low >= 0 and d is not None else " to "
        ends = f"range {_number(self.low, d)}{to}{_number(self.high, d)}{unit}"
        return f"{_number(self.mean, _mean_decimals(d))}{unit} ({ends}{f', {self.n} seeds' if seeds else ''})"

    def __str__(self):
        return self.text()


def spread(values):
    """A Spread of the per-seed results ``values`` (a number or a sequence of numbers)."""
    array = finite_values(values)
    values = tuple(int(v) if v.is_integer() and abs(v) < 2**53 else v for v in map(float, array))
    return Spread(values)


def exceeds_noise(a, b):
    """True when |mean a - mean b| is larger than the seed range of a and of b (needs >= 2 seeds each)."""
    a, b = spread(a), spread(b)
    if a.n < 2 or b.n < 2:
        return False
    return abs(a.mean - b.mean) > max(a.range, b.range)


def shared_decimals(*results):
    """Decimals that show the per-seed values of every setting in one sentence alike (None: 3 significant digits)."""
    found = [spread(values).decimals for values in results]
    return None if None in found else max(found)


def gap_and_range(a, b, decimals=None):
    """'gap 11.7 vs range 9': the two numbers the rule compares, the gap with enough digits that a gap larger
    than the range never prints as equal to it. ``decimals`` defaults to ``shared_decimals(a, b)``."""
    d = shared_decimals(a, b) if decimals is None else decimals
    a, b = spread(a), spread(b)
    gap, limit = abs(a.mean - b.mean), max(a.range, b.range)
    shown, significant = _mean_decimals(d), 3
    while gap > limit and _number(gap, shown, significant) == _number(limit, shown, significant) and significant < 17:
        shown, significant = (None if shown is None else shown + 1), significant + 1
    return f"gap {_number(gap, shown, significant)} vs range {_number(limit, d)}"


def compare(name_a, a, name_b, b, what="test errors", lower_is_better=True, unit=""):
    """One sentence comparing two settings' results over seeds, calling a winner only beyond the noise."""
    d = shared_decimals(a, b)
    a, b = spread(a), spread(b)
    both = f"{name_a}: {a.text(unit, decimals=d)}; {name_b}: {b.text(unit, decimals=d)}."
    if a.n < 2 or b.n < 2:
        return (
            f"{both} With a single seed the spread between runs is not measured, "
            "so this difference may be noise: run more seeds before calling either better."
        )
    numbers = gap_and_range(a.values, b.values, d)
    if not exceeds_noise(a.values, b.values):
        return f"{both} The gap in {what} is not larger than the wider seed range ({numbers}): within noise."
    winner = name_a if (a.mean < b.mean) == lower_is_better else name_b
    return (
        f"{both} The gap in {what} is larger than either seed range ({numbers}): a real difference in favour "
        f"of {winner}."
    )


def best_and_ties(results, lower_is_better=True):
    """(best setting, settings within noise of it, settings beyond noise) for a dict setting -> per-seed results.

    The best setting has the best mean; another is "within noise" of it unless ``exceeds_noise`` says otherwise.
    """
    non_empty(results, "setting's results to compare")
    sign = 1 if lower_is_better else -1
    best = min(results, key=lambda name: sign * spread(results[name]).mean)
    others = [name for name in results if name != best]
    beyond = [name for name in others if exceeds_noise(results[best], results[name])]
    return best, [name for name in others if name not in beyond], beyond


def verdict(a, b, lower_is_better=True):
    """'better', 'worse' or 'within noise': setting a against setting b by the seed-spread rule."""
    if not exceeds_noise(a, b):
        return "within noise"
    return "better" if (spread(a).mean < spread(b).mean) == lower_is_better else "worse"


def unranked_note(results, lower_is_better=True):
    """A sentence for the case that reads like a contradiction, else '': a setting within noise of the best whose
    mean is further from it than that of a setting beyond the noise (its own seeds vary more than its gap)."""
    best, ties, beyond = best_and_ties(results, lower_is_better)
    if not beyond:
        return ""
    top = spread(results[best])

    def gap(name):
        return abs(spread(results[name]).mean - top.mean)

    nearest = min(beyond, key=gap)
    unranked = [name for name in ties if gap(name) > gap(nearest)]
    if not unranked:
        return ""
    one = len(unranked) == 1
    return (
        f"{' and '.join(unranked)} {'has a mean' if one else 'have means'} further from the best than {nearest}, "
        f"yet {'is' if one else 'are'} within noise: {'its' if one else 'their'} own seeds vary more than "
        f"{'its gap' if one else 'their gaps'} to the best, so {top.n} seeds cannot rank {'it' if one else 'them'}; "
        "more seeds could."
    )


def describe_best(results, what="setting", lower_is_better=True, unit=""):
    """Lines naming the best setting (mean and seed range), the settings worse beyond the noise and those within
    it, each with the gap to the best and the range it was compared with (printed, never typed), and
    ``unranked_note`` where it applies. A setting with one seed has no measured spread: it is named as not
    compared, never as within noise."""
    best, ties, beyond = best_and_ties(results, lower_is_better)
    d = shared_decimals(*results.values())
    top = spread(results[best])
    if top.n < 2:
        return f"Best {what}: {best}, {top.text(unit, decimals=d)}; one seed only, so no difference counts yet."
    unmeasured = [name for name in ties if spread(results[name]).n < 2]
    ties = [name for name in ties if name not in unmeasured]

    def item(name):
        shown = spread(results[name]).text(unit, seeds=False, decimals=d)
        return f"{name}, {shown}: {gap_and_range(results[best], results[name], d)}"

    lines = [f"Best {what}: {best}, {top.text(unit, decimals=d)}."]
    if beyond:
        lines.append(
            f"Worse beyond the noise (gap to the best larger than both seed ranges): {'; '.join(map(item, beyond))}."
        )
    if ties:
        lines.append(
            f"Within noise of it (gap to the best not larger than the wider seed range): {'; '.join(map(item, ties))}."
        )
    if unmeasured:
        shown = "; ".join(f"{name}, {spread(results[name]).text(unit, decimals=d)}" for name in unmeasured)
        lines.append(f"Not compared, with one seed only: {shown}.")
    note = unranked_note({name: values for name, values in results.items() if name not in unmeasured}, lower_is_better)
    return "\n".join(lines + ([note] if note else []))


QUICK_MODE_NOTE = (
    "Quick mode (a test run): far less data and training than the lesson's full size, so this verdict may change with "
    "other seeds and need not match the full-size run's."
)


def with_quick_mode_note(lines):
    """``lines`` (a list of sentences that state results), with QUICK_MODE_NOTE after them in quick mode."""
    return list(lines) + ([QUICK_MODE_NOTE] if quick_mode() else [])
