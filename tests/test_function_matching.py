"""Function matching (Beyer et al. 2022): consistent teaching's shifted views, mixed, and the teacher labelling the
very mixed view; each seed its own draws; refused before training when it cannot be what it says."""

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from kdviz.mnist import train
from kdviz.mnist.models import StackedStudents
from kdviz.mnist.train import (
    JITTER_SEED_OFFSET,
    MIXUP_SEED_OFFSET,
    StudentConfig,
    TrainingOptions,
    TrainingWarning,
    jitter,
    mix_views,
    mixup_weights,
    train_students,
)

pytestmark = pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")  # random toy data
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DEVICES += ["mps"] if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else []


@pytest.fixture
def device():
    return "cpu"


@pytest.fixture
def toy(device):
    g = torch.Generator().manual_seed(1)
    return torch.randn(300, 784, generator=g).to(device), torch.randint(0, 10, (300,), generator=g).to(device)


class RecordingTeacher(torch.nn.Module):
    """A fixed linear 'teacher' that remembers each batch it labelled and whether it was in training mode."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.linear = torch.nn.Linear(784, 10)
        self.seen, self.modes = [], []

    def forward(self, x):
        self.seen.append(x.clone())
        self.modes.append(self.training)
        return self.linear(x)


def matching(teacher, mixup=1.0, jitter_=2):
    return TrainingOptions(teacher=teacher, transfer_jitter=jitter_, transfer_mixup=mixup)


@pytest.mark.parametrize("device", DEVICES)
def test_a_mixed_batch_is_a_convex_combination_of_two_shifted_images_with_the_drawn_weights(toy, device):
    x, _ = toy
    idx = torch.arange(60, device=device).view(2, 30)
    shift_seeds, mix_seeds = (3, 4), (5, 6)
    views, targets = train._matching_batches(
        x,
        idx,
        RecordingTeacher().to(device).eval(),
        2,
        [torch.Generator().manual_seed(s) for s in shift_seeds],
        [np.random.default_rng(s) for s in mix_seeds],
        1.0,
    )
    assert views.shape == (2, 30, 784) and targets.shape == (2, 30, 10)
    for rows, batch, shift_seed, mix_seed in zip(idx, views, shift_seeds, mix_seeds, strict=True):
        shifted = jitter(x[rows], 2, torch.Generator().manual_seed(shift_seed))  # consistent teaching's views
        lam = torch.from_numpy(np.random.default_rng(mix_seed).beta(1.0, 1.0, 30)).float().to(device)
        assert ((lam > 0) & (lam < 1)).all() and lam.std() > 0.1  # real mixes, one weight per image
        for i in range(30):
            expected = lam[i] * shifted[i] + (1 - lam[i]) * shifted[i - 1]  # image i with image i - 1 (0 with 29)
            torch.testing.assert_close(batch[i], expected)
            assert not torch.allclose(batch[i], shifted[i]) and not torch.allclose(batch[i], shifted[i - 1])


def test_mixing_weights_follow_beta_a_a():
    rng = np.random.default_rng(0)
    flat, peaked = mixup_weights(20000, 1.0, rng), mixup_weights(20000, 50.0, rng)
    assert flat.dtype == torch.float32 and 0 <= flat.min() and flat.max() <= 1
    assert abs(float(flat.mean()) - 0.5) < 0.01 and abs(float(flat.var()) - 1 / 12) < 0.005  # uniform: Beta(1, 1)
    assert float(peaked.std()) < 0.08  # Beta(50, 50) stays near 1/2
    views = torch.randn(4, 784)
    torch.testing.assert_close(mix_views(views, torch.ones(4)), views)  # lambda = 1: each image as it was


def test_the_teacher_labels_exactly_the_mixed_view_the_student_sees(toy, monkeypatch):
    x, y = toy
    teacher = RecordingTeacher().train()
    pairs = []  # (student input, teacher targets) of every step
    real_loss, real_forward = train.distillation_loss, StackedStudents.forward

    def student_forward(self, views):
        pairs.append([views.clone()])
        return real_forward(self, views)

    def loss(student_logits, targets, labels, T, alpha):
        if pairs and len(pairs[-1]) == 1:  # a training step's loss (the chance loss comes before any step)
            pairs[-1].append(targets.clone())
            assert labels is None  # a mixed image has no one label
        return real_loss(student_logits, targets, labels, T, alpha)

    monkeypatch.setattr(StackedStudents, "forward", student_forward)
    monkeypatch.setattr(train, "distillation_loss", loss)
    monkeypatch.setattr(train, "teacher_view_logits", lambda *a: pytest.fail("no view table holds mixed views"))
    config = StudentConfig(hidden=8, epochs=1, batch_size=100)
    train_students(x, y, None, 4.0, 1.0, config, seeds=[0, 1], options=matching(teacher), progress=False)
    assert len(pairs) == 3 and teacher.training and not any(teacher.modes[1:])  # eval while it labels; restored
    with torch.no_grad():
        for views, targets in pairs:
            torch.testing.assert_close(targets, teacher.linear(views))  # the teacher's logits of these very views
    # the first step's views are each seed's first batch, shifted by that seed's shifts, mixed by its own weights
    assert pairs[0][0].shape == (2, 100, 784)
    for seed in (0, 1):
        rows = torch.randperm(300, generator=torch.Generator().manual_seed(seed))[:100]
        shifted = jitter(x[rows], 2, torch.Generator().manual_seed(seed + JITTER_SEED_OFFSET))
        lam = mixup_weights(100, 1.0, np.random.default_rng(seed + MIXUP_SEED_OFFSET))
        torch.testing.assert_close(pairs[0][0][seed], mix_views(shifted, lam), rtol=0, atol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_a_stacked_student_equals_the_same_student_trained_alone(toy, device):
    x, y = toy
    teacher = RecordingTeacher().to(device).eval()
    config = StudentConfig(hidden=8, epochs=2, batch_size=64)
    stacked, _ = train_students(x, y, None, 4.0, 1.0, config, [0, 1, 0], matching(teacher), progress=False)
    alone, _ = train_students(x, y, None, 4.0, 1.0, replace(config, seed=1), options=matching(teacher), progress=False)
    for W_stacked, W_alone in zip(stacked.parameters(), alone.parameters(), strict=True):
        torch.testing.assert_close(W_stacked[1], W_alone[0], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(W_stacked[0], W_stacked[2])
    assert not torch.equal(stacked.weights[0][0], stacked.weights[0][1])  # another seed, another student


def test_seeded_runs_repeat_and_mixing_changes_what_is_learnt(toy):
    x, y = toy
    teacher = RecordingTeacher().eval()
    config = StudentConfig(hidden=8, epochs=2, batch_size=64)

    def weights(options, seed=0):
        model, _ = train_students(x, y, None, 4.0, 1.0, replace(config, seed=seed), options=options, progress=False)
        return model.weights[0].detach()

    first = weights(matching(teacher))
    assert torch.equal(first, weights(matching(teacher)))  # bit for bit
    assert not torch.equal(first, weights(matching(teacher), seed=1))
    assert not torch.equal(first, weights(matching(teacher, mixup=0.5)))  # other weights drawn
    assert not torch.equal(first, weights(matching(teacher, mixup=0.0)))  # consistent teaching: no mixing


def test_without_mixup_consistent_teaching_gives_the_results_it_gave_before_function_matching(toy, monkeypatch):
    """Pinned from house at commit 0f3055e (before function matching), on the CPU, with and without the view table."""
    x, y = toy
    teacher = RecordingTeacher().eval()
    config = StudentConfig(hidden=16, epochs=2, batch_size=64)
    for limit in (train.VIEW_TABLE_MAX_BYTES, 0):
        monkeypatch.setattr(train, "VIEW_TABLE_MAX_BYTES", limit)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TrainingWarning)
            model, history = train_students(
                x, y, None, [2.0, 4.0], 1.0, config, [0, 1], matching(teacher, mixup=0.0), progress=False
            )
        np.testing.assert_allclose(history.loss[-1], [0.14027002453804016, 0.15316778421401978], rtol=1e-5)
        assert float(model.weights[0].detach().sum()) == pytest.approx(0.5293731689453125, rel=1e-5)
        assert float(model.biases[-1].detach().sum()) == pytest.approx(-1.0015226602554321, rel=1e-5)


def test_the_chance_loss_that_warns_is_that_of_uniform_guessing_on_mixed_views(toy, monkeypatch):
    """Mixed views have flatter soft targets than single images, so uniform guessing loses less on them: the
    warning for a student that did not learn compares its loss with that, not with the loss on unmixed images."""
    x, y = toy
    teacher, seen = RecordingTeacher().eval(), {}

    def warn(names, final_losses, chance_losses, *rest):
        seen[len(seen)] = chance_losses

    monkeypatch.setattr(train, "_warn_if_untrustworthy", warn)
    config = StudentConfig(hidden=8, epochs=1, batch_size=100)
    for mixup in (0.0, 1.0):
        train_students(x, y, None, 4.0, 1.0, config, options=matching(teacher, mixup), progress=False)
    with torch.no_grad():
        mixed = mix_views(
            jitter(x, 2, torch.Generator().manual_seed(0)), mixup_weights(300, 1.0, np.random.default_rng(0))
        )
        expected = train._chance_losses(teacher.linear(mixed), None, np.array([4.0]), np.array([1.0]))
    np.testing.assert_allclose(seen[1], expected, rtol=1e-6)
    assert seen[1][0] < seen[0][0]  # less than uniform guessing's loss on the unmixed images


@pytest.mark.parametrize(
    ("options", "alpha", "error", "message"),
    [
        ({"transfer_mixup": True}, 1.0, TypeError, "transfer_mixup.*must be a number"),
        ({"transfer_mixup": "1"}, 1.0, TypeError, "transfer_mixup.*must be a number"),
        ({"transfer_mixup": None}, 1.0, TypeError, "transfer_mixup.*must be a number"),
        ({"transfer_mixup": -1.0}, 1.0, ValueError, "transfer_mixup.*>= 0"),
        ({"transfer_mixup": float("nan")}, 1.0, ValueError, "transfer_mixup"),
        ({"transfer_mixup": float("inf")}, 1.0, ValueError, "transfer_mixup"),
        ({"transfer_mixup": 1.0, "transfer_jitter": 0, "teacher": None}, 1.0, ValueError, "give transfer_jitter"),
        ({"transfer_mixup": 1.0}, 0.9, ValueError, "no one label.*every alpha must be 1; got \\[0.9\\]"),
        ({"transfer_mixup": 1.0}, [1.0, 0.0], ValueError, "every alpha must be 1"),
    ],
)
def test_bad_mixup_settings_are_refused_before_training(toy, monkeypatch, options, alpha, error, message):
    x, y = toy
    monkeypatch.setattr(train, "initial_students", lambda *a: pytest.fail("training started"))
    options = replace(matching(RecordingTeacher()), **options)
    with pytest.raises(error, match=message):
        train_students(x, y, None, 4.0, alpha, StudentConfig(hidden=8, epochs=1), options=options, progress=False)
