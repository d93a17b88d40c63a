import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdviz import soft_ce_grad
from kdviz.losses import kd_loss


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    student = torch.randn(8, 10, generator=g, dtype=torch.float64) * 3
    teacher = torch.randn(8, 10, generator=g, dtype=torch.float64) * 3
    labels = torch.randint(0, 10, (8,), generator=g)
    return student, teacher, labels


def test_is_the_weighted_sum_of_scaled_kl_and_hard_cross_entropy(batch):
    student, teacher, labels = batch
    T, alpha = 4.0, 0.7
    kl = F.kl_div(
        F.log_softmax(student / T, -1), F.log_softmax(teacher / T, -1), reduction="batchmean", log_target=True
    )
    expected = alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(student, labels)
    assert kd_loss(student, teacher, labels, T, alpha).item() == pytest.approx(expected.item(), rel=1e-12)


def test_soft_term_gradient_is_T_times_soft_ce_grad(batch):
    student, teacher, _ = batch
    T = 5.0
    z = student.clone().requires_grad_(True)
    kd_loss(z, teacher, None, T, 1.0).backward()
    expected = T**2 * soft_ce_grad(student.numpy(), teacher.numpy(), T) / len(student)
    np.testing.assert_allclose(z.grad.numpy(), expected, rtol=1e-9, atol=1e-14)


def test_alpha_zero_is_plain_cross_entropy(batch):
    student, teacher, labels = batch
    assert kd_loss(student, teacher, labels, 3.0, 0.0).item() == pytest.approx(
        F.cross_entropy(student, labels).item(), rel=1e-12
    )


def test_unlabeled_transfer_set_uses_the_soft_term_only(batch):
    student, teacher, labels = batch
    soft_only = kd_loss(student, teacher, None, 2.0, 0.3)
    assert soft_only.item() == pytest.approx(kd_loss(student, teacher, labels, 2.0, 1.0).item())


def test_identical_logits_have_zero_soft_loss(batch):
    student, _, _ = batch
    assert kd_loss(student, student, None, 7.0, 1.0).item() == pytest.approx(0.0, abs=1e-12)


def test_stacked_students_get_their_own_T_and_alpha(batch):
    student, teacher, labels = batch
    stacked = torch.stack([student, student * 0.5, student + 1])
    T, alpha = torch.tensor([1.0, 4.0, 20.0]), torch.tensor([0.0, 0.5, 1.0])
    losses = kd_loss(stacked.float(), teacher.float(), labels, T, alpha)
    assert losses.shape == (3,)
    for k in range(3):
        one = kd_loss(stacked[k].float(), teacher.float(), labels, T[k].item(), alpha[k].item())
        assert losses[k].item() == pytest.approx(one.item(), rel=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 1.5}, r"\[0, 1\]"),
        ({"alpha": -0.1}, r"\[0, 1\]"),
        ({"alpha": float("nan")}, r"\[0, 1\]"),
        ({"T": 0.0}, "> 0"),
        ({"T": -2.0}, "> 0"),
        ({"teacher": torch.zeros(8, 9)}, "same"),
        ({"labels": torch.full((8,), 10)}, "0..9"),
        ({"labels": torch.zeros(5, dtype=torch.int64)}, "one class per row"),
    ],
)
def test_bad_input_raises_value_error(batch, kwargs, message):
    student, teacher, labels = batch
    args = {"teacher": teacher, "labels": labels, "T": 2.0, "alpha": 0.5, **kwargs}
    with pytest.raises(ValueError, match=message):
        kd_loss(student, args["teacher"], args["labels"], args["T"], args["alpha"])
