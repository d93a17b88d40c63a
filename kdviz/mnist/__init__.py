"""The MNIST engine (torch): the data, the paper's networks, the distillation loss, training, the teacher store,
and the workspace that the MNIST lessons run their experiments on.

    from kdviz.mnist import load_mnist, prepare, get_preset, StudentConfig
    workspace = prepare(load_mnist(), get_preset("quick"))
    model, history = workspace.train_students(T=4.0, alpha=0.9, student=StudentConfig(hidden=100))

Data flows one way: files (``data``) -> tensors -> teacher logits (``teacher_store``, ``train``) -> students
(``train``, with the loss of ``losses`` and the networks of ``models``) -> errors. ``timing`` says how long a run
will take here.
"""

from .data import load_mnist, mnist_status
from .losses import kd_loss
from .timing import describe_estimate, estimate_seconds, format_seconds
from .train import (
    StudentConfig,
    TeacherConfig,
    TrainingOptions,
    choose_device,
    count_errors,
    logits_of,
    train_students,
)
from .workspace import Preset, Workspace, get_preset, prepare, teacher_status

__all__ = [
    "load_mnist",
    "mnist_status",
    "kd_loss",
    "StudentConfig",
    "TeacherConfig",
    "TrainingOptions",
    "choose_device",
    "count_errors",
    "logits_of",
    "train_students",
    "Preset",
    "Workspace",
    "get_preset",
    "prepare",
    "teacher_status",
    "estimate_seconds",
    "describe_estimate",
    "format_seconds",
]
