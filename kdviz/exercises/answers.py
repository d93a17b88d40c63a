"""Reading what a student typed, and the kinds of exercise that judge it.

Each kind of answer is read strictly, and anything else gets "Unclear: ..." with the forms to use, never a verdict:
- a number: an int or float, a numpy or torch scalar or one-element array, or a string holding only a number
  ("0.8438", "84.38%", "1/3", or "T = 2.40"); each question says how precise it wants it, and the tolerance
  excludes every wrong answer that a hint exists for;
- a set of class indices: a set, list, tuple, array or tensor of ints, or a string of ints such as "0, 1, 2";
- a choice: one option's letter ("b") or its word ("down"), as the question lists them;
- a function, for the exercises about the distillation loss: judged by a function the question names.
"""

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .._checks import real_array

LETTERS = "abcdefgh"


@dataclass
class Hint:
    wrong: object  # the wrong answer it is for: a number, a set of class indices, or an option's word
    text: str
    within: float = 0.01  # numbers: the relative distance (absolute around 0) at which an answer counts as `wrong`


# ---- reading what a student typed ----

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_NAME_IS = r"(?:[^\W\d]\w*\*?\s*[=≈]\s*)?"  # "T = ", "alpha=", "α = ", "T* = "


def read_number(answer):
    """One finite float from a number, a numpy or torch scalar or one-element array or list, or a string holding
    only a number: "0.25", "25%", "1/4", "2.5e-1", optionally named ("T = 2.40"). None for anything else."""
    if isinstance(answer, str):
        return _read_number_text(answer)
    if answer is None or isinstance(answer, (bool, np.bool_, bytes, set, frozenset, dict)):
        return None
    if isinstance(answer, Fraction):
        answer = float(answer)
    try:
        array = real_array(answer, "answer")
    except (TypeError, ValueError, OverflowError):
        return None
    if array.size != 1 or not np.isfinite(array).all() or _holds_bools(answer):
        return None
    return float(array.reshape(-1)[0])


def _holds_bools(answer):
    values = answer if isinstance(answer, (list, tuple)) else [answer]
    return any(isinstance(v, (bool, np.bool_)) for v in values) or str(getattr(answer, "dtype", "")).endswith("bool")


def _read_number_text(text):
    text = text.strip().replace("\u2212", "-")  # the typographic minus sign
    match = re.fullmatch(rf"{_NAME_IS}({_NUMBER})\s*(%|/\s*({_NUMBER}))?", text)
    if not match:
        return None
    number, suffix, denominator = match.groups()
    try:
        value = float(Fraction(number) / (Fraction(denominator) if denominator else 1))
    except (ZeroDivisionError, OverflowError, ValueError):
        return None
    value = value / 100 if suffix == "%" else value
    return value if math.isfinite(value) else None


def read_index_set(answer):
    """A set of ints from a set, list, tuple, range, array or tensor of integers, a single int, or a string of
    ints separated by commas or spaces, optionally in {} or [] ("0, 1, 2"). None for anything else."""
    if isinstance(answer, str):
        inner = answer.strip()
        if inner[:1] + inner[-1:] in ("{}", "[]", "()"):
            inner = inner[1:-1]
        tokens = [t for t in re.split(r"[\s,]+", inner.strip()) if t]
        if not all(re.fullmatch(r"[+-]?\d+", t) for t in tokens) or not answer.strip():
            return None
        return {int(t) for t in tokens}
    if isinstance(answer, (set, frozenset)):
        answer = sorted(answer, key=repr)
    if answer is None or isinstance(answer, (bool, dict, bytes)) or _holds_bools(answer):
        return None
    try:
        values = real_array(answer, "answer").reshape(-1)
    except (TypeError, ValueError, OverflowError):
        return None
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        return None
    return {int(x) for x in values}


def _round(value, digits=None, decimals=None, how=round):
    """``value`` rounded (or, with how=math.trunc, cut) to ``digits`` significant digits or ``decimals``."""
    if digits is not None:
        decimals = digits - 1 - math.floor(math.log10(abs(value)))
    scale = 10.0**decimals
    return how(value * scale) / scale


def _show(x):
    return f"{x:.10g}"


# ---- the kinds of exercise ----


@dataclass
class Exercise:
    question: str
    answer: object
    solution: str
    hints: list = field(default_factory=list)
    name: str = ""  # set from the EXERCISES table

    def prompt(self):
        return self.question

    def feedback(self, answer):
        """(right?, message) for an answer that is not None."""
        read = self.read(answer)
        if read is None:
            return False, f"Unclear: {self.forms()}; {_brief(answer)} could not be read as that."
        if self.accepts(read):
            return True, f"Correct: {self.shown(read)}."
        if note := self.first_note(read):
            return False, note
        for hint in self.hints:
            if self.matches(read, hint):
                return False, f"Not yet. Hint: {hint.text}"
        if note := self.note(read):
            return False, note
        return False, (
            f"Not yet: {self.shown(read)} is not it. Re-read the section above, or call show_solution({self.name!r})."
        )

    def first_note(self, read):
        return None  # a note that outranks the hints

    def note(self, read):
        return None  # a note for what no hint matched

    def shown(self, read):
        return str(read)


def _brief(answer):
    text = repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Number(Exercise):
    digits: int = None  # significant digits wanted
    decimals: int = None  # or decimals wanted; neither: the exact value (0, 0.2, ...)

    def precision(self):
        if self.digits:
            return f"{self.digits} significant digit{'s' * (self.digits > 1)}"
        return f"{self.decimals} decimal{'s' * (self.decimals != 1)}" if self.decimals is not None else None

    def prompt(self):
        return self.question + (f" ({self.precision()})" if self.precision() else "")

    def tolerance(self):
        """Half a unit in the last place asked for (so the answer rounded to it passes); 1e-9 for exact ones."""
        if self.digits:
            unit = 10.0 ** (math.floor(math.log10(abs(self.answer))) - self.digits + 1)
        elif self.decimals is not None:
            unit = 10.0**-self.decimals
        else:
            return 1e-9 * max(1.0, abs(self.answer))
        return 0.5 * unit * (1 + 1e-9)

    def read(self, answer):
        return read_number(answer)

    def forms(self):
        what = f"one number, to {self.precision()}" if self.precision() else "one number"
        return f"give {what}, such as 0.25, 25%, 1/4 or 'T = 0.25' (a decimal point, not a comma)"

    def accepts(self, x):
        return abs(x - self.answer) <= self.tolerance()

    def matches(self, x, hint):
        return bool(np.isclose(x, hint.wrong, rtol=hint.within, atol=hint.within if hint.wrong == 0 else 0))

    def shown(self, x):
        return _show(x)

    def note(self, x):
        """'Close: ...' when x is the answer rounded to fewer digits than asked for, or cut off instead of rounded."""
        if self.precision() is None or x == 0:
            return None
        wanted, unit = (self.digits, "significant digit") if self.digits else (self.decimals, "decimal")
        fewest = 1 if self.digits else 0
        for how, places in ((round, range(wanted - 1, fewest - 1, -1)), (math.trunc, range(wanted, fewest - 1, -1))):
            for n in places:
                cut = _round(self.answer, **{"digits" if self.digits else "decimals": n}, how=how)
                if math.isclose(x, cut, rel_tol=1e-9, abs_tol=1e-12):
                    places_text = f"{n} {unit}{'s' * (n != 1)}"
                    if how is round:
                        shown = f"{x:#.{n}g}".rstrip(".") if self.digits else f"{x:.{n}f}"
                        shown = _show(x) if "e" in shown else shown
                        return f"Close: {shown} is the answer rounded to {places_text}; give {self.precision()}."
                    return (
                        f"Close: {_show(x)} is the answer cut off after {places_text}, not rounded; "
                        f"round it, to {self.precision()}."
                    )
        return None


@dataclass
class IndexSet(Exercise):
    n_classes: int = None

    def read(self, answer):
        return read_index_set(answer)

    def forms(self):
        return "give the class indices as a set or list of ints, such as {0, 2} or [0, 2] (or the string '0, 2')"

    def accepts(self, read):
        return read == self.answer

    def matches(self, read, hint):
        return hint.wrong(read) if callable(hint.wrong) else read == hint.wrong

    def shown(self, read):
        return str(sorted(read)).replace("[", "{").replace("]", "}") if read else "set()"

    def first_note(self, read):
        last = self.n_classes - 1
        if {i - 1 for i in read} == self.answer:
            return f"Not yet. Hint: Python counts classes from 0: their indices are 0 to {last}, not 1 to {last + 1}."
        return None

    def note(self, read):
        last = self.n_classes - 1
        if any(i < 0 or i > last for i in read):
            return f"Not yet: there are {self.n_classes} classes, with indices 0 to {last}."
        return None


@dataclass
class Choice(Exercise):
    options: list = field(default_factory=list)  # (word, description): answered by its letter or its word

    def words(self):
        return [word for word, _ in self.options]

    def labels(self):
        letters = LETTERS[: len(self.options)]
        return [f"({letter}) {word}: {text}" for letter, (word, text) in zip(letters, self.options, strict=True)]

    def prompt(self):
        return self.question + "\n" + "\n".join(f"  {label}" for label in self.labels())

    def read(self, answer):
        """The option a letter ("b", "(b)", "B.") or word ("down"), or both ("b) down"), names; None otherwise."""
        if not isinstance(answer, str):
            return None
        text = answer.strip().strip("'\"").strip().lower()
        words = [_plain(word) for word in self.words()]
        letters = LETTERS[: len(words)]
        match = re.fullmatch(rf"\(?([{letters}])\s*[.):]?\s*\)?(?:\s+(.+))?", text)
        if match:
            letter, word = match.groups()
            index = letters.index(letter)
            return self.words()[index] if word is None or _plain(word) == words[index] else None
        text = _plain(text)
        return self.words()[words.index(text)] if text in words else None

    def forms(self):
        letters = LETTERS[: len(self.options)]
        pairs = ", ".join(f"{letter} or '{word}'" for letter, word in zip(letters, self.words(), strict=True))
        return f"answer with one option, its letter or its word: {pairs}"

    def accepts(self, word):
        return word == self.answer

    def matches(self, word, hint):
        return word == hint.wrong

    def shown(self, word):
        return f"({LETTERS[self.words().index(word)]}) {word}"


def _plain(word):
    """An option's word as compared: lower case, without a final full stop, and 'T^2' or 'T**2' as 't2'."""
    return re.sub(r"[\^*]", "", word.strip().lower().rstrip("."))


@dataclass
class Code(Exercise):
    judge: object = None  # judge(function) -> (right?, message)

    def feedback(self, answer):
        return self.judge(answer)
