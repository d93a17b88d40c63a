"""The distillation loss (torch).

    loss = alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1)

p_T = softmax(teacher_logits / T), q_T = softmax(student_logits / T). The T^2 keeps the soft
term's gradient, (q_T - p_T) / T per logit, from shrinking like 1/T^2 as T grows.

``kd_loss`` checks its inputs (``kdviz._checks.kd_loss_inputs``) and calls ``distillation_loss``,
the unchecked computation that the training loop calls once per step after checking everything once.
"""

import torch
import torch.nn.functional as F

from .. import _checks


def kd_loss(student_logits, teacher_logits, labels, T, alpha):
    """alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(labels, q_1), both averaged over the batch.

    ``student_logits`` is (N, C), or (K, N, C) for K stacked students, in which case ``T`` and
    ``alpha`` may hold one value per student and one loss per student is returned.
    ``teacher_logits`` is (N, C), or (K, N, C) when each student sees its own batch; ``labels`` is
    (N,) or (K, N). ``labels=None`` means an unlabeled transfer set: the soft term alone, so alpha
    must be 1. The loss is computed in float64 and returned in float32 (half and float32 inputs) or float64.
    """
    z, v, labels, T, alpha = _checks.kd_loss_inputs(student_logits, teacher_logits, labels, T, alpha)
    # in float64: at high T the soft term T^2 KL is a small difference of nearly equal log-probabilities that
    # float32 rounding would swamp; returned in the inputs' precision, gradients flowing back through the cast
    loss = distillation_loss(z.double(), v.double(), labels, T, alpha).to(compute_dtype(z))
    return _checks.finite_loss(loss, z)


def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    """alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(labels, q_1), each averaged over the batch; no checks.

    student_logits (N, C) or (K, N, C); teacher_logits and labels broadcast against them ((N, C) or
    (K, N, C), and (N,) or (K, N)); T and alpha are scalars or (K,) tensors. labels=None: soft term alone.
    Computed in float32 at least; a -inf teacher logit is a class of probability 0 and adds nothing. The teacher is
    a fixed target: no gradient flows into teacher_logits.
    """
    dtype = compute_dtype(student_logits)
    z, v = student_logits.to(dtype), teacher_logits.detach().to(dtype)
    T_view = T.view(-1, 1, 1) if T.dim() else T
    log_q = F.log_softmax(z / T_view, dim=-1)
    log_p = F.log_softmax(v / T_view, dim=-1)
    p = log_p.exp()
    zero = torch.zeros((), dtype=dtype, device=z.device)
    kl = torch.where(p > 0, p * (log_p - log_q), zero).sum(-1).mean(-1)  # KL(p || q) with 0 log 0 = 0
    soft = T**2 * kl
    if labels is None:
        return soft
    n_classes = z.shape[-1]
    labels = labels.expand(z.shape[:-1])
    hard = F.cross_entropy(z.reshape(-1, n_classes), labels.reshape(-1), reduction="none")
    hard = hard.view(z.shape[:-1]).mean(-1)
    zero_weight = torch.zeros_like(soft)
    # a weight of 0 drops its term, even one that overflowed (0 * inf would be nan)
    return torch.where(alpha > 0, alpha * soft, zero_weight) + torch.where(alpha < 1, (1 - alpha) * hard, zero_weight)


def compute_dtype(logits):
    """The precision of the loss: float32 for half, bfloat16 and float32 logits; float64 stays float64."""
    return torch.float64 if logits.dtype == torch.float64 else torch.float32
