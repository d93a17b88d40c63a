"""How long a training run will take here: a short probe of the real training step, scaled up.

The probe trains the same stack of students as the run (width, number of students, seeds, batch size) for a
few short epochs on this machine as it is now, and times each epoch. The estimate is then

    seconds = setup + epochs * (steps per epoch * seconds per step + images evaluated per epoch * seconds per image)

Whatever else runs on the machine during the probe is in the measurement; work that starts later is not, so
a busier machine makes the run slower than its estimate.
"""

import math
import os
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np

from .._checks import count, duration
from .train import StudentConfig, TrainingOptions, TrainingWarning, logits_of

PROBE_STEPS_PER_EPOCH = 2  # training steps in one probe epoch; a probe epoch's end is one time mark
PROBE_SECONDS = 2.0  # how long the timed part of a probe aims to run (at least 4 epochs, at most 200)


@dataclass(frozen=True)
class Probe:
    """Measured costs of one stack of students on this machine."""

    step: float  # seconds per training step of the whole stack (mean over the probe's epochs after its first)
    setup: float  # seconds from the call to the first step: building the stack and checking the inputs
    per_image: float  # seconds to compute the stack's logits for one image (0 when not measured)
    steps: int  # training steps timed


def probe_training(workspace, hidden, n_students=1, n_seeds=1, batch_size=128, evaluate=False, budget=None):
    """Time ``n_students`` x ``n_seeds`` stacked students of ``hidden`` units on the first few batches of the
    workspace's transfer set: one untimed warm-up run (memory, thread pools), then a run of 4 to 200 short epochs
    sized to take about ``budget`` seconds (default ``PROBE_SECONDS``). ``evaluate`` also times the logits of the
    trained stack."""
    seeds = list(range(count(n_seeds, "n_seeds"))) * count(n_students, "n_students")
    config = StudentConfig(hidden=hidden, epochs=1, batch_size=batch_size)
    n = min(PROBE_STEPS_PER_EPOCH * batch_size, len(workspace.x_train))
    steps = math.ceil(n / batch_size)

    probe_set = workspace.subset(n)

    def run(epochs):
        marks = [time.perf_counter()]
        options = TrainingOptions(callback=lambda epoch, history: marks.append(time.perf_counter()))
        with warnings.catch_warnings():  # a probe's students are not results anyone reads
            warnings.simplefilter("ignore", TrainingWarning)
            run_config = replace(config, epochs=epochs)
            model, _ = probe_set.train_students(4.0, 0.5, run_config, seeds, options=options, progress=False)
        return np.diff(marks), model

    budget = PROBE_SECONDS if budget is None else budget
    warm_up, _ = run(1)
    epochs = int(np.clip(budget / max(float(warm_up[0]), 1e-6), 4, 200))
    durations, model = run(epochs)
    per_epoch = float(np.mean(durations[1:]))
    per_image = 0.0
    if evaluate:
        start = time.perf_counter()
        logits_of(model, workspace.x_train[:n])
        per_image = (time.perf_counter() - start) / n
    return Probe(
        step=per_epoch / steps,
        setup=max(float(durations[0]) - per_epoch, 0.0),
        per_image=per_image,
        steps=steps * epochs,
    )


def run_seconds(probe, epochs, n_examples, batch_size=128, n_evaluated=0):
    """setup + epochs * (ceil(n_examples / batch_size) * step + n_evaluated * per_image), from a ``Probe``."""
    steps = math.ceil(count(n_examples, "n_examples") / count(batch_size, "batch_size"))
    per_epoch = steps * probe.step + count(n_evaluated, "n_evaluated", 0) * probe.per_image
    return probe.setup + count(epochs, "epochs") * per_epoch


def machine_load():
    """'load average 2.7 on 2 cores': how busy this machine is now (None where the system does not say)."""
    if not hasattr(os, "getloadavg"):  # Windows
        return None
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def estimate_seconds(
    workspace, hidden, epochs, n_students=1, n_examples=None, batch_size=128, n_seeds=1, n_evaluated=0
):
    """Wall time of a run of n_students settings x n_seeds seeds, stacked, for ``epochs`` epochs over n_examples
    transfer images (default: all of them), computing logits for ``n_evaluated`` images after every epoch (a test
    set that is tracked): a few seconds' probe of that stack on this machine now, scaled up (``kdviz.mnist.timing``)."""
    n_examples = len(workspace.x_train) if n_examples is None else n_examples
    for value, name in ((hidden, "hidden"), (epochs, "epochs"), (n_examples, "n_examples"), (batch_size, "batch_size")):
        count(value, name)
    count(n_evaluated, "n_evaluated", 0)
    measured = probe_training(workspace, hidden, n_students, n_seeds, batch_size, evaluate=n_evaluated > 0)
    return run_seconds(measured, epochs, n_examples, batch_size, n_evaluated)


def format_seconds(seconds):
    """'0.4 s', '12 s', '3.2 min': a duration as a person would say it."""
    seconds = duration(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"


def describe_estimate(seconds):
    """'estimated time: about 4.6 min, ...': an estimate from ``estimate_seconds`` as a line to
    print, with how busy the machine is now (work that starts later slows the run: the estimate cannot see it)."""
    load = machine_load()
    return (
        f"estimated time: about {format_seconds(seconds)}, from a few seconds' probe of these students just now"
        + (f" ({load})" if load else "")
        + "; more if other work on this machine starts"
    )
