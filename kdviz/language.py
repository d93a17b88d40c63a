"""A language small enough to know exactly: the source of lesson 07's words, and exact measures of any model of it.

The source writes words of syllables, a consonant and a vowel each ("ba", "nona", "dako"), and ends each with END
('.'). The first consonant picks the word's family: b- and n-words (80% of the words) go on with n or b, d-words
(20%) with k or d; after each syllable a word ends with probability 1/2. The next symbol's probabilities depend on
the last two symbols only (START '^' pads the beginning): a second-order Markov chain, written out in the rules
below. A word has at most MAX_LETTERS letters: a model that writes more is cut off there, and the cut string is
invalid (the source's own words are cut with probability 2^-7).

Every model of lesson 07 is a *table* of next-symbol probabilities, one row per context (the last two symbols,
``CONTEXTS``), like the source itself. So the probability of any string, the KL between two models' string
distributions and the entropy of a model's strings are sums over contexts taken step by step: computed exactly,
never estimated from samples. numpy only.
"""

import functools
from dataclasses import dataclass

import numpy as np

from ._checks import MAX_SEED, count, one_of
from ._checks import next_symbol_table as _checked_table

CONSONANTS, VOWELS = "bndk", "ao"
LETTERS = CONSONANTS + VOWELS
END, START = ".", "^"
SYMBOLS = LETTERS + END  # the classes of every model: six letters and END (the last)
MAX_LETTERS = 14
RARE_SHARE = 0.3  # the rare strings: the least probable valid strings, together this share of the source's words

FIRST_CONSONANT = {"b": 0.5, "n": 0.3, "d": 0.2}
VOWEL_AFTER = {
    "b": {"a": 0.7, "o": 0.3},
    "n": {"a": 0.6, "o": 0.4},
    "d": {"o": 0.6, "a": 0.4},
    "k": {"a": 0.5, "o": 0.5},
}
B_FAMILY = {"n": 0.35, "b": 0.15, END: 0.5}  # after a syllable of a b- or n-word
D_FAMILY = {"k": 0.35, "d": 0.15, END: 0.5}  # after a syllable of a d-word
AFTER_SYLLABLE = {"b": B_FAMILY, "n": B_FAMILY, "d": D_FAMILY, "k": D_FAMILY}  # keyed by the syllable's consonant

CONTEXTS = [START + START] + [START + x for x in LETTERS] + [x + y for x in LETTERS for y in LETTERS]
CONTEXT_INDEX = {context: i for i, context in enumerate(CONTEXTS)}
# the context after writing letter c in context s
NEXT_CONTEXT = np.array([[CONTEXT_INDEX[(START if s[1] == START else s[1]) + c] for c in LETTERS] for s in CONTEXTS])
# each context as two codes of START + LETTERS, what a model reads
CONTEXT_CODES = np.array([[(START + LETTERS).index(x) for x in context] for context in CONTEXTS])
N_CONTEXTS, N_SYMBOLS, END_INDEX = len(CONTEXTS), len(SYMBOLS), len(SYMBOLS) - 1


def next_symbol_table(table, name="table"):
    """``table`` checked to be a model of the source: one row of next-symbol probabilities per context."""
    return _checked_table(table, (N_CONTEXTS, N_SYMBOLS), name)


def source_rule(context):
    """The source's next-symbol probabilities after ``context`` (two symbols), as {symbol: probability}; {END: 1}
    for a context the source never writes (its row exists so that every table is a distribution)."""
    before, last = context
    if context == START + START:
        return FIRST_CONSONANT
    if last in VOWEL_AFTER:
        return VOWEL_AFTER[last]
    if last in VOWELS and before in AFTER_SYLLABLE:
        return AFTER_SYLLABLE[before]
    return {END: 1.0}


@functools.cache
def _truth():
    table = np.zeros((N_CONTEXTS, N_SYMBOLS))
    for i, context in enumerate(CONTEXTS):
        for symbol, p in source_rule(context).items():
            table[i, SYMBOLS.index(symbol)] = p
    table.flags.writeable = False
    return table


def truth_table():
    """The source as a table: row s holds the probabilities of the next symbol after context CONTEXTS[s]."""
    return _truth().copy()


# ---- the source's valid strings, each with its probability ------------------------------------------------


@dataclass(frozen=True)
class ValidStrings:
    """Every string the source can write (at most MAX_LETTERS letters, then END), in order of length.

    ``contexts`` and ``symbols`` (strings, MAX_LETTERS + 1) give each string's steps, END included; ``used`` marks
    the steps a string has. ``rare`` marks the least probable strings that together hold RARE_SHARE of the
    source's words, ``d_family`` the d-words."""

    texts: tuple
    contexts: np.ndarray
    symbols: np.ndarray
    used: np.ndarray
    probabilities: np.ndarray
    rare: np.ndarray
    d_family: np.ndarray


@functools.cache
def valid_strings():
    """The source's valid strings (about 33,000), enumerated once: ``ValidStrings``."""
    truth = _truth()
    steps = MAX_LETTERS + 1
    texts, contexts, symbols, used, probabilities = [], [], [], [], []
    # the prefixes of length t: their context, probability, and the (context, letter) steps so far
    context, probability = np.array([0]), np.array([1.0])
    path_contexts, path_letters, prefixes = np.zeros((1, 0), int), np.zeros((1, 0), int), [""]
    for t in range(steps):
        ends = truth[context, END_INDEX] > 0
        for keep in np.flatnonzero(ends):
            texts.append(prefixes[keep] + END)
        n = int(ends.sum())
        contexts.append(np.pad(np.column_stack([path_contexts[ends], context[ends]]), ((0, 0), (0, steps - t - 1))))
        symbols.append(
            np.pad(np.column_stack([path_letters[ends], np.full(n, END_INDEX)]), ((0, 0), (0, steps - t - 1)))
        )
        used.append(np.arange(steps)[None, :].repeat(n, 0) <= t)
        probabilities.append(probability[ends] * truth[context[ends], END_INDEX])
        if t == MAX_LETTERS:
            break
        parent, letter = np.nonzero(truth[context, :END_INDEX] > 0)
        prefixes = [prefixes[i] + LETTERS[c] for i, c in zip(parent, letter, strict=True)]
        path_contexts = np.column_stack([path_contexts[parent], context[parent]])
        path_letters = np.column_stack([path_letters[parent], letter])
        probability = probability[parent] * truth[context[parent], letter]
        context = NEXT_CONTEXT[context[parent], letter]
    probabilities = np.concatenate(probabilities)
    by_probability = np.argsort(probabilities, kind="stable")
    cumulative = np.cumsum(probabilities[by_probability])
    rare = np.zeros(len(probabilities), dtype=bool)
    rare[by_probability[cumulative <= RARE_SHARE * cumulative[-1]]] = True
    return ValidStrings(
        texts=tuple(texts),
        contexts=np.concatenate(contexts),
        symbols=np.concatenate(symbols),
        used=np.concatenate(used),
        probabilities=probabilities,
        rare=rare,
        d_family=np.array([text[0] == "d" for text in texts]),
    )


def string_probabilities(table):
    """Q(x) for every valid string x of the source (``valid_strings()`` order), under the model ``table``."""
    table = next_symbol_table(table)
    strings = valid_strings()
    with np.errstate(divide="ignore"):
        steps = np.where(strings.used, np.log(table[strings.contexts, strings.symbols]), 0.0)
    return np.exp(steps.sum(axis=1))


def valid_share(table):
    """The probability that the model writes a valid string: one the source could write, ended within MAX_LETTERS.

    Computed step by step: the mass still on a valid path moves only along steps the source can take."""
    table = next_symbol_table(table)
    allowed = np.where(_truth() > 0, table, 0.0)
    masses = context_masses(allowed, checked=True)
    return float((masses @ allowed[:, END_INDEX]).sum())


def coverage(table, strings="rare"):
    """How much of the source's ``strings`` ("rare", "frequent", "d-words" or "all") the model reproduces:
    sum_x min(Q(x), P(x)) / sum_x P(x) over them. 1 when the model gives each such string at least the source's
    probability; 0 when it never writes any of them."""
    chosen = _string_set(strings)
    q, p = string_probabilities(table)[chosen], valid_strings().probabilities[chosen]
    return float(np.minimum(q, p).sum() / p.sum())


def _string_set(name):
    strings = valid_strings()
    sets = {
        "rare": strings.rare,
        "frequent": ~strings.rare,
        "d-words": strings.d_family,
        "all": np.ones(len(strings.texts), dtype=bool),
    }
    return sets[one_of(name, sets, "strings")]


def truth_log_probability(table):
    """The mean log P(x) under the source of the valid strings the model writes: sum_x Q(x) log P(x) / sum_x Q(x)
    over valid x, in nats per string (higher: the model's valid strings are more typical of the source)."""
    q = string_probabilities(table)
    return float(q @ np.log(valid_strings().probabilities) / q.sum())


# ---- exact measures of a model's whole string distribution ------------------------------------------------


def context_masses(table, checked=False):
    """(MAX_LETTERS + 1, N_CONTEXTS): row t holds the probability that the model has written t letters and is in
    each context, not yet ended (row 0: the start). Cut strings are those still going at t = MAX_LETTERS."""
    table = table if checked else next_symbol_table(table)
    masses = np.zeros((MAX_LETTERS + 1, N_CONTEXTS))
    masses[0, 0] = 1.0
    for t in range(MAX_LETTERS):
        np.add.at(masses[t + 1], NEXT_CONTEXT, masses[t][:, None] * table[:, :END_INDEX])
    return masses


def _per_step(table, full_step, last_step):
    """sum over steps t and contexts s of the mass at (t, s) times full_step[s] (t < MAX_LETTERS) or last_step[s]
    (t = MAX_LETTERS, where the only choice left is END or the cut)."""
    masses = context_masses(table)
    return float(masses[:MAX_LETTERS].sum(axis=0) @ full_step + masses[MAX_LETTERS] @ last_step)


def _plogp_over_q(p, q):
    """p log(p / q) with 0 log 0 = 0, inf where q = 0 < p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)


def _end_or_cut(table):
    """(P(END), P(not END)) in each context: the two outcomes left at the last step."""
    return np.stack([table[:, END_INDEX], 1.0 - table[:, END_INDEX]], axis=1)


def sequence_kl(p_table, q_table):
    """KL(P || Q) between the string distributions of two models, in nats per string: the per-step KLs of their
    next-symbol tables summed over the contexts P visits (exact; inf where Q rules out a string P writes)."""
    p, q = next_symbol_table(p_table, "p_table"), next_symbol_table(q_table, "q_table")
    full = _plogp_over_q(p, q).sum(axis=1)
    last = _plogp_over_q(_end_or_cut(p), _end_or_cut(q)).sum(axis=1)
    return max(_per_step(p, full, last), 0.0)


def string_entropy(table):
    """H(Q) of the model's string distribution, in nats per string: the entropies of its next-symbol distributions
    summed over the contexts it visits (exact)."""
    table = next_symbol_table(table)
    return _per_step(table, -_plogp_over_q(table, 1.0).sum(axis=1), -_plogp_over_q(_end_or_cut(table), 1.0).sum(1))


def source_contexts():
    """The contexts the source writes (those its strings pass through), in CONTEXTS order."""
    return [context for context, mass in zip(CONTEXTS, context_masses(_truth()).sum(axis=0), strict=True) if mass > 0]


def expected_length(table):
    """The mean number of letters in the model's strings (cut strings count MAX_LETTERS)."""
    return float(context_masses(table)[1:].sum())


# ---- writing strings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Strings a model wrote: their texts (a cut string has no END) and the counts of every step it took,
    (N_CONTEXTS, N_SYMBOLS): how often it wrote each symbol in each context (at the cut, the symbol it drew there).
    A model trained on these strings sees exactly these steps."""

    texts: tuple
    counts: np.ndarray


def sample_strings(table, n, seed=0):
    """``n`` strings written by the model ``table`` (seeded): a ``Sample``."""
    table = next_symbol_table(table)
    n, seed = count(n, "n (the number of strings)", 1), count(seed, "seed", 0, MAX_SEED)
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(table, axis=1)
    cumulative[:, -1] = 1.0  # rounding never lets a draw fall past the last symbol
    context, going, ended = np.zeros(n, dtype=int), np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    letters = np.full((n, MAX_LETTERS), -1)
    counts = np.zeros((N_CONTEXTS, N_SYMBOLS))
    for t in range(MAX_LETTERS + 1):
        symbol = (rng.random(n)[:, None] > cumulative[context]).sum(axis=1)
        np.add.at(counts, (context[going], symbol[going]), 1)
        ended |= going & (symbol == END_INDEX)
        going &= symbol != END_INDEX
        if t == MAX_LETTERS or not going.any():
            break
        letters[going, t] = symbol[going]
        context = np.where(going, NEXT_CONTEXT[context, np.minimum(symbol, END_INDEX - 1)], context)
    texts = tuple(
        "".join(LETTERS[c] for c in row if c >= 0) + (END if done else "")
        for row, done in zip(letters, ended, strict=True)
    )
    return Sample(texts, counts)


def greedy_string(table):
    """The string the model writes at T = 0: its most probable symbol at every step (the first on a tie);
    cut at MAX_LETTERS letters if it never ends."""
    table = next_symbol_table(table)
    context, text = 0, ""
    for _ in range(MAX_LETTERS):
        symbol = int(np.argmax(table[context]))
        if symbol == END_INDEX:
            return text + END
        text += LETTERS[symbol]
        context = NEXT_CONTEXT[context, symbol]
    return text + END if np.argmax(table[context]) == END_INDEX else text


@functools.cache
def _valid_texts():
    return frozenset(valid_strings().texts)


def is_valid(text):
    """Whether the source could write ``text`` (letters, then END)."""
    return text in _valid_texts()
