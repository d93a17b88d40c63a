"""Numerical checks the theory notebooks print: the numpy formulas against finite differences
and torch autograd (float64), and the usual F.kl_div pitfalls measured rather than asserted."""

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .gradients import soft_ce_grad
from .temperature import dq_dT, softmax


def _t(array):
    return torch.tensor(np.asarray(array, dtype=float), dtype=torch.float64)


def dq_dT_errors(logits, temperatures, step=1e-6):
    """Rows (T, max |formula - central difference|, max |formula - autograd|) for each T."""
    rows = []
    z = np.asarray(logits, dtype=float)
    for T in temperatures:
        formula = dq_dT(z, T)
        h = step * T
        finite = (softmax(z, T + h) - softmax(z, T - h)) / (2 * h)
        autograd = torch.autograd.functional.jacobian(lambda t: torch.softmax(_t(z) / t, -1), _t(T)).numpy()
        rows.append((float(T), np.abs(formula - finite).max(), np.abs(formula - autograd).max()))
    return rows


def softmax_jacobian(logits, T):
    """dq/dz = (diag(q) - q q^T) / T."""
    q = softmax(logits, T)
    return (np.diag(q) - np.outer(q, q)) / T


def chain_rule_errors(student_logits, teacher_logits, T):
    """Max errors of each step of dC/dz = J^T dC/dq = (q - p)/T against torch autograd."""
    z, v = np.asarray(student_logits, float), np.asarray(teacher_logits, float)
    q, p = softmax(z, T), softmax(v, T)
    jacobian = torch.autograd.functional.jacobian(lambda x: torch.softmax(x / T, -1), _t(z)).numpy()
    dC_dq = -p / q
    z_t = _t(z).requires_grad_(True)
    loss = -(_t(p) * torch.log_softmax(z_t / T, -1)).sum()
    loss.backward()
    return {
        "softmax Jacobian (diag(q) - q q^T)/T": np.abs(softmax_jacobian(z, T) - jacobian).max(),
        "J^T dC/dq against (q - p)/T": np.abs(softmax_jacobian(z, T).T @ dC_dq - (q - p) / T).max(),
        "(q - p)/T against autograd of C": np.abs(soft_ce_grad(z, v, T) - z_t.grad.numpy()).max(),
    }


def kl_pitfalls(student_logits, teacher_logits, T):
    """Measured facts about F.kl_div for one batch of logits (N, C): each value is computed here."""
    z, v = _t(student_logits), _t(teacher_logits)
    n_rows, n_classes = z.shape
    log_q, log_p = F.log_softmax(z / T, -1), F.log_softmax(v / T, -1)
    true_kl = (log_p.exp() * (log_p - log_q)).sum(-1).mean()

    def grad_of(loss_fn):
        x = z.clone().requires_grad_(True)
        loss_fn(F.log_softmax(x / T, -1)).backward()
        return x.grad

    kl_grad = grad_of(lambda lq: (log_p.exp() * (log_p - lq)).sum(-1).mean())
    ce_grad = grad_of(lambda lq: -(log_p.exp() * lq).sum(-1).mean())
    batchmean = F.kl_div(log_q, log_p.exp(), reduction="batchmean")
    with warnings.catch_warnings():  # torch warns about exactly the pitfall measured here
        warnings.simplefilter("ignore", UserWarning)
        mean = F.kl_div(log_q, log_p.exp(), reduction="mean")
    return {
        "true KL (mean over rows)": true_kl.item(),
        "F.kl_div(log q, p, 'batchmean')": batchmean.item(),
        "F.kl_div(log q, p, 'mean')": mean.item(),
        "'batchmean' / 'mean'": (batchmean / mean).item(),
        "number of classes": n_classes,
        "F.kl_div(q, p) with probabilities as input (wrong)": F.kl_div(
            log_q.exp(), log_p.exp(), reduction="batchmean"
        ).item(),
        "max |grad KL - grad CE| (teacher entropy is a constant)": (kl_grad - ce_grad).abs().max().item(),
        "rows": n_rows,
    }
