"""A workspace: MNIST as tensors on the device, the teacher, and its logits on the transfer set, computed once.

``prepare(load_mnist(), get_preset("quick"))`` makes one; its methods train students on its transfer set
(``workspace.train_students(T, alpha, StudentConfig(hidden=100))``) and count their test errors. Presets name
the paper's experiment (``paper``), a smaller one for tests and a first look (``quick``) and the long,
consistently taught one (``patient``).
"""

from dataclasses import dataclass, replace

import numpy as np
import torch

from .. import _checks
from . import teacher_store
from .timing import format_seconds
from .train import (
    StudentConfig,
    TeacherConfig,
    TrainingOptions,
    choose_device,
    count_errors,
    load_or_train_teacher,
    logits_of,
    to_inputs,
    to_labels,
    train_students,
)


@dataclass(frozen=True)
class Preset:
    teacher: TeacherConfig
    student: StudentConfig
    T: float = 20.0
    alpha: float = 0.9
    n_transfer: int | None = None  # training images the students see; None: the teacher's n_train
    transfer_jitter: int = 0  # > 0: consistent teaching, the teacher labels each shifted batch (train_students)

    def __post_init__(self):
        """Checked when the preset is made, by the rules train_students and kd_loss use."""
        n_transfer, T, alpha = _checks.preset(self, TeacherConfig, StudentConfig)
        object.__setattr__(self, "n_transfer", n_transfer)
        object.__setattr__(self, "T", T)
        object.__setattr__(self, "alpha", alpha)


PRESETS = {
    "paper": Preset(TeacherConfig(), StudentConfig(hidden=800, epochs=30)),
    # the shipped paper teacher (loads in seconds, so a test run trains no teacher), smaller students on fewer images
    "quick": Preset(TeacherConfig(), StudentConfig(hidden=300, epochs=10), n_transfer=10000),
    # patient and consistent teaching (Beyer et al. 2022): the teacher labels each jittered view, a long schedule;
    # 150 epochs: the measured long run (README), both arms of `python -m kdviz consistency` in about an hour on 2 cores
    "patient": Preset(TeacherConfig(), StudentConfig(hidden=800, epochs=150), T=8.0, alpha=1.0, transfer_jitter=2),
}
TEACHER_PRESETS = {  # what `python -m kdviz teacher --preset NAME` trains
    "paper": PRESETS["paper"].teacher,
    "small": TeacherConfig(epochs=12, n_train=10000),  # a teacher to train from scratch in a few minutes on a CPU
}


def get_preset(name, T=None, alpha=None, hidden=None, seed=None, student_epochs=None, transfer_jitter=None):
    """A preset with any of its student settings overridden."""
    preset = PRESETS[_checks.one_of(name, PRESETS, "preset")]
    student = replace(
        preset.student,
        **{k: v for k, v in {"hidden": hidden, "seed": seed, "epochs": student_epochs}.items() if v is not None},
    )
    return replace(
        preset,
        student=student,
        T=preset.T if T is None else T,
        alpha=preset.alpha if alpha is None else alpha,
        transfer_jitter=preset.transfer_jitter if transfer_jitter is None else transfer_jitter,
    )


def seed_list(student, n_seeds):
    """The seeds of ``n_seeds`` repeated runs: student.seed, student.seed + 1, ..."""
    return _checks.seeds_in_range(student.seed, n_seeds, "the student's seed")


@dataclass
class Workspace:
    """Tensors on the device and the teacher's logits for the transfer set, computed once."""

    x_train: object
    y_train: object
    x_test: object
    y_test: object
    teacher: object
    teacher_logits: object
    teacher_info: dict
    device: object

    @property
    def test_set(self):
        """(x_test, y_test), as ``TrainingOptions(test=...)`` counts them after every epoch."""
        return self.x_test, self.y_test

    def select(self, indices):
        """The workspace with its transfer set cut to the images at ``indices`` (the test set is kept whole)."""
        rows = torch.as_tensor(_checks.row_indices(indices, len(self.x_train)), device=self.device)
        return replace(
            self, x_train=self.x_train[rows], y_train=self.y_train[rows], teacher_logits=self.teacher_logits[rows]
        )

    def subset(self, n_train):
        """The workspace with its transfer set cut to the first ``n_train`` images (the test set is kept whole)."""
        n = _checks.count(n_train, "n_train", 1, len(self.x_train))
        return replace(self, x_train=self.x_train[:n], y_train=self.y_train[:n], teacher_logits=self.teacher_logits[:n])

    def split_validation(self, n_validation, seed=0):
        """Carve a validation set from the *training* data: (train indices, validation indices), each sorted."""
        n_validation = _checks.count(n_validation, "n_validation (the rest is for training)", 1, len(self.x_train) - 1)
        order = np.random.default_rng(seed).permutation(len(self.x_train))
        return np.sort(order[n_validation:]), np.sort(order[:n_validation])

    def train_students(self, T, alpha, student, seeds=None, teacher_logits=None, options=None, progress=True):
        """``kdviz.mnist.train.train_students`` on this transfer set and its labels: one student per (T, alpha,
        seed), stacked. ``teacher_logits`` replaces the teacher's (one row per transfer image); consistent
        teaching (``options.transfer_jitter``) is taught by this workspace's teacher. Returns (model, History)."""
        options = TrainingOptions() if options is None else options
        if options.transfer_jitter and options.teacher is None:
            options = replace(options, teacher=self.teacher)
        targets = self.teacher_logits if teacher_logits is None else teacher_logits
        return train_students(self.x_train, self.y_train, targets, T, alpha, student, seeds, options, progress)

    def test_logits(self, model):
        """The logits of ``model`` (a teacher or a stack of students) on the test set, as float64 numpy."""
        return logits_of(model, self.x_test).double().cpu().numpy()

    def test_errors(self, model):
        """Misclassified test images of each student of ``model``: a numpy array of ints."""
        return count_errors(logits_of(model, self.x_test), self.y_test)


def prepare(data, preset, device=None, progress=True, callback=None):
    """Move the data to the device, load or train the teacher, and compute its logits on the transfer set once.

    The transfer set is the first ``preset.n_transfer`` training images (all the teacher saw, for ``paper``).
    """
    _checks.mnist_data(data)
    _checks.instance_of(preset, Preset, "preset", "get_preset('quick')")
    device = choose_device(device)
    n = preset.n_transfer
    teacher, info = load_or_train_teacher(data, preset.teacher, device, progress=progress, callback=callback)
    x_train = to_inputs(data.train_images[:n], device)
    return Workspace(
        x_train=x_train,
        y_train=to_labels(data.train_labels[:n], device),
        x_test=to_inputs(data.test_images, device),
        y_test=to_labels(data.test_labels, device),
        teacher=teacher,
        teacher_logits=logits_of(teacher, x_train),
        teacher_info=info,
        device=device,
    )


SECONDS_PER_TEACHER_EPOCH = 15.3  # the paper teacher, 60,000 images, on the 2-core development CPU (idle, 2026-11-28)


def teacher_status(preset):
    """A line telling where the teacher will come from and, if it must be trained, roughly how long that takes."""
    _checks.instance_of(preset, Preset, "preset", "get_preset('quick')")
    config = preset.teacher
    found = teacher_store.find_shipped(config)
    if found is not None:
        errors = found[1]["test_errors"]
        return f"the pre-trained teacher ships with kdviz ({errors} test errors): loading it takes a second"
    if teacher_store.cache_path(config).exists():
        return "teacher found in the cache: loading it takes a second"
    seconds = config.epochs * config.n_train / 60000 * SECONDS_PER_TEACHER_EPOCH * (config.hidden / 1200) ** 2
    return f"no cached teacher: training it takes about {format_seconds(seconds)} on a 2-core CPU (much less on a GPU)"
