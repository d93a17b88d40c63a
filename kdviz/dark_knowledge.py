"""Lesson 05, dark knowledge: a student that never saw a 3, soft targets on a small or unlabeled transfer set,
the best temperature for small and large students, fixed soft targets against consistent teaching (Beyer et al.
2022) chosen on a validation split, and the sizes of the two terms' gradients. Each experiment runs on a
``kdviz.mnist.Workspace``; the sentences that report them are printed from their numbers, by the seed rule of
``kdviz.noise``.
"""

import time
import warnings
from itertools import combinations

import numpy as np
import torch

from . import _checks
from .mnist.losses import distillation_loss
from .mnist.models import StackedStudents, student_mlp
from .mnist.train import StudentConfig, TrainingOptions, TrainingWarning, logits_of, single_errors, transfer_indices
from .mnist.workspace import Preset, Workspace, seed_list
from .noise import (
    best_and_ties,
    compare,
    exceeds_noise,
    gap_and_range,
    shared_decimals,
    spread,
    unranked_note,
    verdict,
    with_quick_mode_note,
)

PAPER_OMITTED_3S = (86.8, 98.6)  # section 3: % of the test 3s right before and after the bias (chosen on the test set)
PAPER_SMALL_STUDENT_T = (2.5, 4.0)  # section 3: for 30 units per layer, T in this range "worked significantly better"
PAPER_LARGE_STUDENT_T = 8.0  # section 3: for 300 or more units, "all temperatures above 8 gave fairly similar results"


# ---- a student that never saw a 3 ----


BIAS_CANDIDATES = np.round(np.arange(0.0, 20.05, 0.1), 2)


def best_class_bias(logits, labels, cls, candidates=BIAS_CANDIDATES):
    """The bias added to class ``cls``'s logit that leaves the fewest errors on (logits, labels)."""
    logits = torch.as_tensor(logits)
    cls = _checks.class_index(cls, logits.shape[-1], "cls")
    candidates = _checks.finite_values(candidates, "candidates (the biases to try)")
    errors = []
    for b in candidates:
        bias = np.zeros(logits.shape[-1])
        bias[cls] = b
        errors.append(single_errors(logits, labels, bias))
    return float(candidates[int(np.argmin(errors))])


def omitted_class_experiment(workspace, student, T, alpha, omitted=3, n_validation=5000, progress=True):
    """Distil into a student whose transfer set has no examples of ``omitted``; choose a bias for its
    logit on a validation split of the training data; report the test digits of that class before/after."""
    omitted = _checks.count(omitted, "omitted (a digit)", 0, 9)
    _checks.T_and_alpha(T, alpha)
    train_idx, val_idx = workspace.split_validation(n_validation)
    y_train = workspace.y_train.cpu().numpy()
    keep = train_idx[y_train[train_idx] != omitted]
    model, _ = workspace.select(keep).train_students(T, alpha, student, progress=progress)
    validation = workspace.select(val_idx)
    bias = best_class_bias(logits_of(model, validation.x_train), validation.y_train, omitted)
    test_logits = logits_of(model, workspace.x_test)
    is_omitted = workspace.y_test == omitted
    bias_vector = np.zeros(10)
    bias_vector[omitted] = bias
    n_omitted = int(is_omitted.sum())
    wrong_before = single_errors(test_logits[:, is_omitted], workspace.y_test[is_omitted])
    wrong_after = single_errors(test_logits[:, is_omitted], workspace.y_test[is_omitted], bias_vector)
    return {
        "transfer examples": len(keep),
        f"{omitted}s in transfer set": int((y_train[keep] == omitted).sum()),
        "bias": bias,
        "test errors before bias": single_errors(test_logits, workspace.y_test),
        "test errors after bias": single_errors(test_logits, workspace.y_test, bias_vector),
        f"test {omitted}s": n_omitted,
        f"test {omitted}s correct before bias (%)": round(100 * (1 - wrong_before / n_omitted), 2),
        f"test {omitted}s correct after bias (%)": round(100 * (1 - wrong_after / n_omitted), 2),
    }


def omitted_digit_report(result, omitted=3):
    """The omitted-digit experiment in sentences, from ``omitted_class_experiment``: beside the paper, and what the
    share right before the bias says (most of the digits right from the soft targets alone, or found by the bias)."""
    before, after = (
        result[f"test {omitted}s correct before bias (%)"],
        result[f"test {omitted}s correct after bias (%)"],
    )
    paper_before, paper_after = PAPER_OMITTED_3S
    lines = [
        f"paper: {paper_before}% before, {paper_after}% after a bias chosen on the test set; here: {before}% before, "
        f"{after}% after a bias chosen on validation images."
    ]
    if before >= 50:
        lines.append(
            f"Without ever seeing a {omitted}, this student gets {before}% of the test {omitted}s right from the soft "
            f"targets of other digits alone; raising its {omitted} logit by {result['bias']} brings that to {after}%."
        )
    else:
        lines.append(
            f"Before the bias this student gets only {before}% of the test {omitted}s right: its {omitted} logit "
            f"rarely wins, so here the {omitted}s are found through the bias of {result['bias']}, which brings that "
            f"to {after}%."
        )
    return with_quick_mode_note(lines)


# ---- soft targets on a small transfer set ----


def small_data_experiment(workspace, student, T, fraction=0.03, n_seeds=1, progress=True):
    """Hard labels against soft targets on the same small fraction of the training data.

    Trains 2 x n_seeds students in one stacked pass (alpha = 0, then alpha = 1, each with seeds
    student.seed, student.seed + 1, ...; soft targets from the teacher trained on all the data).
    Returns (History with train and test errors per epoch, columns [hard seeds..., soft seeds...];
    number of training images).
    """
    seeds = seed_list(student, n_seeds)
    idx = transfer_indices(workspace.y_train.cpu().numpy(), fraction=fraction, seed=student.seed)
    options = TrainingOptions(
        test=workspace.test_set,
        track_train_errors=True,
        description=f"hard labels + soft targets, {n_seeds} seed{'s' if n_seeds > 1 else ''} each",
    )
    alphas = [0.0] * n_seeds + [1.0] * n_seeds
    _, history = workspace.select(idx).train_students(T, alphas, student, seeds * 2, options=options, progress=progress)
    return history, len(idx)


def final_accuracies(history, n_train, n_test, names):
    """{name: (train accuracies %, test accuracies %)} after the last epoch, one value per seed.

    The history's columns are grouped by setting: len(names) groups of equal size (the seeds)."""
    names = _checks.distinct_names(names, "the setting names")
    groups = len(names)
    columns = np.asarray(history.train_errors[-1]).size
    if groups == 0 or columns % groups:
        raise ValueError(f"{columns} students cannot be shared equally among {groups} names: give one name per setting")
    _checks.count(n_train, "n_train")
    _checks.count(n_test, "n_test")
    train = np.split(100 * (1 - np.asarray(history.train_errors[-1], dtype=float) / n_train), groups)
    test = np.split(100 * (1 - np.asarray(history.test_errors[-1], dtype=float) / n_test), groups)
    return {name: (tr.round(2).tolist(), te.round(2).tolist()) for name, tr, te in zip(names, train, test, strict=True)}


def small_data_report(accuracy, n_train, epochs):
    """The small-data experiment in sentences, from ``final_accuracies`` of "hard labels" and "soft targets":
    the run's size, one line per setting, whether every hard-label student learnt its training set by heart (100%
    train accuracy), and the test-accuracy verdict against the seed spread. Every accuracy has the same decimals."""
    decimals = shared_decimals(*(values for pair in accuracy.values() for values in pair))
    n_seeds = spread(accuracy["hard labels"][1]).n
    lines = [f"{n_train} training images, {epochs} epochs, {n_seeds} seeds per setting; accuracy after the last epoch:"]
    lines += [
        f"  {name:<13} train {spread(train).text('%', seeds=False, decimals=decimals)}, "
        f"test {spread(test).text('%', seeds=False, decimals=decimals)}"
        for name, (train, test) in accuracy.items()
    ]
    hard_train, soft_test = accuracy["hard labels"][0], accuracy["soft targets"][1]
    if min(hard_train) == 100:
        lines.append(
            f"Every hard-label student gets all {n_train} of its training images right: it has learnt them by heart."
        )
    else:
        lines.append(
            f"The hard-label students get at least {min(hard_train):.{decimals}f}% of their {n_train} training images "
            "right."
        )
    verdict = compare(
        "hard labels",
        accuracy["hard labels"][1],
        "soft targets",
        soft_test,
        "points of test accuracy",
        lower_is_better=False,
        unit="%",
    )
    return with_quick_mode_note(lines + [verdict])


# ---- the best temperature for small and large students ----


def errors_against_temperature(workspace, temperatures, alpha, student, n_seeds=1, progress=True):
    """Test errors of a distilled student at each temperature, and of the same student on labels alone.

    All (len(temperatures) + 1) x n_seeds students train in one stacked pass (the labels-only one
    with alpha = 0, where T plays no part). Returns (errors of shape (len(temperatures), n_seeds);
    labels-only errors, one per seed).
    """
    if np.ndim(_checks.real_array(alpha, "alpha", "a number")) != 0:
        raise ValueError(f"alpha must be one number here (every temperature shares it), got {alpha!r}")
    seeds = seed_list(student, n_seeds)
    temperatures = _checks.number_list(temperatures, "temperatures") + [1.0]
    alphas = [alpha] * (len(temperatures) - 1) + [0.0]
    T, A, S = (np.repeat(temperatures, n_seeds), np.repeat(alphas, n_seeds), np.tile(seeds, len(temperatures)))
    options = TrainingOptions(description=f"{len(T)} students")
    model, _ = workspace.train_students(T, A, student, S, options=options, progress=progress)
    errors = workspace.test_errors(model).reshape(-1, n_seeds)
    return errors[:-1], errors[-1]


def temperature_report(temperatures, errors, baseline, hidden):
    """Lines for one student size, from ``errors_against_temperature``: a table of each temperature's test errors
    (mean and seed range) judged against the best temperature and against the same student on labels alone, each
    verdict with the gap and the range it was compared with; ``unranked_note`` where it applies; and the paper's
    finding for a student of this size beside what this run found."""
    by_T = {f"T = {T:g}": errors[k] for k, T in enumerate(_checks.number_list(temperatures, "temperatures"))}
    best, ties, beyond = best_and_ties(by_T)
    decimals = shared_decimals(baseline, *by_T.values())

    def cell(values):
        return spread(values).text(seeds=False, decimals=decimals)

    def judged(values, reference):
        return f"{verdict(values, reference)} ({gap_and_range(values, reference, decimals)})"

    n = spread(baseline).n
    lines = [f"{'':<13}{f'test errors, {n} seeds':<24}{'against the best T':<38}against labels alone"]
    for name, values in by_T.items():
        against_best = "best" if name == best else judged(values, by_T[best])
        lines.append(f"{name:<13}{cell(values):<24}{against_best:<38}{judged(values, baseline)}")
    lines.append(f"{'labels alone':<13}{cell(baseline)}")
    note = unranked_note(by_T)
    finding = paper_temperature_finding(hidden, by_T, best, ties, beyond)
    return with_quick_mode_note(lines + ([note] if note else []) + [finding])


def paper_temperature_finding(hidden, by_T, best, ties, beyond):
    """The paper's temperature finding for a student of ``hidden`` units, and whether this run agrees with it."""
    T_of = {name: float(name.removeprefix("T = ")) for name in by_T}
    if hidden == 30:
        low, high = PAPER_SMALL_STUDENT_T
        inside = [name for name in by_T if low <= T_of[name] <= high]
        outside = [name for name in by_T if name not in inside]
        paper = f"The paper (30 units): T = {low:g} to {high:g} worked significantly better than higher or lower T."
        if not inside or not outside:
            return (
                paper + f" This run has no temperatures {'inside' if not inside else 'outside'} that range to test it."
            )
        if best in inside and set(outside) <= set(beyond):
            return paper + f" This run agrees: best {best}, and {', '.join(outside)} worse beyond the noise."
        if best in inside:
            tied = [name for name in outside if name in ties]
            return paper + (
                f" Here the best mean is at {best}, inside that range, but {', '.join(tied)} outside it "
                f"{'is' if len(tied) == 1 else 'are'} within noise of it: not significantly better in this run."
            )
        tied, worse = [name for name in inside if name in ties], [name for name in inside if name in beyond]
        status = "; ".join(
            part
            for part in (
                f"{', '.join(tied)} within noise of it" if tied else "",
                f"{', '.join(worse)} worse beyond the noise" if worse else "",
            )
            if part
        )
        return paper + f" Here the best mean is at {best}, outside that range ({status}): this run does not agree."
    if hidden >= 300:
        high = {name: by_T[name] for name in by_T if T_of[name] >= PAPER_LARGE_STUDENT_T}
        paper = f"The paper (300 or more units): all temperatures above {PAPER_LARGE_STUDENT_T:g} gave similar results."
        if len(high) < 2:
            return paper + f" This run has fewer than two temperatures from {PAPER_LARGE_STUDENT_T:g} up to test it."
        top, _, apart = best_and_ties(high)
        if not apart:
            return paper + f" Here {', '.join(high)} are all within noise of the best of them ({top}): this run agrees."
        return (
            paper + f" Here {', '.join(apart)} {'is' if len(apart) == 1 else 'are'} worse than {top} beyond the noise."
        )
    return f"The paper reports no temperature finding for {hidden}-unit students (only for 30, and for 300 or more)."


# ---- fixed soft targets, consistent teaching and function matching ----


FIXED, CONSISTENT, MATCHING = "fixed targets", "consistent teaching", "function matching"
ARMS = (FIXED, CONSISTENT, MATCHING)  # cheapest first: of recipes within noise of each other, the first is chosen
FUNCTION_MATCHING_MIXUP = 1.0  # the a of mixup's Beta(a, a): lambda uniform in [0, 1], as in Beyer et al.'s configs


def compare_teaching(
    workspace,
    preset,
    n_seeds=3,
    n_validation=10000,
    transfer_jitter=None,
    progress=True,
    on_epoch=None,
    arms=(FIXED, CONSISTENT),
    transfer_mixup=None,
):
    """Train ``n_seeds`` students for each of ``arms`` (from ARMS, trained cheapest first): fixed soft targets;
    consistent teaching (shifts of up to ``transfer_jitter`` pixels; default the preset's, else 2); function
    matching (those shifted views mixed, lambda ~ Beta(a, a), a = ``transfer_mixup``, default
    FUNCTION_MATCHING_MIXUP; the teacher labels each mixed view). They train on workspace's training images minus a
    validation split of ``n_validation``, and their validation and test errors are counted after every epoch.
    ``n_validation=0`` trains one arm, a recipe chosen before, on all the images: its test errors chose nothing.

    ``on_epoch(result)`` is called after each epoch with the result so far. Returns a dict: per arm the
    validation and test errors (epochs x seeds) and seconds; the validation verdict; the chosen arm (choose_recipe);
    its test errors.
    """
    _checks.instance_of(workspace, Workspace, "workspace", "kdviz.mnist.prepare(data, preset)")
    _checks.instance_of(preset, Preset, "preset", "get_preset('patient')")
    arms = _checks.subset_of(arms, ARMS, "arms")
    jitter = (preset.transfer_jitter or 2) if transfer_jitter is None else transfer_jitter
    _checks.shift(jitter, "transfer_jitter (consistent teaching needs 1 or more)", low=1)
    mixup = _checks.mixup_arm(transfer_mixup, MATCHING in arms, FUNCTION_MATCHING_MIXUP, jitter, preset.alpha)
    seeds = seed_list(preset.student, n_seeds)
    n_validation = _checks.validation_split(n_validation, len(workspace.x_train), len(arms))
    if n_validation:
        train_idx, val_idx = workspace.split_validation(n_validation)
        training, validation = workspace.select(train_idx), workspace.select(val_idx)
    else:
        training, validation = workspace, None
    result = {
        "T": preset.T,
        "alpha": preset.alpha,
        "transfer_jitter": jitter,
        "transfer_mixup": mixup,
        "student_hidden": preset.student.hidden,
        "epochs": preset.student.epochs,
        "seeds": seeds,
        "n_train": len(training.x_train),
        "n_validation": n_validation,
        "device": str(workspace.device),
        "arms": {},
    }
    teaching = {
        FIXED: {},
        CONSISTENT: {"transfer_jitter": jitter},
        MATCHING: {"transfer_jitter": jitter, "transfer_mixup": mixup},
    }
    for arm in arms:
        start = time.perf_counter()

        def record(epoch, history, arm=arm, start=start):
            result["arms"][arm] = {
                "val_errors": np.array(history.val_errors).tolist(),
                "test_errors": np.array(history.test_errors).tolist(),
                "seconds": round(time.perf_counter() - start, 1),
            }
            if on_epoch is not None:
                on_epoch(result)

        options = TrainingOptions(
            **teaching[arm],
            test=workspace.test_set,
            validation=None if validation is None else (validation.x_train, validation.y_train),
            callback=record,
            description=f"{arm}, {n_seeds} seed{'s' if n_seeds > 1 else ''}",
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TrainingWarning)
            training.train_students(preset.T, preset.alpha, preset.student, seeds, options=options, progress=progress)
        untrusted = [str(w.message) for w in caught if issubclass(w.category, TrainingWarning)]
        result["arms"][arm]["untrusted_students"] = untrusted  # each run's warning, kept for the verdict's caveat
        for w in caught:  # still shown, as they would have been
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    final_val = {arm: result["arms"][arm]["val_errors"][-1] for arm in arms} if n_validation else {}
    result["verdict"] = teaching_verdict(final_val, arms[0], len(training.x_train))
    result["chosen"] = choose_recipe(final_val) if n_validation else arms[0]
    result["chosen_test_errors"] = result["arms"][result["chosen"]]["test_errors"][-1]
    return result


def choose_recipe(final_val_errors):
    """Of {arm: validation errors per seed}, in order of cost (cheapest first): the cheapest arm that the arm with
    the fewest errors (mean over seeds) does not beat beyond the seed spread (kdviz.noise.best_and_ties). Between
    two arms: the better beyond the noise, else the cheaper."""
    best, ties, _ = best_and_ties(final_val_errors)
    return next(arm for arm in final_val_errors if arm == best or arm in ties)


def teaching_verdict(final_val, arm, n_train):
    """The validation verdict: each pair of arms compared by the seed rule; for one arm, what it was trained for
    (``arm``, on ``n_train`` images, with validation errors or without a validation split)."""
    if len(final_val) > 1:
        return " ".join(
            compare(a, final_val[a], b, final_val[b], "validation errors") for a, b in combinations(final_val, 2)
        )
    if final_val:
        return f"{arm}: {spread(final_val[arm]).text()} validation errors; no other recipe was trained in this run."
    return (
        f"{arm} on all {n_train:,} training images, no validation split: the recipe was chosen before, on "
        "validation images; the test errors below chose nothing."
    )


def choice_sentence(result):
    """Which recipe the validation errors chose and why, and its test errors (read for that recipe only); for a run
    of one arm, that arm and its test errors."""
    chosen, test = result["chosen"], spread(result["chosen_test_errors"])
    after = f"Its test errors after {result['epochs']} epochs: {test.text()} out of 10,000 test images."
    if not result.get("n_validation", 1):
        return (
            f"Trained: {chosen} on all {result['n_train']:,} training images (no validation split; the recipe was "
            f"chosen before, on validation images, never on these test errors). {after}"
        )
    final_val = {arm: curves["val_errors"][-1] for arm, curves in result["arms"].items()}
    if len(final_val) == 1:
        return f"Trained: {chosen} alone (nothing to choose between in this run). {after}"
    tied = [arm for arm in final_val if arm != chosen and not exceeds_noise(final_val[arm], final_val[chosen])]
    if not tied:
        why = "fewer validation errors, beyond the seed spread"
    elif len(final_val) == 2:
        why = "the cheaper of two recipes within noise of each other on the validation images"
    else:
        why = f"the cheapest of {', '.join([chosen, *tied])}, within noise of each other on the validation images"
    return f"Chosen: {chosen} ({why}). {after}"


def teaching_report(result):
    """Section 5 in lines: the validation verdict, the choice with its test errors, and what makes them doubtful
    when it applies (students whose training warned it is not to be trusted; a quick-mode run)."""
    lines = [result["verdict"], choice_sentence(result)]
    warned = {arm: len(curves.get("untrusted_students", [])) for arm, curves in result["arms"].items()}
    if any(warned.values()):
        n = len(result["seeds"])
        counts = " and ".join(f"{warned[arm]} of the {n} {arm} students" for arm in warned if warned[arm])
        lines.append(
            f"Caveat: {counts} warned that their training is not to be trusted (their gradient was clipped in most "
            "steps, or they did not learn; the warnings are above), so the choice may reflect that rather than the "
            "recipe."
        )
    return with_quick_mode_note(lines)


def epoch_marks(epochs, n=6):
    """About n epochs spread over 1..epochs, the last included: where a table samples the curves."""
    return sorted({max(1, int(round(e))) for e in np.linspace(epochs / n, epochs, n)} | {epochs})


def errors_table(result, marks=None):
    """A Markdown table of each arm's validation (where there are any) and test errors (mean, seed range) at the
    epochs ``marks`` (default: epoch_marks of the longest arm); '-' where an arm stopped before that epoch."""
    arms = result["arms"]
    splits = [("validation", "val_errors")] * any(curves["val_errors"] for curves in arms.values())
    splits += [("test", "test_errors")]
    marks = epoch_marks(max(len(curves["test_errors"]) for curves in arms.values())) if marks is None else marks
    header = ["epoch"] + [f"{arm}: {split}" for arm in arms for split, _ in splits]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for epoch in marks:
        cells = [
            spread(arms[arm][key][epoch - 1]).text(seeds=False) if epoch <= len(arms[arm][key]) else "-"
            for arm in arms
            for _, key in splits
        ]
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---- the sizes of the two terms' gradients ----


def logit_gradient_sizes(workspace, hidden, T, n_examples=512, seed=0):
    """Mean per-example norm of d(loss)/d(logits) of an untrained student: (hard term CE(y, q_1), soft term T^2 KL).

    The hard term's gradient q_1 - y has norm at most sqrt(2); the soft term's, T (q_T - p_T), grows with the gap
    between student and teacher logits. Both at the first step, on the first n_examples transfer images.
    """
    T_, _ = _checks.T_and_alpha(T, 1.0)
    StudentConfig(hidden=hidden, seed=seed)  # checks hidden and seed
    _checks.count(n_examples, "n_examples")
    T = float(T_)
    torch.manual_seed(seed)
    student = StackedStudents([student_mlp(hidden)]).to(workspace.device)
    x, y, v = (t[:n_examples] for t in (workspace.x_train, workspace.y_train, workspace.teacher_logits))
    sizes = []
    for alpha in (0.0, 1.0):
        logits = student(x).detach().requires_grad_(True)
        distillation_loss(logits, v, y, torch.tensor(float(T)), torch.tensor(alpha)).sum().backward()
        sizes.append(float(logits.grad[0].norm(dim=-1).mean() * len(x)))  # undo the batch mean
    return tuple(sizes)
