import warnings

import numpy as np
import pytest
import torch

from kdviz.mnist.data import Mnist
from kdviz.mnist.models import StackedStudents, student_mlp
from kdviz.mnist.train import (
    StudentConfig,
    TeacherConfig,
    TrainingOptions,
    TrainingWarning,
    choose_device,
    clip_per_student,
    count_errors,
    jitter,
    load_or_train_teacher,
    logits_of,
    to_inputs,
    train_students,
    transfer_indices,
)

# Every device this machine has: training tests run on each (CUDA and MPS change kernels, not results' meaning).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DEVICES += ["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else []
on_every_device = pytest.mark.parametrize("device", DEVICES)


# random toy data: students that cannot learn it are expected, and TrainingWarning says so
pytestmark = pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")


@pytest.fixture
def device():
    return "cpu"


@pytest.fixture
def toy(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 784, generator=g)
    y = torch.randint(0, 10, (300,), generator=g)
    teacher_logits = torch.randn(300, 10, generator=g) * 4
    return x.to(device), y.to(device), teacher_logits.to(device)


def fake_mnist(n_train=200, n_test=50):
    rng = np.random.default_rng(0)
    return Mnist(
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test),
    )


@pytest.mark.parametrize("max_grad_norm", [None, 0.5])
@on_every_device
def test_a_grid_of_stacked_students_equals_each_student_trained_alone(toy, max_grad_norm):
    x, y, teacher_logits = toy
    config = StudentConfig(hidden=16, epochs=2, batch_size=64, max_grad_norm=max_grad_norm)
    temperatures, alphas = [1.0, 4.0, 20.0], [0.0, 0.5, 1.0]
    grid, _ = train_students(x, y, teacher_logits, temperatures, alphas, config, progress=False)
    for k, (T, alpha) in enumerate(zip(temperatures, alphas, strict=True)):
        alone, _ = train_students(x, y, teacher_logits, T, alpha, config, progress=False)
        for W_grid, W_alone in zip(grid.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(W_grid[k], W_alone[0], rtol=1e-4, atol=1e-5)


def test_clipping_limits_each_students_gradient_norm_and_leaves_small_ones_alone():
    model = StackedStudents([student_mlp(8)] * 2)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
        p.grad[1] *= 1e-4  # student 1's gradient is tiny
    before = [p.grad[1].clone() for p in model.parameters()]
    norms = clip_per_student(list(model.parameters()), max_norm=1.0)
    assert norms[0] > 1.0 > norms[1]
    after = torch.stack([p.grad.pow(2).flatten(1).sum(1) for p in model.parameters()]).sum(0).sqrt()
    torch.testing.assert_close(after[0], torch.tensor(1.0), rtol=1e-5, atol=0)
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p.grad[1], b)


@on_every_device
def test_clipping_keeps_a_soft_target_student_from_blowing_up(toy):
    x, _, teacher_logits = toy
    runs = {}
    for clip in (None, 1.0):
        config = StudentConfig(hidden=16, epochs=3, batch_size=64, lr=3.0, max_grad_norm=clip)
        _, history = train_students(x, None, teacher_logits * 10, 20.0, 1.0, config, progress=False)
        runs[clip] = np.ravel(history.loss)
    assert runs[None].max() > 1e6
    assert np.isfinite(runs[1.0]).all() and runs[1.0].max() < 10 * runs[1.0][0]


def test_nan_teacher_logits_are_refused_before_training(toy):
    x, y, teacher_logits = toy
    teacher_logits = teacher_logits.clone()
    teacher_logits[7, 3] = float("nan")
    with pytest.raises(ValueError, match="teacher logits contain nan"):
        train_students(x, y, teacher_logits, 4.0, 0.5, StudentConfig(hidden=8, epochs=1), progress=False)


def test_a_loss_that_stops_being_finite_raises_a_clear_error(toy):
    x, y, teacher_logits = toy
    diverging = StudentConfig(hidden=16, epochs=1, lr=1e20, max_grad_norm=None)  # the weights overflow to inf
    with pytest.raises(FloatingPointError, match=r"diverged.*T=4, alpha=0.5.*lower the learning rate"):
        train_students(x, y, teacher_logits, 4.0, 0.5, diverging, progress=False)


@on_every_device
def test_same_seed_same_student_other_seed_other_student(toy):
    x, y, teacher_logits = toy
    config = StudentConfig(hidden=16, epochs=1, batch_size=64)
    a, _ = train_students(x, y, teacher_logits, 2.0, 0.5, config, progress=False)
    b, _ = train_students(x, y, teacher_logits, 2.0, 0.5, config, progress=False)
    c, _ = train_students(x, y, teacher_logits, 2.0, 0.5, StudentConfig(16, 1, 64, seed=1), progress=False)
    assert torch.equal(a.weights[0], b.weights[0])
    assert not torch.equal(a.weights[0], c.weights[0])


@on_every_device
def test_history_and_callback_report_every_epoch(toy):
    x, y, teacher_logits = toy
    seen = []
    _, history = train_students(
        x,
        y,
        teacher_logits,
        [1.0, 5.0],
        0.5,
        StudentConfig(hidden=8, epochs=3),
        options=TrainingOptions(
            test=(x[:50], y[:50]), track_train_errors=True, callback=lambda epoch, h: seen.append(epoch)
        ),
        progress=False,
    )
    assert seen == [0, 1, 2] and history.epochs == [1, 2, 3]
    assert history.test_errors[-1].shape == (2,) and history.train_errors[-1].shape == (2,)
    assert np.isfinite(np.array(history.loss)).all()


@on_every_device
def test_training_lowers_the_loss(toy):
    x, _, _ = toy
    teacher_logits = 3 * x[:, :10]  # a learnable teacher: its logits are a linear map of the input
    y = teacher_logits.argmax(-1)
    _, history = train_students(
        x, y, teacher_logits, 3.0, 0.5, StudentConfig(hidden=64, epochs=10, batch_size=32), progress=False
    )
    assert history.loss[-1][0] < 0.5 * history.loss[0][0]


def test_hard_label_students_need_no_teacher(toy):
    x, y, _ = toy
    model, _ = train_students(x, y, None, 1.0, 0.0, StudentConfig(hidden=8, epochs=1), progress=False)
    assert model.n_students == 1
    with pytest.raises(ValueError, match="teacher_logits are needed"):
        train_students(x, y, None, 1.0, 0.5, StudentConfig(hidden=8, epochs=1), progress=False)


def test_stacked_student_extracts_to_an_ordinary_model():
    students = [student_mlp(12) for _ in range(3)]
    stacked = StackedStudents(students)
    x = torch.randn(7, 784)
    for k in range(3):
        torch.testing.assert_close(stacked(x)[k], students[k](x))
        torch.testing.assert_close(stacked.student(k)(x), students[k](x))


def test_jitter_moves_pixels_by_at_most_the_shift():
    image = torch.full((1, 28, 28), -1.0)
    image[0, 14, 14] = 5.0
    images = to_inputs(np.zeros((1, 28, 28), np.uint8), "cpu").repeat(200, 1)
    images[:, 14 * 28 + 14] = 5.0
    shifted = jitter(images, 2, torch.Generator().manual_seed(0)).view(200, 28, 28)
    rows, cols = (shifted == 5.0).nonzero()[:, 1:].T
    assert (shifted == 5.0).sum() == 200  # each image keeps its one bright pixel
    assert rows.min() == 12 and rows.max() == 16 and cols.min() == 12 and cols.max() == 16


def test_transfer_set_options():
    labels = np.repeat(np.arange(10), 100)
    no_threes = transfer_indices(labels, drop_class=3)
    assert 3 not in labels[no_threes] and len(no_threes) == 900
    small = transfer_indices(labels, fraction=0.03, seed=0)
    assert len(small) == 30 and len(np.unique(small)) == 30
    np.testing.assert_array_equal(small, transfer_indices(labels, fraction=0.03, seed=0))
    with pytest.raises(ValueError, match="fraction"):
        transfer_indices(labels, fraction=0.0)


def test_class_bias_changes_predictions():
    logits = torch.tensor([[[2.0, 1.0, 0.0], [0.0, 3.0, 0.0]]])
    labels = torch.tensor([1, 1])
    assert count_errors(logits, labels)[0] == 1
    assert count_errors(logits, labels, class_bias=[0.0, 1.5, 0.0])[0] == 0


def test_device_override_and_default():
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device().type in {"cpu", "cuda", "mps"}


def test_teacher_is_cached_by_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path))
    mnist = fake_mnist()
    config = TeacherConfig(hidden=16, epochs=1, n_train=200)
    first, info = load_or_train_teacher(mnist, config, device="cpu", progress=False)
    assert not info["cached"]
    second, info = load_or_train_teacher(mnist, config, device="cpu", progress=False)
    assert info["cached"]
    x = to_inputs(mnist.test_images, "cpu")
    torch.testing.assert_close(logits_of(first, x), logits_of(second, x))
    _, info = load_or_train_teacher(mnist, TeacherConfig(hidden=16, epochs=1, n_train=200, seed=1), "cpu", False)
    assert not info["cached"]
    assert len(list(tmp_path.glob("teacher-*.pt"))) == 2


@on_every_device
def test_stacked_seeds_each_equal_the_student_trained_alone_with_that_seed(toy):
    x, y, teacher_logits = toy
    config = StudentConfig(hidden=16, epochs=2, batch_size=64)
    stacked, _ = train_students(x, y, teacher_logits, [4.0, 4.0, 20.0], 0.5, config, seeds=[0, 1, 1], progress=False)
    for k, seed in enumerate([0, 1, 1]):
        T = [4.0, 4.0, 20.0][k]
        alone, _ = train_students(x, y, teacher_logits, T, 0.5, StudentConfig(16, 2, 64, seed=seed), progress=False)
        for W_stacked, W_alone in zip(stacked.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(W_stacked[k], W_alone[0], rtol=1e-4, atol=1e-5)
    assert not torch.equal(stacked.weights[0][0], stacked.weights[0][1])  # another seed, another student


def test_the_cpu_path_gives_the_seeded_results_it_always_gave():
    """Pinned from the training loop before seeds and the loss rewrite (commit 19bf033), on the CPU."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 784, generator=g), torch.randint(0, 10, (300,), generator=g)
    teacher_logits = torch.randn(300, 10, generator=g) * 4
    config = StudentConfig(hidden=16, epochs=2, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)  # random toy labels: nothing to learn, that is fine here
        model, history = train_students(x, y, teacher_logits, [1.0, 4.0, 20.0], [0.0, 0.5, 1.0], config, progress=False)
    np.testing.assert_allclose(history.loss[-1], [2.24855661, 4.08051777, 6.93060446], rtol=1e-5)
    assert float(model.weights[0].detach().sum()) == pytest.approx(5.243485927581787, rel=1e-5)
    assert float(model.biases[-1].detach().sum()) == pytest.approx(-1.8946771621704102, rel=1e-5)


class RecordingTeacher(torch.nn.Module):
    """A fixed linear 'teacher' that remembers each batch it labelled and whether it was in training mode."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(784, 10)
        self.seen, self.modes = [], []

    def forward(self, x):
        self.seen.append(x.clone())
        self.modes.append(self.training)
        return self.linear(x)


@pytest.mark.parametrize("table", [True, False], ids=["view table", "teacher every step"])
def test_consistent_teaching_labels_exactly_the_shifted_view_the_student_sees(toy, monkeypatch, table):
    from kdviz.mnist import train

    if not table:
        monkeypatch.setattr(train, "VIEW_TABLE_MAX_BYTES", 0)
    x, y, _ = toy
    teacher = RecordingTeacher().train()
    pairs = []  # (student input, teacher targets) of every step
    real_loss = train.distillation_loss
    real_model_call = StackedStudents.forward

    def student_forward(self, views):
        pairs.append([views.clone()])
        return real_model_call(self, views)

    def loss(student_logits, targets, labels, T, alpha):
        if pairs and len(pairs[-1]) == 1:  # a training step's loss (the chance loss comes before any step)
            pairs[-1].append(targets.clone())
        return real_loss(student_logits, targets, labels, T, alpha)

    monkeypatch.setattr(StackedStudents, "forward", student_forward)
    monkeypatch.setattr(train, "distillation_loss", loss)
    config = StudentConfig(hidden=8, epochs=1, batch_size=100)
    train_students(
        x, y, None, 4.0, 1.0, config, options=TrainingOptions(teacher=teacher, transfer_jitter=2), progress=False
    )
    assert len(pairs) == 3 and teacher.training and not any(teacher.modes[1:])  # eval while it labels; restored
    with torch.no_grad():
        for views, targets in pairs:
            torch.testing.assert_close(targets, teacher.linear(views))  # the teacher's logits of these very views
    assert not torch.equal(pairs[0][0], x[: len(pairs[0][0])])  # shifted, not the stored images


def test_view_table_holds_the_teachers_logits_of_every_shift(toy):
    from kdviz.mnist.train import shift_images, teacher_view_logits

    x, _, _ = toy
    teacher = RecordingTeacher().train()
    table = teacher_view_logits(teacher, x[:30], 2, chunk=7)
    assert table.shape == (30, 25, 10) and teacher.training  # its mode is restored
    with torch.no_grad():
        for dy in range(5):
            for dx in range(5):
                shifts = torch.full((30,), dy), torch.full((30,), dx)
                expected = teacher.linear(shift_images(x[:30], *shifts, 2))
                torch.testing.assert_close(table[:, dy * 5 + dx], expected)
    # the middle view is the image itself
    torch.testing.assert_close(table[:, 12], teacher.linear(x[:30]).detach())


def test_view_table_and_teacher_every_step_give_the_same_views_and_targets(toy):
    from kdviz.mnist.train import _consistent_batches, teacher_view_logits

    x, _, _ = toy
    teacher = RecordingTeacher().eval()
    idx = torch.randperm(300, generator=torch.Generator().manual_seed(3))[:60].view(2, 30)

    def batches(table):
        generators = [torch.Generator().manual_seed(s) for s in (5, 6)]
        return _consistent_batches(x, idx, teacher, 2, generators, table)

    views, targets = batches(teacher_view_logits(teacher, x, 2))
    views_now, targets_now = batches(None)
    torch.testing.assert_close(views, views_now, rtol=0, atol=0)
    torch.testing.assert_close(targets, targets_now)


def test_validation_errors_are_counted_every_epoch(toy):
    x, y, teacher_logits = toy
    config = StudentConfig(hidden=8, epochs=3, batch_size=100)
    model, history = train_students(
        x[:200],
        y[:200],
        teacher_logits[:200],
        4.0,
        0.5,
        config,
        seeds=[0, 1],
        options=TrainingOptions(validation=(x[200:], y[200:])),
        progress=False,
    )
    assert len(history.val_errors) == 3 and history.val_errors[-1].shape == (2,)
    np.testing.assert_array_equal(history.val_errors[-1], count_errors(logits_of(model, x[200:]), y[200:]))
    with pytest.raises(ValueError, match="x_validation and y_validation together"):
        train_students(x, y, teacher_logits, 4.0, 0.5, config, options=TrainingOptions(validation=(x, None)))


def test_consistent_teaching_shifts_every_image_by_at_most_the_given_pixels(toy):
    from kdviz.mnist.train import _consistent_batches

    x, _, _ = toy
    idx = torch.arange(40).view(2, 20)
    views, targets = _consistent_batches(
        x, idx, RecordingTeacher().eval(), 1, [torch.Generator().manual_seed(s) for s in (0, 1)]
    )
    assert views.shape == (2, 20, 784) and targets.shape == (2, 20, 10)
    for seed, rows, batch in zip((0, 1), idx, views, strict=True):
        torch.testing.assert_close(batch, jitter(x[rows], 1, torch.Generator().manual_seed(seed)))


def test_consistent_teaching_keeps_a_stacked_student_equal_to_the_same_student_alone(toy):
    x, y, _ = toy
    teacher = RecordingTeacher().eval()
    config = StudentConfig(hidden=8, epochs=2, batch_size=64)
    stacked, _ = train_students(
        x,
        y,
        None,
        4.0,
        0.5,
        config,
        seeds=[0, 1, 0],
        options=TrainingOptions(teacher=teacher, transfer_jitter=2),
        progress=False,
    )
    alone, _ = train_students(
        x,
        y,
        None,
        4.0,
        0.5,
        replace_seed(config, 1),
        options=TrainingOptions(teacher=teacher, transfer_jitter=2),
        progress=False,
    )
    for W_stacked, W_alone in zip(stacked.parameters(), alone.parameters(), strict=True):
        torch.testing.assert_close(W_stacked[1], W_alone[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(W_stacked[0], W_stacked[2])


def replace_seed(config, seed):
    from dataclasses import replace

    return replace(config, seed=seed)


def test_consistent_teaching_input_is_checked_before_training(toy):
    x, y, teacher_logits = toy
    config = StudentConfig(hidden=8, epochs=1)
    with pytest.raises(TypeError, match="needs the teacher model"):
        train_students(
            x, y, teacher_logits, 4.0, 0.5, config, options=TrainingOptions(transfer_jitter=2), progress=False
        )
    with pytest.raises(ValueError, match="only with transfer_jitter > 0"):
        train_students(
            x, y, teacher_logits, 4.0, 0.5, config, options=TrainingOptions(teacher=RecordingTeacher()), progress=False
        )
    with pytest.raises(ValueError, match="transfer_jitter"):
        train_students(
            x,
            y,
            None,
            4.0,
            0.5,
            config,
            options=TrainingOptions(teacher=RecordingTeacher(), transfer_jitter=14),
            progress=False,
        )
