"""Sentences and numbers printed from results: durations, where the teacher comes from, the small-data
report. Nothing here trains; every sentence is built from the numbers it is given (never typed in)."""

import numpy as np

from . import teacher_store
from ._checks import count, distinct_names, duration, instance_of
from .experiments import Preset
from .noise import compare, spread


def format_seconds(seconds):
    """'0.4 s', '12 s', '3.2 min': a duration as a person would say it."""
    seconds = duration(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


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
    one line per setting, whether every hard-label student learnt its training set by heart (100% train accuracy),
    and the test-accuracy verdict against the seed spread."""
    lines = [
        f"{name:<13} train {spread(train)} %   test {spread(test)} %   ({n_train} training images, {epochs} epochs)"
        for name, (train, test) in accuracy.items()
    ]
    hard_train, soft_test = accuracy["hard labels"][0], accuracy["soft targets"][1]
    if min(hard_train) == 100:
        lines.append(
            f"Every hard-label student gets all {n_train} of its training images right: it has learnt them by heart."
        )
    else:
        lines.append(
            f"The hard-label students get at least {min(hard_train):.1f}% of their {n_train} training images right."
        )
    verdict = compare(
        "hard labels",
        accuracy["hard labels"][1],
        "soft targets",
        soft_test,
        "points of test accuracy",
        lower_is_better=False,
    )
    return lines + [verdict]
