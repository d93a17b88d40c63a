"""Lesson 07, temperature where students meet it now: language models of ``kdviz.language``'s source, sampled at a
temperature and distilled each way, with every model's distance to the source computed exactly; and the sentences
that report them, printed from the numbers (never typed in).

The models are tiny character-level networks that read the last ``window`` symbols (one-hot codes -> tanh units ->
next-symbol logits): a teacher that reads two, like the source, and students that read one. They are trained in
seconds on a CPU, on one torch thread (models this small only lose time to more). Every context a model can meet is
in ``kdviz.language.CONTEXTS``, so each training step reads all of them at once, each weighted by how often it
occurs in the training strings: the mean loss over every position of those strings, exactly.
"""

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize
from scipy.stats import norm

from . import _checks
from .language import (
    B_FAMILY,
    CONTEXT_CODES,
    D_FAMILY,
    END,
    FIRST_CONSONANT,
    LETTERS,
    MAX_LETTERS,
    N_SYMBOLS,
    START,
    VOWEL_AFTER,
    coverage,
    greedy_string,
    next_symbol_table,
    sample_strings,
    sequence_kl,
    string_entropy,
    truth_log_probability,
    truth_table,
    valid_share,
)
from .noise import compare, exceeds_noise, spread, with_quick_mode_note
from .temperature import sampling_distribution, softmax

N_CODES = len(START + LETTERS)  # what a model reads at each position: START or a letter
METHODS = ("forward", "reverse", "sequence", "on-policy")


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread inside the block, then restore the thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class ContextModel(torch.nn.Module):
    """Next-symbol logits from the last ``window`` symbols (1 or 2): one-hot codes, ``hidden`` tanh units, logits."""

    def __init__(self, window=2, hidden=64):
        window = _checks.count(window, "window (how many of the last symbols the model reads)", 1, 2)
        hidden = _checks.count(hidden, "hidden", 1, _checks.MAX_HIDDEN)
        super().__init__()
        self.window = window
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(window * N_CODES, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, N_SYMBOLS)
        )

    def forward(self, codes):
        """codes: (N, 2) integer codes of contexts (``kdviz.language.CONTEXT_CODES``) -> (N, N_SYMBOLS) logits."""
        return self.layers(F.one_hot(codes[:, -self.window :], N_CODES).float().flatten(1))


def _device_of(model):
    return next(model.parameters()).device


def _all_contexts(device):
    return torch.as_tensor(CONTEXT_CODES, device=device)


def logit_table(model):
    """The model's next-symbol logits in every context, (N_CONTEXTS, N_SYMBOLS), as float64 numpy."""
    _checks.instance_of(model, ContextModel, "model", "ContextModel(window=2)")
    with torch.no_grad():
        return model(_all_contexts(_device_of(model))).double().cpu().numpy()


@dataclass(frozen=True)
class StudentSpec:
    """A student and how long it trains: it reads the last ``window`` symbols through ``hidden`` tanh units, and
    takes ``steps`` full-batch Adam steps at learning rate ``lr``; on-policy students write fresh strings of their
    own ``rounds`` times."""

    window: int = 1
    hidden: int = 16
    steps: int = 400
    lr: float = 0.03
    rounds: int = 4

    def __post_init__(self):
        _checks.count(self.window, "StudentSpec.window", 1, 2)
        _checks.count(self.hidden, "StudentSpec.hidden", 1, _checks.MAX_HIDDEN)
        _checks.count(self.steps, "StudentSpec.steps", 1)
        _checks.number(self.lr, "StudentSpec.lr", 0, low_open=True)
        _checks.count(self.rounds, "StudentSpec.rounds", 1, self.steps)


def _seeded_model(window, hidden, seed, device):
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        model = ContextModel(window, hidden)
    return model.to(device)


def _fit(model, loss_of_logits, steps, lr):
    """``steps`` full-batch Adam steps on loss_of_logits(the model's logits in every context)."""
    contexts = _all_contexts(_device_of(model))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of_logits(model(contexts))
        loss.backward()
        optimizer.step()
    return model


def hard_loss(counts):
    """Cross-entropy on written strings: -sum_{s,c} n(s, c) log q(c | s) / sum n, with n(s, c) the number of times
    symbol c follows context s in them (the mean over every position of the strings)."""

    def loss(logits):
        return -(counts * logits.log_softmax(-1)).sum() / counts.sum()

    return loss


def soft_loss(weights, teacher_logits, T=1.0, direction="forward"):
    """T^2 sum_s n(s) KL(p_T(.|s) || q_T(.|s)) / sum n (forward) or with KL(q_T || p_T) (reverse): the teacher's
    whole next-symbol distribution as the target at every position, n(s) positions in context s."""
    log_p = (teacher_logits / T).log_softmax(-1)

    def loss(logits):
        log_q = (logits / T).log_softmax(-1)
        if direction == "forward":
            per_context = (log_p.exp() * (log_p - log_q)).sum(-1)
        else:
            per_context = (log_q.exp() * (log_q - log_p)).sum(-1)
        return T**2 * (weights * per_context).sum() / weights.sum()

    return loss


def train_teacher(n_strings=5000, seed=0, hidden=64, steps=600, lr=0.03, device="cpu"):
    """A teacher that reads the last two symbols, trained by cross-entropy on ``n_strings`` strings of the source
    (seeded): returns (the model, the Sample of the source it learnt from)."""
    n_strings = _checks.count(n_strings, "n_strings", 1)
    seed = _checks.count(seed, "seed", 0, _checks.MAX_SEED)
    steps = _checks.count(steps, "steps", 1)
    data = sample_strings(truth_table(), n_strings, seed)
    with one_thread():
        teacher = _seeded_model(2, hidden, seed, device)
        counts = torch.as_tensor(data.counts, dtype=torch.float32, device=device)
        _fit(teacher, hard_loss(counts), steps, _checks.number(lr, "lr", 0, low_open=True))
    return teacher.eval(), data


def _round_seed(seed, round_number):
    """A seed for round ``round_number`` of student ``seed``, apart from every other (seed, round)."""
    return int(np.random.SeedSequence([seed, round_number]).generate_state(1)[0] % (_checks.MAX_SEED + 1))


def distil(teacher_logits, method, seed=0, n_strings=2000, student=StudentSpec(), T=1.0, sample_T=1.0, device="cpu"):
    """A student distilled from the teacher whose logits (N_CONTEXTS, N_SYMBOLS) are given, by ``method``:

    - "forward": token-level, the paper's loss: T^2 KL(p_T || q_T) at every position of ``n_strings`` strings the
      teacher writes at ``sample_T`` (the teacher's whole next-symbol distribution as the target);
    - "reverse": the same positions and targets, with T^2 KL(q_T || p_T);
    - "sequence": sequence-level (Kim & Rush 2016): cross-entropy on the teacher's strings, written at ``sample_T``
      (0: greedy decoding, the same string every time): one symbol per position as a hard target;
    - "on-policy": the student writes its own strings (``student.rounds`` times, each followed by an equal share of
      the steps), and T^2 KL(q_T || p_T) is taken at their positions (GKD, Agarwal et al. 2023).

    Seeded: ``seed`` sets the student's first weights and the strings. Returns the student (a ContextModel)."""
    teacher_logits = _checks.as_logits(teacher_logits, "teacher_logits")
    next_symbol_table(softmax(teacher_logits), "softmax(teacher_logits)")  # one row per context
    table = sampling_distribution(teacher_logits, sample_T)
    _checks.instance_of(student, StudentSpec, "student", "StudentSpec(hidden=16)")
    _checks.one_of(method, METHODS, "method")
    seed = _checks.count(seed, "seed", 0, _checks.MAX_SEED)
    n_strings = _checks.count(n_strings, "n_strings", 1)
    _checks.as_temperature(T, allow_zero=False)
    with one_thread():
        model = _seeded_model(student.window, student.hidden, seed, device)
        teacher = torch.as_tensor(teacher_logits, dtype=torch.float32, device=device)
        if method != "on-policy":
            counts = torch.as_tensor(sample_strings(table, n_strings, seed).counts, dtype=torch.float32, device=device)
            loss = hard_loss(counts) if method == "sequence" else soft_loss(counts.sum(-1), teacher, T, method)
            return _fit(model, loss, student.steps, student.lr).eval()
        for round_number in range(student.rounds):
            next_table = softmax(logit_table(model))
            strings = sample_strings(next_table, n_strings, _round_seed(seed, round_number))
            weights = torch.as_tensor(strings.counts.sum(-1), dtype=torch.float32, device=device)
            share = student.steps // student.rounds + (round_number < student.steps % student.rounds)
            _fit(model, soft_loss(weights, teacher, T, "reverse"), share, student.lr)
    return model.eval()


def describe_source():
    """The source's rules in words, each probability read from kdviz.language's tables (never typed twice)."""

    def listed(rule):
        return ", ".join(f"{symbol!r} {p:g}" for symbol, p in rule.items())

    return [
        f"first consonant: {listed(FIRST_CONSONANT)}",
        *(f"vowel after {c!r}: {listed(rule)}" for c, rule in VOWEL_AFTER.items()),
        f"after a syllable of a b- or n-word: {listed(B_FAMILY)}",
        f"after a syllable of a d-word: {listed(D_FAMILY)}",
        f"at most {MAX_LETTERS} letters; '{END}' ends a word",
    ]


# ---- exact measures ---------------------------------------------------------------------------------------

MEASURES = {
    "kl": "KL(source || model), nats per string",
    "valid": "valid strings (%)",
    "rare": "rare strings covered (%)",
    "frequent": "frequent strings covered (%)",
    "entropy": "entropy, nats per string",
}


def measure(logits, T=1.0, top_k=None, top_p=None):
    """Exact measures of the model whose logit table is given, sampled at T (with top_k, top_p): its KL from the
    source, the share of valid strings it writes, how much of the rare and frequent strings it covers, the entropy
    of its strings. Keys: those of MEASURES."""
    table = sampling_distribution(logits, T, top_k, top_p)
    return {
        "kl": sequence_kl(truth_table(), table),
        "valid": 100 * valid_share(table),
        "rare": 100 * coverage(table, "rare"),
        "frequent": 100 * coverage(table, "frequent"),
        "entropy": string_entropy(table),
    }


def sampling_sweep(teacher_logits, temperatures, top_k=None, top_p=None, n_samples=500, seed=0):
    """One row per temperature of the teacher's strings sampled at T (with top_k, top_p): the exact entropy (nats
    per string), share of valid strings (%) and mean log-probability under the source of the valid ones; and
    ``n_samples`` strings written (seeded) with the number of distinct ones among them. T = 0 is greedy decoding."""
    temperatures = _checks.number_list(temperatures, "temperatures", "a temperature or a list of them")
    n_samples = _checks.count(n_samples, "n_samples", 1)
    rows = []
    for T in temperatures:
        table = sampling_distribution(teacher_logits, T, top_k, top_p)
        written = sample_strings(table, n_samples, seed)
        rows.append(
            {
                "T": T,
                "entropy": string_entropy(table),
                "valid": 100 * valid_share(table),
                "log P": truth_log_probability(table) if valid_share(table) > 0 else -np.inf,
                "distinct": len(set(written.texts)),
                "samples": written.texts,
            }
        )
    return rows


def sweep_table(rows_by_setting, n_samples):
    """The sampling sweeps {setting: sampling_sweep rows} as text: one line per setting and T."""
    distinct = f"distinct in {n_samples}"
    lines = [f"{'setting':<14}{'T':>6}{'entropy (nats)':>16}{distinct:>18}{'valid %':>10}{'mean log P':>12}"]
    for name, rows in rows_by_setting.items():
        for row in rows:
            lines.append(
                f"{name:<14}{row['T']:>6g}{row['entropy']:>16.2f}{row['distinct']:>18}{row['valid']:>10.2f}"
                f"{row['log P']:>12.2f}"
            )
    return "\n".join(lines)


def sampling_report(rows_by_setting, n_samples):
    """Sentences on the sampling sweeps {setting name: sampling_sweep rows} (the first setting: T alone)."""
    (plain_name, plain), *others = rows_by_setting.items()
    low, high = plain[0], plain[-1]
    lines = []
    if low["T"] == 0:
        lines.append(
            f"T = 0 is greedy decoding: one string, {low['samples'][0]!r}, every time ({low['distinct']} distinct in "
            f"{n_samples}, entropy {low['entropy']:.2f} nats)."
        )
        low = plain[1]
    more = "more" if high["entropy"] > low["entropy"] else "less"
    lines.append(
        f"{plain_name}: from T = {low['T']:g} to T = {high['T']:g} the entropy of the teacher's strings goes from "
        f"{low['entropy']:.2f} to {high['entropy']:.2f} nats ({more} diverse), the distinct strings in {n_samples} "
        f"from {low['distinct']} to {high['distinct']}, and the share of valid strings from {low['valid']:.1f}% to "
        f"{high['valid']:.1f}%."
    )
    for name, rows in others:
        cut = rows[-1]
        effect = "keeps more" if cut["valid"] > high["valid"] else "keeps no more"
        lines.append(
            f"At T = {cut['T']:g}, {name} {effect} of the strings valid: {cut['valid']:.1f}% against "
            f"{high['valid']:.1f}%, at an entropy of {cut['entropy']:.2f} nats against {high['entropy']:.2f}."
        )
    lines.append("These numbers are exact (no seed spread), except the distinct strings, counted in one sample.")
    return lines


@dataclass
class Students:
    """Students of several recipes over seeds: ``logits[recipe]`` (one logit table per seed) and
    ``results[recipe][measure]`` (one exact value per seed)."""

    seeds: tuple
    logits: dict
    results: dict

    def merged(self, other):
        """These students and ``other``'s (trained with the same seeds) in one Students."""
        if other.seeds != self.seeds:
            raise ValueError(f"students of seeds {self.seeds} and {other.seeds} cannot be compared seed by seed")
        return Students(self.seeds, {**self.logits, **other.logits}, {**self.results, **other.results})

    def subset(self, names):
        """The students of the recipes ``names`` only, in that order."""
        _known(self, *names)
        return Students(self.seeds, {n: self.logits[n] for n in names}, {n: self.results[n] for n in names})


def distil_students(teacher_logits, recipes, seeds=(0, 1, 2), n_strings=2000, student=StudentSpec(), device="cpu"):
    """Students of each recipe ({name: keyword arguments of ``distil``}, e.g. {"reverse KL": {"method":
    "reverse"}}), one per seed, each measured exactly at T = 1: a ``Students``."""
    seeds = tuple(_checks.count(seed, "seed", 0, _checks.MAX_SEED) for seed in _checks.distinct_names(seeds, "seeds"))
    _checks.recipes(recipes, METHODS, RECIPE_KEYS)
    logits, results = {}, {}
    for name, recipe in recipes.items():
        logits[name] = [
            logit_table(
                distil(teacher_logits, seed=seed, n_strings=n_strings, student=student, device=device, **recipe)
            )
            for seed in seeds
        ]
        per_seed = [measure(table) for table in logits[name]]
        results[name] = {key: [row[key] for row in per_seed] for key in MEASURES}
    return Students(seeds, logits, results)


DECIMALS = {"kl": 3, "valid": 2, "rare": 2, "frequent": 2, "entropy": 3}  # each measure as printed and compared
HEADINGS = {"kl": "KL, nats", "valid": "valid %", "rare": "rare covered %", "frequent": "frequent covered %"}


def _rounded(students, name, key):
    """One recipe's per-seed values of one measure, rounded as printed (the seed rule compares what is shown)."""
    return np.round(students.results[name][key], DECIMALS[key]).tolist()


RECIPE_KEYS = ("method", "T", "sample_T")


def _known(students, *names):
    """Refuse a recipe name the students do not have (a ValueError listing those they have)."""
    for name in names:
        _checks.one_of(name, students.results, "recipe")


def results_table(students, keys=("kl", "valid", "rare", "frequent")):
    """The students' results as text: one line per recipe, each measure as its mean and seed range."""
    names = list(students.results)
    width = max(map(len, names)) + 2
    cells = {name: [spread(_rounded(students, name, key)).text(seeds=False) for key in keys] for name in names}
    column = max(max(len(c) for row in cells.values() for c in row), *(len(HEADINGS[k]) for k in keys)) + 3
    lines = [" " * width + "".join(f"{HEADINGS[key]:<{column}}" for key in keys)]
    lines += [f"{name:<{width}}" + "".join(f"{cell:<{column}}" for cell in cells[name]) for name in names]
    return "\n".join(line.rstrip() for line in lines) + f"\n(mean and seed range, {len(students.seeds)} seeds each)"


def direction_report(students, forward="forward KL", reverse="reverse KL"):
    """Sentences comparing the forward- and reverse-KL students on precision (valid strings) and on the rare
    strings they cover, each by the seed rule, and what the pair shows."""
    _known(students, forward, reverse)
    lines = [_verdict(students, key, forward, reverse) for key in ("valid", "rare", "kl")]
    precise = _better(_rounded(students, reverse, "valid"), _rounded(students, forward, "valid"), reverse, forward)
    covering = _better(_rounded(students, forward, "rare"), _rounded(students, reverse, "rare"), forward, reverse)
    if precise == reverse and covering == forward:
        lines.append(
            f"As on the two-mode toy: the {reverse} student is the more precise (mode-seeking), the {forward} student "
            "covers more of the rare strings (mode-covering), each beyond the seed spread."
        )
    else:
        lines.append(
            f"Here the toy's pattern does not show beyond the seed spread: more valid strings favour "
            f"{precise or 'neither'}, more rare coverage favours {covering or 'neither'}."
        )
    return with_quick_mode_note(lines)


def _better(a, b, name_a, name_b):
    """The name whose mean is higher beyond the seed spread, else None."""
    if not exceeds_noise(a, b):
        return None
    return name_a if spread(a).mean > spread(b).mean else name_b


VERDICT_WORDS = {  # measure -> (sentence opening, what the gap is in, is lower better?)
    "kl": ("KL(source || student)", "nats", True),
    "valid": ("Valid strings (%)", "points", False),
    "rare": ("Rare strings covered (%)", "points", False),
    "frequent": ("Frequent strings covered (%)", "points", False),
}


def _verdict(students, key, name_a, name_b):
    """One sentence comparing two recipes on one measure by the seed rule (noise.compare)."""
    opening, unit, lower_is_better = VERDICT_WORDS[key]
    a, b = _rounded(students, name_a, key), _rounded(students, name_b, key)
    return f"{opening}. " + compare(name_a, a, name_b, b, unit, lower_is_better)


def level_report(students, token="forward KL", others=None):
    """Sentences comparing each other recipe with the token-level students (``token``) on KL from the source, valid
    strings and rare strings covered, by the seed rule."""
    others = [name for name in students.results if name != token] if others is None else list(others)
    _known(students, token, *others)
    lines = []
    for name in others:
        lines.append(f"{name} against {token}:")
        lines += ["  " + _verdict(students, key, name, token) for key in ("kl", "valid", "rare")]
    return with_quick_mode_note(lines)


# ---- the two-mode toy: one Gaussian fitted to a mixture of two, each way -----------------------------------


def _mixture(left_weight, separation, sd):
    centres = np.array([-separation / 2, separation / 2])
    weights = np.array([left_weight, 1 - left_weight])
    return weights, centres


def _log_mixture(x, weights, centres, sd):
    return np.logaddexp.reduce(np.log(weights)[:, None] + norm.logpdf(x[None, :], centres[:, None], sd), axis=0)


GRID = np.linspace(-25.0, 25.0, 20001)  # the integrals of the toy: trapezoids 0.0025 wide, exact to ~1e-9 here


def _kl_on_grid(log_a, log_b):
    """int a(x) log(a(x) / b(x)) dx on GRID, from the two log-densities there."""
    return float(np.trapezoid(np.exp(log_a) * (log_a - log_b), GRID))


def two_mode_fits(separation=5.0, left_weight=0.5, sd=0.7):
    """One Gaussian q fitted to p = w N(-d/2, sd^2) + (1 - w) N(d/2, sd^2), each way. Forward, min KL(p || q): q has
    p's mean and variance (exact). Reverse, min KL(q || p): minimised numerically from a start at each mode and at
    the forward fit, the lowest kept (on a tie, within 1e-9, the leftmost). Returns {"forward": ..., "reverse": ...},
    each a dict of mean, sd, "KL(p || q)" and "KL(q || p)" (integrals on a fine grid)."""
    separation = _checks.number(separation, "separation", 0)
    left_weight = _checks.number(left_weight, "left_weight", 0, 1, low_open=True, high_open=True)
    sd = _checks.number(sd, "sd", 0, low_open=True)
    weights, centres = _mixture(left_weight, separation, sd)
    mean = weights @ centres
    forward = (mean, np.sqrt(sd**2 + weights @ (centres - mean) ** 2))
    log_p = _log_mixture(GRID, weights, centres, sd)

    def reverse_kl(params):
        mu, log_sd = params
        return _kl_on_grid(norm.logpdf(GRID, mu, np.exp(log_sd)), log_p)

    starts = [(centres[0], np.log(sd)), (centres[1], np.log(sd)), (forward[0], np.log(forward[1]))]
    fits = [
        minimize(reverse_kl, start, method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10}) for start in starts
    ]
    lowest = min(fit.fun for fit in fits)
    best = min((fit for fit in fits if fit.fun <= lowest + 1e-9), key=lambda fit: fit.x[0])  # a tie: the left mode
    reverse = (best.x[0], np.exp(best.x[1]))

    def described(mu, s):
        log_q = norm.logpdf(GRID, mu, s)
        return {
            "mean": float(mu),
            "sd": float(s),
            "KL(p || q)": _kl_on_grid(log_p, log_q),
            "KL(q || p)": _kl_on_grid(log_q, log_p),
        }

    return {"forward": described(*forward), "reverse": described(*reverse)}


def two_mode_report(fits):
    """One sentence per direction: where the fitted Gaussian sits and how wide it is."""
    return [
        f"{name} KL: mean {fit['mean']:.2f}, sd {fit['sd']:.2f}; KL(p || q) = {fit['KL(p || q)']:.3f}, "
        f"KL(q || p) = {fit['KL(q || p)']:.3f} nats"
        for name, fit in (("forward", fits["forward"]), ("reverse", fits["reverse"]))
    ]


def greedy(teacher_logits):
    """The teacher's greedy string (T = 0)."""
    return greedy_string(sampling_distribution(teacher_logits, 0.0))


def two_jobs_report(students, cool="forward KL", hot="forward KL, distilled at T = 4"):
    """Sentences comparing students distilled (forward KL) at T = 1 and at a high T, all sampled at T = 1."""
    _known(students, cool, hot)
    lines = [_verdict(students, key, hot, cool) for key in ("kl", "valid", "rare")]
    precise = _better(_rounded(students, hot, "valid"), _rounded(students, cool, "valid"), hot, cool)
    covering = _better(_rounded(students, cool, "rare"), _rounded(students, hot, "rare"), cool, hot)
    if precise == hot and covering == cool:
        lines.append(
            "Distilled at the higher T, the student trades rare strings for valid ones, beyond the seed spread: the "
            "way the reverse-KL student went."
        )
    else:
        lines.append(
            "Here distilling at the higher T does not trade rare strings for valid ones beyond the seed spread "
            f"(more valid strings: {precise or 'neither'}; more rare strings covered: {covering or 'neither'})."
        )
    return with_quick_mode_note(lines)
