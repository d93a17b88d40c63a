"""Seed spread: summaries of repeated runs, and whether a difference between two settings exceeds it.

The rule used throughout the lessons: a gap between the mean results of two settings counts as a
finding only when it is larger than the seed range (max - min) of either setting. With one seed
there is no measured spread, so no difference counts.
"""

from dataclasses import dataclass

import numpy as np

from ._checks import real_array


def _fmt(x, scale):
    """x with one decimal for results of size 10 to 1e15 (errors, percentages), else 3 significant digits."""
    return f"{x:.1f}" if 10 <= scale < 1e15 else f"{x:.3g}"


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

    def __str__(self):
        if self.n == 1:
            return f"{self.values[0]:g} (1 seed)"
        scale = max(abs(self.low), abs(self.high))
        return f"{_fmt(self.mean, scale)} +- {_fmt(self.sd, scale)} (range {self.low:g}-{self.high:g}, {self.n} seeds)"


def spread(values):
    """A Spread of the per-seed results ``values`` (a number or a sequence of numbers)."""
    array = np.ravel(real_array(values, "the per-seed results"))
    if array.size == 0:
        raise ValueError("spread needs at least one result")
    if not np.isfinite(array).all():
        raise ValueError(f"the per-seed results must be finite, got {array.tolist()}: did a run diverge?")
    values = tuple(int(v) if v.is_integer() and abs(v) < 2**53 else v for v in map(float, array))
    return Spread(values)


def exceeds_noise(a, b):
    """True when |mean a - mean b| is larger than the seed range of a and of b (needs >= 2 seeds each)."""
    a, b = spread(a), spread(b)
    if a.n < 2 or b.n < 2:
        return False
    return abs(a.mean - b.mean) > max(a.range, b.range)


def compare(name_a, a, name_b, b, what="test errors", lower_is_better=True):
    """One sentence comparing two settings' results over seeds, calling a winner only beyond the noise."""
    a, b = spread(a), spread(b)
    gap = a.mean - b.mean
    scale = max(abs(v) for v in a.values + b.values)
    if a.n < 2 or b.n < 2:
        return (
            f"{name_a}: {a}; {name_b}: {b}. With a single seed the spread between runs is not measured, "
            "so this difference may be noise: run more seeds before calling either better."
        )
    if not exceeds_noise(a.values, b.values):
        return (
            f"{name_a}: {a}; {name_b}: {b}. The gap of {_fmt(abs(gap), scale)} {what} is within noise "
            f"(not larger than the seed range, {max(a.range, b.range):g})."
        )
    winner = name_a if (gap < 0) == lower_is_better else name_b
    return (
        f"{name_a}: {a}; {name_b}: {b}. The gap, {_fmt(abs(gap), scale)} {what} in favour of {winner}, is larger than "
        f"the seed range ({max(a.range, b.range):g}): a real difference."
    )


def best_and_ties(results, lower_is_better=True):
    """(best setting, settings within noise of it, settings beyond noise) for a dict setting -> per-seed results.

    The best setting has the best mean; another is "within noise" of it unless ``exceeds_noise`` says otherwise.
    """
    if not results:
        raise ValueError("best_and_ties needs at least one setting")
    sign = 1 if lower_is_better else -1
    best = min(results, key=lambda name: sign * spread(results[name]).mean)
    others = [name for name in results if name != best]
    beyond = [name for name in others if exceeds_noise(results[best], results[name])]
    return best, [name for name in others if name not in beyond], beyond


def describe_best(results, what="setting", lower_is_better=True):
    """A sentence naming the best setting and which others are within noise of it (printed, never typed).

    A setting with one seed has no measured spread: it is named as not compared, never as within noise."""
    best, ties, beyond = best_and_ties(results, lower_is_better)
    if spread(results[best]).n < 2:
        return f"Best {what}: {best} ({spread(results[best])}); one seed only, so no difference counts yet."
    unmeasured = [name for name in ties if spread(results[name]).n < 2]
    ties = [name for name in ties if name not in unmeasured]
    sentence = f"Best {what}: {best}, {spread(results[best])}."
    if not ties and not unmeasured:
        return sentence + f" Every other {what} is worse beyond the noise."
    if ties:
        sentence += f" Within noise of it: {'; '.join(map(str, ties))}."
    if beyond:
        sentence += f" Worse beyond the noise: {'; '.join(map(str, beyond))}."
    if unmeasured:
        sentence += f" Not compared, with one seed only: {'; '.join(map(str, unmeasured))}."
    return sentence
