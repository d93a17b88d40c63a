import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from kdviz import soft_ce_grad, softmax
from kdviz.mnist.losses import distillation_loss, kd_loss


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
    soft_only = kd_loss(student, teacher, None, 2.0, 1.0)
    assert soft_only.item() == pytest.approx(kd_loss(student, teacher, labels, 2.0, 1.0).item())
    with pytest.raises(ValueError, match="alpha must be 1"):  # alpha < 1 would silently be ignored
        kd_loss(student, teacher, None, 2.0, 0.3)


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


def numpy_kd_loss(student, teacher, labels, T, alpha):
    """The same loss in float64 from the numpy core's softmax and scipy's log_softmax, row by row."""
    p = softmax(teacher, T)
    log_p, log_q = log_softmax(teacher / T, axis=-1), log_softmax(student / T, axis=-1)
    kl = np.where(p > 0, p * (log_p - log_q), 0.0).sum(-1).mean()
    hard = -log_softmax(student, axis=-1)[np.arange(len(labels)), labels].mean()
    return alpha * T**2 * kl + (1 - alpha) * hard


@settings(max_examples=60)
@given(
    scale=st.floats(0.1, 1e4),
    T=st.floats(0.5, 500.0),
    alpha=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
)
def test_agrees_with_the_numpy_core_for_large_logits_and_temperatures(scale, T, alpha, seed):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(6, 10, generator=g, dtype=torch.float64) * scale
    teacher = torch.randn(6, 10, generator=g, dtype=torch.float64) * scale
    labels = torch.randint(0, 10, (6,), generator=g)
    loss = kd_loss(student, teacher, labels, T, alpha).item()
    expected = numpy_kd_loss(student.numpy(), teacher.numpy(), labels.numpy(), T, alpha)
    assert np.isfinite(loss)
    assert loss == pytest.approx(expected, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("T", [1.0, 20.0, 200.0, 256.0])
def test_half_precision_inputs_are_computed_in_float32(batch, dtype, T):
    student, teacher, labels = batch
    low = kd_loss(student.to(dtype), teacher.to(dtype), labels, T, 0.9)
    exact = kd_loss(student.to(dtype).double(), teacher.to(dtype).double(), labels, T, 0.9)  # same rounded inputs
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert low.item() == pytest.approx(exact.item(), rel=1e-3)


def test_a_minus_inf_teacher_logit_is_a_class_of_probability_zero(batch):
    student, teacher, labels = batch
    with_inf, far_below = teacher.clone(), teacher.clone()
    with_inf[:, 3] = float("-inf")
    far_below[:, 3] = -1e4  # the same soft target, up to exp(-1e4 / T) = 0 in float64
    z = student.clone().requires_grad_(True)
    loss = kd_loss(z, with_inf, labels, 4.0, 0.5)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert loss.item() == pytest.approx(kd_loss(student, far_below, labels, 4.0, 0.5).item(), rel=1e-12)


def test_each_stacked_student_may_see_its_own_batch(batch):
    student, teacher, labels = batch
    students = torch.stack([student, student.flip(0)])
    teachers, label_sets = torch.stack([teacher, teacher.flip(0)]), torch.stack([labels, labels.flip(0)])
    losses = kd_loss(students, teachers, label_sets, torch.tensor([2.0, 8.0]), torch.tensor([0.3, 0.9]))
    for k, (T, alpha) in enumerate([(2.0, 0.3), (8.0, 0.9)]):
        assert losses[k].item() == pytest.approx(kd_loss(students[k], teachers[k], label_sets[k], T, alpha).item())


def test_labels_may_be_any_integer_array(batch):
    student, teacher, labels = batch
    expected = kd_loss(student, teacher, labels, 2.0, 0.5).item()
    for other in (labels.numpy(), labels.tolist(), labels.int(), labels.numpy().astype(np.int32)):
        assert kd_loss(student, teacher, other, 2.0, 0.5).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"labels": "float"}, TypeError, "integer class indices"),
        ({"labels": "bool"}, TypeError, "integer class indices"),
        ({"student": "numpy"}, TypeError, "torch tensor"),
        ({"student": "int"}, TypeError, "floating-point"),
        ({"student": "1-D"}, ValueError, r"logits\[None, :\]"),
        ({"student": "empty"}, ValueError, "empty batch"),
        ({"T": "2"}, TypeError, "must be a number"),
        ({"T": [1.0, 2.0]}, ValueError, "one per student"),
        ({"T": float("inf")}, ValueError, "finite"),
        ({"T": 1e20}, ValueError, "too large"),
        ({"teacher": "nan"}, ValueError, "nan"),
        ({"teacher": "all -inf"}, ValueError, "all -inf"),
    ],
)
def test_bad_input_is_refused_with_a_reason(batch, change, error, message):
    student, teacher, labels = batch
    T, alpha = 2.0, 0.5
    kind = next(iter(change.values()))
    if "labels" in change:
        labels = labels.double() if kind == "float" else labels > 4
    elif "student" in change:
        student = {
            "numpy": student.numpy(),
            "int": student.long(),
            "1-D": student[0],
            "empty": student[:0],
        }[kind]
        if kind in ("1-D", "empty"):
            teacher = teacher[0] if kind == "1-D" else teacher[:0]
            labels = labels[0] if kind == "1-D" else labels[:0]
    elif "teacher" in change:
        teacher = teacher.clone()
        teacher[2] = float("nan") if kind == "nan" else float("-inf")
    else:
        T = kind
    with pytest.raises(error, match=message):
        kd_loss(student, teacher, labels, T, alpha)


@pytest.mark.parametrize("T", [1e3, 2e3, 1e5])
def test_float32_temperatures_up_to_the_limit_never_give_nan(batch, T):
    student, teacher, labels = batch
    if T > 1e3:
        with pytest.raises(ValueError, match="too large"):
            kd_loss(student.float(), teacher.float(), labels, T, 0.5)
        assert torch.isfinite(kd_loss(student, teacher, labels, T, 0.5))  # float64 resolves it
    else:
        assert torch.isfinite(kd_loss(student.float(), teacher.float(), labels, T, 0.5))


@given(st.sampled_from(["T", "alpha"]), st.lists(st.floats(0.1, 1.0), max_size=4).filter(lambda v: len(v) != 1))
def test_anything_but_one_number_for_a_single_student_is_refused(name, values):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 4, 10, generator=g)
    args = {"T": 2.0, "alpha": 0.5, name: values}
    with pytest.raises(ValueError, match=rf"{name} must be one number"):
        kd_loss(student, teacher, torch.tensor([0, 1, 2, 3]), **args)


@pytest.mark.parametrize("labels", [["1"] * 8, [1, None] + [0] * 6, np.array(["a"] * 8)])
def test_labels_that_are_not_integers_are_a_type_error(batch, labels):
    student, teacher, _ = batch
    with pytest.raises(TypeError, match="labels must be integer class indices"):
        kd_loss(student, teacher, labels, 2.0, 0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_temperatures_below_the_smallest_whose_square_is_normal_are_refused(batch, dtype):
    student, teacher, labels = (t.to(dtype) if t.is_floating_point() else t for t in batch)
    smallest = torch.finfo(dtype).tiny ** 0.5
    assert torch.isfinite(kd_loss(student, teacher, labels, smallest * 1.01, 0.5))
    assert kd_loss(student, teacher, labels, smallest * 1.01, 1.0) > 0  # the soft term is still there
    with pytest.raises(ValueError, match=f"too small for {str(dtype)[6:]}"):
        kd_loss(student, teacher, labels, smallest / 2, 0.5)


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_logits_that_overflow_float32_when_divided_by_T_are_refused_naming_the_cause(batch, who):
    student, teacher, labels = (t.float() if t.is_floating_point() else t for t in batch)
    if who == "teacher":
        teacher = teacher * 1e30
    else:
        student = student * 1e30
    with pytest.raises(
        ValueError, match=f"{who} logits (up to|spread over) .* divided by T = 1e-08 exceed the largest float32"
    ):
        kd_loss(student, teacher, labels, 1e-8, 0.5)
    assert torch.isfinite(kd_loss(student.double(), teacher.double(), labels, 1e-8, 0.5))


@pytest.mark.parametrize("who", ["teacher", "student"])
def test_logits_whose_spread_in_a_row_overflows_float32_are_refused(who):
    wide = torch.tensor([[3e38, -3e38, 0.0]])  # each logit fits float32, their difference does not
    calm = torch.tensor([[1.0, 2.0, 3.0]])
    student, teacher = (calm, wide) if who == "teacher" else (wide, calm)
    for alpha in (0.0, 0.5, 1.0):
        with pytest.raises(ValueError, match=f"{who} logits spread over 6e\\+38 in one row"):
            kd_loss(student, teacher, torch.tensor([0]), 1.0, alpha)


def test_the_hard_term_reads_student_logits_at_T_1_so_a_high_T_does_not_excuse_their_spread():
    student = torch.tensor([[3e38, -3e38, 0.0]])
    teacher = torch.tensor([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="hard term reads them at T = 1"):
        kd_loss(student, teacher, torch.tensor([0]), 4.0, 0.0)


def test_a_weight_of_zero_drops_a_term_that_overflowed_instead_of_giving_nan():
    student = torch.tensor([[1.4e38, -1e30, 0.0]])  # fits at T = 1; T^2 KL at T = 4 overflows float32
    teacher = torch.tensor([[1.0, 2.0, 3.0]])
    labels = torch.tensor([0])
    T, zero, half = torch.tensor(4.0), torch.tensor(0.0), torch.tensor(0.5)
    assert distillation_loss(student, teacher, labels, T, zero).item() == 0.0  # the float32 training loss
    assert torch.isinf(distillation_loss(student, teacher, labels, T, half))
    assert kd_loss(student, teacher, labels, 4.0, 0.0).item() == F.cross_entropy(student, labels).item() == 0.0
    with pytest.raises(ValueError, match="the loss exceeds the largest float32 number"):
        kd_loss(student, teacher, labels, 20.0, 0.5)
    assert torch.isfinite(kd_loss(student.double(), teacher.double(), labels, 20.0, 0.5))


@pytest.mark.parametrize(("classes", "scale", "T"), [(10, 0.3, 300), (10, 0.3, 1000), (100, 1.0, 1000)])
def test_float32_inputs_get_the_float64_loss_even_at_the_largest_temperatures(classes, scale, T):
    g = torch.Generator().manual_seed(1)
    student, teacher = (torch.randn(64, classes, generator=g).mul(scale) for _ in range(2))
    low = kd_loss(student, teacher, None, T, 1.0)
    exact = kd_loss(student.double(), teacher.double(), None, T, 1.0)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(exact.item(), rel=1e-6)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda z: z * float("nan"), "diverged"),
        (lambda z: torch.where(torch.arange(10) == 3, float("inf"), z), "diverged"),
        (lambda z: torch.full_like(z, float("-inf")), "all -inf"),
        (lambda z: torch.where(torch.arange(10) == 1, float("-inf"), z), "rule a class out"),
    ],
)
def test_student_logits_that_make_the_loss_nan_or_infinite_are_refused_with_the_reason(batch, change, words):
    student, teacher, labels = batch
    with pytest.raises(ValueError, match=words):
        kd_loss(change(student), teacher, labels, 2.0, 0.5)


def test_a_minus_inf_student_logit_where_the_teacher_and_label_agree_on_zero_is_allowed(batch):
    student, teacher, labels = batch
    labels = labels.clamp(min=1)
    student, teacher = (torch.where(torch.arange(10) == 0, float("-inf"), t) for t in (student, teacher))
    assert torch.isfinite(kd_loss(student, teacher, labels, 2.0, 0.5))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint64, np.int32])
def test_numpy_integer_labels_of_any_width_give_the_int64_loss(batch, dtype):
    student, teacher, labels = batch
    expected = kd_loss(student, teacher, labels, 2.0, 0.5)
    assert kd_loss(student, teacher, labels.numpy().astype(dtype), 2.0, 0.5).item() == expected.item()


def test_logits_without_two_classes_and_ragged_labels_get_their_own_message(batch):
    student, teacher, labels = batch
    with pytest.raises(ValueError, match="at least two classes"):
        kd_loss(student[:, :0], teacher[:, :0], labels, 2.0, 0.5)  # was 'a row of teacher logits is all -inf'
    with pytest.raises(TypeError, match="flat list of integer class indices"):
        kd_loss(student[:2], teacher[:2], [[1, 2], [3]], 2.0, 0.5)
