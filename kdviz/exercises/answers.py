"""Reading what a student typed, and the kinds of exercise that judge it.

Each kind of answer is read strictly, and anything else gets "Unclear: ..." with the forms to use, never a verdict:
- a number: an int or float, a numpy or torch scalar or one-element array, or a string holding only a number
  ("0.8438", "84.38%", "1/3"), optionally labelled by a name or an expression ("T = 2.40", "P3/P7 = 1.995",
  "1 - p_t ≈ 0.001"). The digits the student wrote count: a number is right when, rounded to the precision the
  question asks, it equals the answer rounded to it; a hint about a wrong value fires only when the answer, at the
  precision it was written, reads as that value; "%" is read only where the answer is a share or a probability;
- a set of class indices: a set, list, tuple, array or tensor of ints, or a string of ints such as "0, 1, 2";
- a choice: one option's letter ("b"), its word ("down"), its own text ("T < 1") or a plain paraphrase of a
  comparison ("below 1");
- a function, for the exercises about the distillation loss: judged by a function the question names.
Anything too large to read (a string of thousands of characters, an int of thousands of digits) is unclear too.
"""

import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from fractions import Fraction

import numpy as np

from .._checks import real_array

LETTERS = "abcdefgh"
LONGEST_ANSWER = 200  # characters: no answer a student types is longer; longer strings are unclear, never parsed


@dataclass
class Hint:
    wrong: object  # the wrong answer it is for: a number (inf and nan too), a set of class indices, or an option's word
    text: str
    within: float = 0.01  # numbers: the relative distance (absolute around 0) at which an answer counts as `wrong`


# ---- reading what a student typed ----

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_VALUE = rf"({_NUMBER})\s*(%|/\s*({_NUMBER}))?"
_EQUALS = re.compile(r"==?|≈")
_NOT_A_LABEL = re.compile(r"[<>!≠≤≥]|\b(?:not|no|never|isn'?t|aren'?t|or|and)\b|n't\b", re.IGNORECASE)
_NON_FINITE = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}
_NON_FINITE |= {"nan": math.nan, "+nan": math.nan, "-nan": math.nan}


@dataclass(frozen=True)
class Written:
    """A number as the student wrote it: ``digits`` holds its decimal digits as typed (trailing zeros kept, a
    percentage already divided by 100), or None where it carries no digits of its own (1/3, inf); ``label`` is
    what stood before its '=' or '≈', if anything."""

    value: float
    digits: Decimal = None
    percent: bool = False
    label: str = ""

    @property
    def unit(self):
        """The place value of the last digit written (0.001 for '0.150'); 0 for an exact value such as 1/3."""
        return 0.0 if self.digits is None else float(Decimal(1).scaleb(self.digits.as_tuple().exponent))

    def significant_digits(self):
        """How many significant digits were written: 3 for '0.150', 3 for '100', 1 for '1e2'."""
        return self.digits.adjusted() - self.digits.as_tuple().exponent + 1

    def decimals(self):
        return -self.digits.as_tuple().exponent


def _split_label(text):
    """(label, value text) of 'label = value' or 'label ≈ value' (the last sign counts, so a worked line such as
    'P3/P7 = 1000^(1/10) = 1.995' gives its result); ('', text) without a sign. None when what stands before the
    sign compares or negates ('x != 2', 'T <= 2', 'not 0.5 = 0.5') instead of naming the value."""
    signs = list(_EQUALS.finditer(text))
    if not signs:
        return "", text
    label, value = text[: signs[-1].start()].strip(), text[signs[-1].end() :].strip()
    return (None, None) if _NOT_A_LABEL.search(label) else (label, value)


def _decimal(number):
    return Decimal(number.replace("E", "e"))


def read_written(answer):
    """The number an answer holds, as a ``Written``, or None where it holds none. Strings: a number, a
    percentage ("25%"), a fraction ("1/4"), inf or nan, each optionally labelled ("T = 2.40"). Non-strings: an int,
    a float, a Fraction, or a numpy or torch scalar or one-element array. Non-finite values are read (inf, nan):
    the exercise decides what to make of them."""
    if isinstance(answer, str):
        return _read_text(answer)
    if answer is None or isinstance(answer, (bool, np.bool_, bytes, set, frozenset, dict)) or _holds_bools(answer):
        return None
    if isinstance(answer, Fraction):
        return Written(float(answer)) if abs(answer) < 10**300 else None
    if isinstance(answer, (int, np.integer)):
        return Written(float(answer), Decimal(int(answer))) if abs(int(answer)) < 10**300 else None
    try:
        array = real_array(answer, "answer")
    except (TypeError, ValueError, OverflowError):
        return None
    if array.size != 1:
        return None
    value = float(array.reshape(-1)[0])
    return Written(value, Decimal(repr(value)) if math.isfinite(value) else None)


def _holds_bools(answer):
    values = answer if isinstance(answer, (list, tuple)) else [answer]
    return any(isinstance(v, (bool, np.bool_)) for v in values) or str(getattr(answer, "dtype", "")).endswith("bool")


def _read_text(text):
    if len(text) > LONGEST_ANSWER:
        return None
    label, text = _split_label(text.strip().replace("\u2212", "-"))  # the typographic minus sign
    if text is None:
        return None
    if text.lower() in _NON_FINITE:
        return Written(_NON_FINITE[text.lower()], label=label)
    match = re.fullmatch(_VALUE, text)
    if not match:
        return None
    number, suffix, denominator = match.groups()
    try:
        if denominator:
            value = float(Fraction(number) / Fraction(denominator))
            digits = None
        else:
            digits = _decimal(number).scaleb(-2 if suffix == "%" else 0)
            value = float(digits)
    except (ZeroDivisionError, OverflowError, ValueError, InvalidOperation):
        return None
    return Written(value, digits, suffix == "%", label) if math.isfinite(value) else None


def read_number(answer):
    """One finite float from a number, a numpy or torch scalar or one-element array, or a string holding only a
    number: "0.25", "25%", "1/4", "2.5e-1", optionally labelled ("T = 2.40", "P3/P7 = 1.995"). None otherwise."""
    written = read_written(answer)
    return written.value if written is not None and math.isfinite(written.value) else None


def read_index_set(answer):
    """A set of ints from a set, list, tuple, range, array or tensor of integers, a single int, or a string of
    ints separated by commas or spaces, optionally in {} or [] ("0, 1, 2"). None for anything else."""
    if isinstance(answer, str):
        inner = answer.strip()
        if len(answer) > LONGEST_ANSWER or not inner:
            return None
        if inner[:1] + inner[-1:] in ("{}", "[]", "()"):
            inner = inner[1:-1]
        tokens = [t for t in re.split(r"[\s,]+", inner.strip()) if t]
        if not all(re.fullmatch(r"[+-]?\d{1,18}", t) for t in tokens):
            return None
        return {int(t) for t in tokens}
    if isinstance(answer, (set, frozenset)):
        answer = sorted(answer, key=_safe_repr)
    if answer is None or isinstance(answer, (bool, dict, bytes)) or _holds_bools(answer):
        return None
    try:
        values = real_array(answer, "answer").reshape(-1)
    except (TypeError, ValueError, OverflowError):
        return None
    if not np.isfinite(values).all() or (values != np.round(values)).any() or (np.abs(values) > 2**53).any():
        return None
    return {int(x) for x in values}


def _rounded(number, digits=None, decimals=None, cut=False):
    """A Decimal (or float, read by its shortest repr) rounded half up (or cut off) to ``digits`` significant
    digits or to ``decimals``: exact decimal arithmetic, so 33.15 rounds to 33.2 as a student rounds it."""
    number = number if isinstance(number, Decimal) else Decimal(repr(float(number)))
    if number == 0:
        return Decimal(0)
    place = number.adjusted() - digits + 1 if digits is not None else -decimals
    with localcontext() as context:
        context.prec = max(50, number.adjusted() - place + 5)
        return number.quantize(Decimal(1).scaleb(place), rounding=ROUND_DOWN if cut else ROUND_HALF_UP)


def _show(x):
    return f"{x:.10g}"


def _shown_as_written(written):
    """The number as the student wrote it ('0.150', '2'), or its value where it has no digits of its own."""
    if written.digits is None or abs(written.digits.adjusted()) > 12:
        return _show(written.value)
    return format(written.digits, "f")


def _safe_repr(answer):
    """repr(answer), or a description where repr fails (an int of more than 4300 digits) or would be huge."""
    if isinstance(answer, int) and not isinstance(answer, bool) and answer.bit_length() > 1000:
        return f"an int of about {round(answer.bit_length() * math.log10(2))} digits"
    if isinstance(answer, (str, bytes)) and len(answer) > LONGEST_ANSWER:
        return f"a {type(answer).__name__} of {len(answer):,} characters"
    try:
        return repr(answer)
    except Exception:  # any object's repr can fail; say what it was instead
        return f"a {type(answer).__name__}"


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
            return False, self.unclear(
                answer
            ) or f"Unclear: {self.forms()}; {_brief(answer)} could not be read as that."
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

    def unclear(self, answer):
        return None  # a message more precise than the forms, for an answer that could not be read

    def first_note(self, read):
        return None  # a note that outranks the hints

    def note(self, read):
        return None  # a note for what no hint matched

    def shown(self, read):
        return str(read)


def _brief(answer):
    text = _safe_repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Number(Exercise):
    digits: int = None  # significant digits wanted
    decimals: int = None  # or decimals wanted; neither: the exact value (0, 0.2, ...)
    share: bool = False  # a share or a probability: "25%" reads as 0.25; for any other quantity "%" is refused
    symbols: tuple = ()  # the asked variable's names ("alpha", "α"): a label that is an expression of it is unclear

    def precision(self):
        if self.digits:
            return f"{self.digits} significant digit{'s' * (self.digits > 1)}"
        return f"{self.decimals} decimal{'s' * (self.decimals != 1)}" if self.decimals is not None else None

    def prompt(self):
        return self.question + (f" ({self.precision()})" if self.precision() else "")

    def tolerance(self):
        """Half a unit in the last place asked for; 1e-9 (relative) for exact answers. ``accepts`` rounds instead:
        a number is right when it rounds to what the answer rounds to."""
        if self.digits:
            unit = 10.0 ** (math.floor(math.log10(abs(self.answer))) - self.digits + 1)
        elif self.decimals is not None:
            unit = 10.0**-self.decimals
        else:
            return 1e-9 * max(1.0, abs(self.answer))
        return 0.5 * unit * (1 + 1e-9)

    def read(self, answer):
        written = read_written(answer)
        if written is None or not math.isfinite(written.value):
            return None
        if (written.percent and not self.share) or self._labels_an_expression(written):
            return None
        return written

    def _labels_an_expression(self, written):
        """True when the label mentions the asked variable but is not that variable ('1 - alpha = 0', '1/T = 0.4')."""
        label = re.sub(r"[\s*]", "", written.label)
        mentioned = any(re.search(rf"(?<![\w]){re.escape(s)}(?![\w])", written.label) for s in self.symbols)
        return mentioned and label not in self.symbols

    def unclear(self, answer):
        written = read_written(answer)
        if written is None:
            return None
        if written.percent and not self.share:
            return (
                f"Unclear: {_brief(answer)} is a percentage, but this answer is not a share or a probability, so a "
                "percentage of it means nothing; give it as a plain number, such as 0.25 or 1/4."
            )
        if self._labels_an_expression(written):
            name = self.symbols[0]
            return (
                f"Unclear: {_brief(answer)} gives the value of {written.label.strip()}, not of {name}; give {name} "
                f"itself, as a number or as '{name} = ...'."
            )
        for hint in self.hints:  # inf and nan: told only where a hint names them, else unclear
            if not math.isfinite(written.value) and self.matches(written, hint):
                return f"Not yet. Hint: {hint.text}"
        return None

    def forms(self):
        what = f"one number, to {self.precision()}" if self.precision() else "one number"
        examples = "0.25, 25%, 1/4" if self.share else "0.25, 1/4"
        return f"give {what}, such as {examples} or 'T = 0.25' (a decimal point, not a comma)"

    def accepts(self, x):
        """x (a number, or a Written) rounded to the precision asked equals the answer rounded to it; exact answers
        within 1e-9 (relative)."""
        x = x if isinstance(x, Written) else read_written(x)
        if x is None or not math.isfinite(x.value):
            return False
        if self.precision() is None:
            return abs(x.value - self.answer) <= self.tolerance()
        exact = x.digits if x.digits is not None else Decimal(repr(x.value))
        asked = {"digits": self.digits} if self.digits else {"decimals": self.decimals}
        return _rounded(exact, **asked) == _rounded(self.answer, **asked)

    def matches(self, x, hint):
        """x reads as the hint's value: it equals it, or it lies within the hint's band together with the half unit
        of its own last written digit (so '1' does not read as 0.999, while '0.999' does)."""
        x = x if isinstance(x, Written) else read_written(x)
        wrong = float(hint.wrong)
        if x is None or x.value == wrong or (math.isnan(x.value) and math.isnan(wrong)):
            return x is not None
        if not (math.isfinite(x.value) and math.isfinite(wrong)):
            return False
        band = hint.within * (abs(wrong) if wrong != 0 else 1.0)
        return abs(x.value - wrong) + x.unit / 2 <= band

    def shown(self, x):
        return _show(x.value)

    def note(self, x):
        """'Close: ...' when the digits written are the answer rounded to fewer digits than asked, or cut off instead
        of rounded; or when x is within two units of the last place asked but rounds to another value."""
        if self.precision() is None or x.value == 0:
            return None
        unit_name = "significant digit" if self.digits else "decimal"
        wanted = self.digits or self.decimals
        if x.digits is not None:
            written = x.significant_digits() if self.digits else x.decimals()
            key = "digits" if self.digits else "decimals"
            places = f"{written} {unit_name}{'s' * (written != 1)}"
            if (1 if self.digits else 0) <= written < wanted and x.digits == _rounded(self.answer, **{key: written}):
                return f"Close: {_shown_as_written(x)} is the answer rounded to {places}; give {self.precision()}."
            if 0 <= written <= wanted and x.digits == _rounded(self.answer, **{key: written}, cut=True):
                return (
                    f"Close: {_shown_as_written(x)} is the answer cut off after {places}, not rounded; "
                    f"round it, to {self.precision()}."
                )
        if abs(x.value - self.answer) <= 4 * self.tolerance():
            return (
                f"Not yet, but close: {_shown_as_written(x)} differs from the answer in the last place asked for "
                f"({self.precision()}). Check how you rounded, and whether a value was rounded too early on the way."
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


_COMPARISON = re.compile(rf"(?:(\w+)\s*)?(<|>)\s*({_NUMBER})")
_COMPARISON_WORDS = {
    "<": ("below", "less than", "smaller than", "lower than", "under"),
    ">": ("above", "greater than", "larger than", "higher than", "more than", "over", "bigger than"),
}


def _paraphrases(text):
    """Plain rewordings of an option's text when it is a comparison: 'T < 1' -> 'below 1', 'T is less than 1',
    '< 1', 'T < 1.0', ...; nothing for other texts."""
    match = _COMPARISON.fullmatch(text.strip())
    if not match:
        return []
    name, sign, number = match.groups()
    numbers = {number, f"{float(number):g}", f"{float(number):.1f}"}
    found = []
    for n in numbers:
        found += [f"{sign} {n}"] + ([f"{name} {sign} {n}"] if name else [])
        for word in _COMPARISON_WORDS[sign]:
            found += [f"{word} {n}"] + ([f"{name} {word} {n}", f"{name} is {word} {n}"] if name else [])
    return found


@dataclass
class Choice(Exercise):
    options: list = field(default_factory=list)  # (word, description): answered by its letter, word or description

    def words(self):
        return [word for word, _ in self.options]

    def labels(self):
        letters = LETTERS[: len(self.options)]
        return [f"({letter}) {word}: {text}" for letter, (word, text) in zip(letters, self.options, strict=True)]

    def prompt(self):
        return self.question + "\n" + "\n".join(f"  {label}" for label in self.labels())

    def texts(self, word):
        """Every text read as the option ``word``, as compared (``_plain``): its word, its own description, and the
        plain rewordings of a comparison ('below 1' for 'T < 1')."""
        description = dict(self.options)[word]
        found = [word, description, *_paraphrases(description)]
        return {_plain(text) for text in found}

    def read(self, answer):
        """The option that a letter ("b", "(b)", "B."), word ("down"), description ("T < 1") or a rewording of a
        comparison ("below 1") names, or a letter with one of those ("b) down"); None otherwise."""
        if not isinstance(answer, str) or len(answer) > LONGEST_ANSWER:
            return None
        text = answer.strip().strip("'\"").strip().lower()
        texts = {word: self.texts(word) for word in self.words()}
        named = [word for word in self.words() if _plain(text) in texts[word]]
        if len(named) == 1:
            return named[0]
        letters = LETTERS[: len(self.options)]
        match = re.fullmatch(rf"\(?([{letters}])\s*[.):]?\s*\)?(?:\s+(.+))?", text)
        if match:
            letter, rest = match.groups()
            word = self.words()[letters.index(letter)]
            return word if rest is None or _plain(rest) in texts[word] else None
        return None

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


def _plain(text):
    """An option's text as compared: lower case, single spaces, no spaces around a comparison sign, no final full
    stop or quotes, and 'T^2' or 'T**2' as 't2'."""
    text = re.sub(r"\s+", " ", text.strip().strip("'\"").strip().lower().rstrip("."))
    text = re.sub(r"\s*([<>=])\s*", r"\1", text)
    return re.sub(r"[\^*]", "", text)


@dataclass
class Code(Exercise):
    judge: object = None  # judge(function) -> (right?, message)

    def feedback(self, answer):
        return self.judge(answer)
