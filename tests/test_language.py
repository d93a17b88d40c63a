"""kdviz.language: the source's rules, its valid strings and the exact measures of a model's strings, each checked
against a second computation (brute-force enumeration of every outcome, the rules read word by word, samples)."""

import numpy as np
import pytest

from kdviz import language as L
from kdviz.temperature import softmax

TRUTH = L.truth_table()


def random_table(seed, concentration=0.5):
    """A model with every symbol possible in every context."""
    return np.random.default_rng(seed).dirichlet(np.full(L.N_SYMBOLS, concentration), size=L.N_CONTEXTS)


def probability_by_rules(text):
    """P(text) read from the rules, symbol by symbol (no tables)."""
    context, p = L.START + L.START, 1.0
    for symbol in text:
        p *= L.source_rule(context).get(symbol, 0.0)
        context = context[1] + symbol
    return p


def every_outcome(support):
    """Every outcome of a model whose possible steps are ``support`` (a table > 0): (symbols of a finished string or
    of a cut one, contexts of its steps), by depth-first search. The cut string's last step is 'not END'."""
    outcomes, stack = [], [((), (), 0)]
    while stack:
        symbols, contexts, context = stack.pop()
        if support[context, L.END_INDEX]:
            outcomes.append((symbols + (L.END_INDEX,), contexts + (context,), False))
        if len(symbols) == L.MAX_LETTERS:
            if (support[context, : L.END_INDEX]).any():
                outcomes.append((symbols, contexts + (context,), True))
            continue
        for c in np.flatnonzero(support[context, : L.END_INDEX]):
            stack.append((symbols + (c,), contexts + (context,), L.NEXT_CONTEXT[context, c]))
    return outcomes


def log_probabilities(table, outcomes):
    """log Q of every outcome (vectorised over them): its steps, and for a cut one, 'not END' at its last context."""
    steps = L.MAX_LETTERS + 1
    contexts = np.zeros((len(outcomes), steps), dtype=int)
    symbols = np.zeros((len(outcomes), steps), dtype=int)
    used = np.zeros((len(outcomes), steps), dtype=bool)
    for k, (symbol_list, context_list, _) in enumerate(outcomes):
        n = len(symbol_list)
        contexts[k, :n], symbols[k, :n], used[k, :n] = context_list[:n], symbol_list, True
    cut = np.array([o[2] for o in outcomes])
    last = np.array([o[1][-1] for o in outcomes])
    with np.errstate(divide="ignore"):
        total = np.where(used, np.log(table[contexts, symbols]), 0.0).sum(axis=1)
        return total + np.where(cut, np.log(1 - table[last, L.END_INDEX]), 0.0)


@pytest.fixture(scope="module")
def source_outcomes():
    return every_outcome(TRUTH > 0)


def test_the_source_follows_its_rules():
    np.testing.assert_allclose(TRUTH.sum(axis=1), 1.0)
    assert probability_by_rules("ba.") == pytest.approx(0.5 * 0.7 * 0.5)
    assert probability_by_rules("bak") == 0 and probability_by_rules("da.") == pytest.approx(0.2 * 0.4 * 0.5)
    strings = L.valid_strings()
    d_share = strings.probabilities[strings.d_family].sum() / strings.probabilities.sum()
    assert d_share == pytest.approx(L.FIRST_CONSONANT["d"], abs=1e-12)  # every family ends alike


def test_the_valid_strings_are_every_finished_string_with_its_probability(source_outcomes):
    strings = L.valid_strings()
    finished = ["".join(L.SYMBOLS[c] for c in symbols) for symbols, _, cut in source_outcomes if not cut]
    assert sorted(finished) == sorted(strings.texts) and len(set(strings.texts)) == len(strings.texts)
    for k in range(0, len(strings.texts), 997):
        assert strings.probabilities[k] == pytest.approx(probability_by_rules(strings.texts[k]), rel=1e-12)
    np.testing.assert_allclose(L.string_probabilities(TRUTH), strings.probabilities, rtol=1e-12)
    cut = np.array([o[2] for o in source_outcomes])
    cut_mass = np.exp(log_probabilities(TRUTH, source_outcomes))[cut].sum()
    assert strings.probabilities.sum() + cut_mass == pytest.approx(1.0, abs=1e-12)
    assert cut_mass == pytest.approx(2.0**-7, rel=1e-9)  # every syllable ends the word with probability 1/2


def test_the_rare_strings_are_the_least_probable_holding_the_rare_share():
    strings = L.valid_strings()
    p = strings.probabilities
    assert p[strings.rare].max() <= p[~strings.rare].min()
    assert p[strings.rare].sum() <= L.RARE_SHARE * p.sum() < p[strings.rare].sum() + p[~strings.rare].min()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_kl_and_the_entropy_equal_their_sums_over_every_outcome(seed, source_outcomes):
    q = random_table(seed)
    p_log, q_log = log_probabilities(TRUTH, source_outcomes), log_probabilities(q, source_outcomes)
    assert L.sequence_kl(TRUTH, q) == pytest.approx(np.sum(np.exp(p_log) * (p_log - q_log)), rel=1e-10)
    assert L.string_entropy(TRUTH) == pytest.approx(-np.sum(np.exp(p_log) * p_log), rel=1e-10)
    assert L.sequence_kl(q, q) == 0 and L.sequence_kl(TRUTH, TRUTH) == 0


def test_a_model_that_rules_out_a_valid_string_is_infinitely_far():
    q = TRUTH.copy()
    q[L.CONTEXT_INDEX["ba"]] = np.eye(L.N_SYMBOLS)[L.SYMBOLS.index("n")]  # never ends after "ba"
    assert L.sequence_kl(TRUTH, q) == np.inf
    assert L.sequence_kl(q, TRUTH) < np.inf  # q writes nothing the source cannot


@pytest.mark.parametrize("seed", [0, 1])
def test_the_valid_share_step_by_step_equals_the_sum_over_the_valid_strings(seed):
    q = random_table(seed, concentration=2.0)
    assert L.valid_share(q) == pytest.approx(L.string_probabilities(q).sum(), rel=1e-12)
    assert L.valid_share(TRUTH) == pytest.approx(1 - 2.0**-7)


def test_coverage_and_log_probability_of_the_source_and_of_narrower_models():
    assert L.coverage(TRUTH, "rare") == pytest.approx(1.0) == L.coverage(TRUTH, "all")
    assert L.truth_log_probability(TRUTH) == pytest.approx(
        L.valid_strings().probabilities @ np.log(L.valid_strings().probabilities) / (1 - 2.0**-7)
    )
    no_d = TRUTH.copy()
    no_d[0] = [0.6, 0.4, 0, 0, 0, 0, 0]  # never starts a d-word
    strings = L.valid_strings()
    frequent_d = (
        strings.probabilities[~strings.rare & strings.d_family].sum() / strings.probabilities[~strings.rare].sum()
    )
    assert L.coverage(no_d, "d-words") == 0 and L.coverage(no_d, "frequent") == pytest.approx(1 - frequent_d)
    assert L.valid_share(no_d) == pytest.approx(L.valid_share(TRUTH))
    only_ba = np.tile(np.eye(L.N_SYMBOLS)[L.END_INDEX], (L.N_CONTEXTS, 1))
    only_ba[0], only_ba[L.CONTEXT_INDEX["^b"]] = np.eye(L.N_SYMBOLS)[0], np.eye(L.N_SYMBOLS)[4]
    assert L.greedy_string(only_ba) == "ba." and L.valid_share(only_ba) == 1.0
    assert L.coverage(only_ba, "all") == pytest.approx(0.175 / (1 - 2.0**-7))
    assert L.string_entropy(only_ba) == 0 and L.truth_log_probability(only_ba) == pytest.approx(np.log(0.175))


def test_samples_follow_the_exact_probabilities_and_their_counts_match_their_texts():
    written = L.sample_strings(TRUTH, 20000, seed=3)
    share = written.texts.count("ba.") / 20000
    assert abs(share - 0.175) < 4 * np.sqrt(0.175 * 0.825 / 20000)
    assert np.mean([L.is_valid(t) for t in written.texts]) == pytest.approx(L.valid_share(TRUTH), abs=0.003)
    steps = sum(len(t) for t in written.texts) + sum(not t.endswith(L.END) for t in written.texts)
    assert written.counts.sum() == steps  # one count per letter and per END (the cut: the letter drawn there)
    assert written.counts[0].sum() == 20000 and (written.counts[TRUTH == 0] == 0).all()
    again = L.sample_strings(TRUTH, 50, seed=3)
    assert again.texts == L.sample_strings(TRUTH, 50, seed=3).texts
    np.testing.assert_array_equal(again.counts, L.sample_strings(TRUTH, 50, seed=3).counts)
    assert L.sample_strings(TRUTH, 50, seed=3).texts != L.sample_strings(TRUTH, 50, seed=4).texts


def test_a_model_that_never_ends_is_cut_and_its_strings_are_invalid():
    loop = np.tile(np.eye(L.N_SYMBOLS)[0], (L.N_CONTEXTS, 1))  # always 'b'
    assert L.greedy_string(loop) == "b" * L.MAX_LETTERS
    assert L.sample_strings(loop, 3).texts == ("b" * L.MAX_LETTERS,) * 3
    assert L.valid_share(loop) == 0 and not L.is_valid("b" * L.MAX_LETTERS)
    assert L.expected_length(loop) == L.MAX_LETTERS


def test_greedy_decoding_is_the_temperature_zero_limit():
    assert L.greedy_string(TRUTH) == "ba."
    logits = np.log(random_table(5))
    z0 = softmax(logits, 0.0)
    written = L.sample_strings(z0, 5, seed=0).texts
    assert set(written) == {L.greedy_string((logits.argmax(1)[:, None] == np.arange(L.N_SYMBOLS)).astype(float))}


def test_the_source_contexts_are_those_its_strings_pass_through():
    passed = {L.CONTEXTS[s] for s in L.valid_strings().contexts[L.valid_strings().used]}
    assert set(L.source_contexts()) == passed


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: L.valid_share(TRUTH[:5]), ValueError, "one row of 7"),
        (lambda: L.valid_share(TRUTH * 2), ValueError, "probabilities in"),
        (lambda: L.valid_share(TRUTH * 0.5), ValueError, "sum to 1"),
        (lambda: L.valid_share("table"), TypeError, "table"),
        (lambda: L.sequence_kl(TRUTH, np.log(TRUTH + 1e-3)), ValueError, "q_table"),
        (lambda: L.coverage(TRUTH, "often"), ValueError, "unknown strings 'often'"),
        (lambda: L.coverage(TRUTH, 3), TypeError, "strings must be a name"),
        (lambda: L.sample_strings(TRUTH, 0), ValueError, "n"),
        (lambda: L.sample_strings(TRUTH, 2.0), TypeError, "n"),
        (lambda: L.sample_strings(TRUTH, 5, seed=-1), ValueError, "seed"),
    ],
)
def test_bad_input_is_refused_naming_what_was_wrong(call, error, words):
    with pytest.raises(error, match=words):
        call()
