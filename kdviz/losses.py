"""The distillation loss (torch).

    loss = alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1)

p_T = softmax(teacher_logits / T), q_T = softmax(student_logits / T). The T^2 keeps the soft
term's gradient, (q_T - p_T) / T per logit, from shrinking like 1/T^2 as T grows.
"""

import torch
import torch.nn.functional as F


def _per_student(value, name, like):
    """A scalar or one value per stacked student, shaped to broadcast over (K, N)."""
    leading = like.shape[:-2]
    value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if value.dim() == 0:
        return value
    if value.dim() != 1 or len(leading) != 1 or value.shape[0] != leading[0]:
        raise ValueError(f"{name} must be a scalar or hold one value per student {tuple(leading)}")
    return value.view(-1, 1)


def kd_loss(student_logits, teacher_logits, labels, T, alpha):
    """alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(labels, q_1), both averaged over the batch.

    ``student_logits`` is (N, C), or (K, N, C) for K stacked students, in which case ``T`` and
    ``alpha`` may hold one value per student and one loss per student is returned.
    ``teacher_logits`` is (N, C). ``labels=None`` means an unlabeled transfer set: the soft term
    T^2 * KL alone.
    """
    if student_logits.shape[-2:] != teacher_logits.shape:
        raise ValueError(
            f"student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} must end in the same (batch, classes) shape"
        )
    T_, alpha_ = _per_student(T, "T", student_logits), _per_student(alpha, "alpha", student_logits)
    if not torch.isfinite(T_).all() or (T_ <= 0).any():
        raise ValueError(f"temperature T must be a finite number > 0, got {T}")
    if torch.isnan(alpha_).any() or (alpha_ < 0).any() or (alpha_ > 1).any():
        raise ValueError(f"alpha weights the soft term and must lie in [0, 1], got {alpha}")

    T_view = T_.unsqueeze(-1) if T_.dim() else T_
    log_q = F.log_softmax(student_logits / T_view, dim=-1)
    log_p = F.log_softmax(teacher_logits / T_view, dim=-1)
    kl = F.kl_div(log_q, log_p.expand_as(log_q), reduction="none", log_target=True).sum(-1).mean(-1)
    soft = T_.squeeze(-1) ** 2 * kl
    if labels is None:
        return soft
    if labels.shape != student_logits.shape[-2:-1]:
        raise ValueError(f"labels {tuple(labels.shape)} must hold one class per row of the batch")
    n_classes = student_logits.shape[-1]
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}")
    flat = student_logits.reshape(-1, n_classes)
    hard = F.cross_entropy(flat, labels.repeat(flat.shape[0] // labels.shape[0]), reduction="none")
    hard = hard.view(student_logits.shape[:-1]).mean(-1)
    a = alpha_.squeeze(-1)
    return a * soft + (1 - a) * hard
