"""Sentences and numbers printed from results: durations, where the teacher comes from, the small-data
report, the temperature-against-student-size table beside the paper's finding. Nothing here trains; every
sentence is built from the numbers it is given (never typed in)."""

import numpy as np

from ._checks import count, distinct_names, duration, instance_of, number_list
from .experiments import PAPER_ERRORS, PRESETS, Preset
from .mnist import teacher_store
from .mnist.timing import machine_load
from .noise import (
    best_and_ties,
    compare,
    exceeds_noise,
    gap_and_range,
    shared_decimals,
    spread,
    unranked_note,
    verdict,
)
from .temperature import softmax

PAPER_SMALL_STUDENT_T = (2.5, 4.0)  # section 3: for 30 units per layer, T in this range "worked significantly better"
PAPER_LARGE_STUDENT_T = 8.0  # section 3: for 300 or more units, "all temperatures above 8 gave fairly similar results"


def format_seconds(seconds):
    """'0.4 s', '12 s', '3.2 min': a duration as a person would say it."""
    seconds = duration(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def describe_estimate(seconds):
    """'estimated time: about 4.6 min, ...': an estimate from ``kdviz.experiments.estimate_seconds`` as a line to
    print, with how busy the machine is now (work that starts later slows the run: the estimate cannot see it)."""
    load = machine_load()
    return (
        f"estimated time: about {format_seconds(seconds)}, from a few seconds' probe of these students just now"
        + (f" ({load})" if load else "")
        + "; more if other work on this machine starts"
    )


SECONDS_PER_TEACHER_EPOCH = 15.3  # the paper teacher, 60,000 images, on the 2-core development CPU (idle, 2026-11-28)


def teacher_status(preset):
    """A line telling where the teacher will come from and, if it must be trained, roughly how long that takes."""
    instance_of(preset, Preset, "preset", "get_preset('quick')")
    config = preset.teacher
    found = teacher_store.find_shipped(config)
    if found is not None:
        errors = found[1]["test_errors"]
        return f"the pre-trained teacher ships with kdviz ({errors} test errors): loading it takes a second"
    if teacher_store.cache_path(config).exists():
        return "teacher found in the cache: loading it takes a second"
    seconds = config.epochs * config.n_train / 60000 * SECONDS_PER_TEACHER_EPOCH * (config.hidden / 1200) ** 2
    return f"no cached teacher: training it takes about {format_seconds(seconds)} on a 2-core CPU (much less on a GPU)"


def final_accuracies(history, n_train, n_test, names):
    """{name: (train accuracies %, test accuracies %)} after the last epoch, one value per seed.

    The history's columns are grouped by setting: len(names) groups of equal size (the seeds)."""
    names = distinct_names(names, "the setting names")
    groups = len(names)
    columns = np.asarray(history.train_errors[-1]).size
    if groups == 0 or columns % groups:
        raise ValueError(f"{columns} students cannot be shared equally among {groups} names: give one name per setting")
    count(n_train, "n_train")
    count(n_test, "n_test")
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
    return lines + [verdict]


def temperature_report(temperatures, errors, baseline, hidden):
    """Lines for one student size, from ``errors_against_temperature``: a table of each temperature's test errors
    (mean and seed range) judged against the best temperature and against the same student on labels alone, each
    verdict with the gap and the range it was compared with; ``unranked_note`` where it applies; and the paper's
    finding for a student of this size beside what this run found."""
    by_T = {f"T = {T:g}": errors[k] for k, T in enumerate(number_list(temperatures, "temperatures"))}
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
    return lines + ([note] if note else []) + [paper_temperature_finding(hidden, by_T, best, ties, beyond)]


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


def comparison_report(result):
    """The paper's comparison in lines, from a ``compare_students`` result: each model against the paper's
    errors, the seed-spread verdict, and which part of the paper's result this run reproduces (the ordering
    teacher < distilled < student alone, decided by the means and, between the students, by the seed range)."""
    teacher = result["teacher_errors"]
    alone, distilled = spread(result["student_errors"]), spread(result["distilled_errors"])
    lines = [
        f"  teacher            {teacher}  (paper {PAPER_ERRORS['teacher']})",
        f"  student alone      {alone}  (paper {PAPER_ERRORS['student']})",
        f"  distilled student  {distilled}  (paper {PAPER_ERRORS['distilled']})",
        result["verdict"],
    ]
    order = f"teacher {teacher} < distilled {distilled.mean:.1f} < student alone {alone.mean:.1f} (means)"
    beyond = exceeds_noise(result["distilled_errors"], result["student_errors"])
    if teacher < distilled.mean < alone.mean and beyond:
        lines.append(f"The paper's ordering reproduces here: {order}, the students' gap beyond the seed range.")
    elif teacher < distilled.mean < alone.mean:
        lines.append(f"The means fall in the paper's order, {order}, but the students' gap is within noise.")
    else:
        lines.append(
            f"The paper's ordering (teacher < distilled < student alone) does not hold here: teacher {teacher}, "
            f"distilled {distilled.mean:.1f}, student alone {alone.mean:.1f} (means)."
        )
    lines.append(
        f"Error counts: the paper's distilled student made {PAPER_ERRORS['distilled']}, these {distilled.mean:.1f} "
        f"after {result['student_epochs']} epochs on {result['n_train']:,} images; `python -m kdviz distill --preset "
        f"paper --seeds 3` trains the paper preset's {PRESETS['paper'].student.epochs}-epoch students."
    )
    return lines


def top_classes_line(logits, T, k=4):
    """'P(4) = 0.292, P(9) = 0.157, ...': the k most likely classes of one image at temperature T, in order.

    A probability of 0.999 or more is written 1 - (sum of the others), so 1 - 4.3e-06 is not rounded to 1."""
    p = softmax(np.asarray(logits, dtype=float), T)
    parts = []
    for c in np.argsort(p, kind="stable")[::-1][: count(k, "k")]:
        if p[c] >= 0.999:
            text = f"1 - {np.delete(p, c).sum():.2g}"
        else:
            text = f"{p[c]:.3f}" if p[c] >= 0.01 else f"{p[c]:.2g}"
        parts.append(f"P({c}) = {text}")
    return ", ".join(parts)
