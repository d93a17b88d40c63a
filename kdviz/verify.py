"""Numerical checks the theory notebooks print: the numpy formulas against finite differences
and torch autograd (float64), the rules of notebook 02 on grids and random logits, the paper's
high-temperature step, and the usual F.kl_div pitfalls measured rather than asserted."""

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import logsumexp

from ._checks import logit_vector
from .gradients import logit_matching_grad, soft_ce_grad
from .temperature import dq_dT, expected_logit, softmax, turning_temperature


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


def kl_ce_gradient_gap(student_logits, teacher_logits, T):
    """max |d KL(p || q) / dz - d CE(p, q) / dz| over one batch of logits (N, C), by autograd (float64), with
    p = softmax(v / T), q = softmax(z / T): KL = CE - H(p), and the teacher's entropy H(p) does not depend on z."""
    z, v = _t(student_logits), _t(teacher_logits)
    log_p = F.log_softmax(v / T, -1)

    def grad_of(loss_fn):
        x = z.clone().requires_grad_(True)
        loss_fn(F.log_softmax(x / T, -1)).backward()
        return x.grad

    kl_grad = grad_of(lambda log_q: (log_p.exp() * (log_p - log_q)).sum(-1).mean())
    ce_grad = grad_of(lambda log_q: -(log_p.exp() * log_q).sum(-1).mean())
    return (kl_grad - ce_grad).abs().max().item()


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _central_slope(z, T, rel_step=1e-5):
    """d softmax(z, T)/dT by central differences, on rows of T (shape (len(T), 1)) against z."""
    h = rel_step * T
    return (softmax(z, T + h) - softmax(z, T - h)) / (2 * h)


def expected_logit_slope_errors(logits, temperatures):
    """Rows (T, d/dT E_q[z] by central differences, -Var_q(z)/T^2, their relative difference)."""
    z = np.asarray(logits, dtype=float)
    rows = []
    for T in temperatures:
        h = 1e-5 * T
        finite = (expected_logit(z, T + h) - expected_logit(z, T - h)) / (2 * h)
        q = softmax(z, T)
        variance = q @ (z - q @ z) ** 2
        formula = -variance / T**2
        rows.append((float(T), float(finite), float(formula), float(abs(finite - formula) / abs(formula))))
    return rows


def class_motions(logits):
    """How each q_i moves with T, largest logit first: (class, z_i, sentence, T* or None).

    A -inf logit's q_i stays 0; when all finite logits are equal every q_i stays 1/n."""
    z = logit_vector(logits, "logits")
    finite = z[np.isfinite(z)]
    rows = []
    for i in np.argsort(z, kind="stable")[::-1]:
        t_star = turning_temperature(z, i)
        if np.isneginf(z[i]):
            motion = "stays at 0 (a -inf logit)"
        elif finite.min() == finite.max():
            motion = f"stays at 1/{finite.size} (all logits equal)"
        elif z[i] == z.max():
            motion = "always falls"
        elif t_star is None:
            motion = "always rises"
        else:
            motion = f"rises, then falls after T* = {t_star:.4f}"
        rows.append((int(i), float(z[i]), motion, t_star))
    return rows


def log_mean_exp_bound(logits, T):
    """T log mean_j exp(z_j/T) for one vector z and any array of T.

    E_q[z] is at least this, and q_i < 1/n exactly where z_i is below it."""
    z, T = np.asarray(logits, dtype=float), np.asarray(T, dtype=float)
    return T * (logsumexp(z / T[..., None], axis=-1) - np.log(z.shape[-1]))


def one_over_n_rule_check(n_vectors=2000, seed=0, n_temperatures=300):
    """Both halves of the 1/n rule, and the crossings of 1/n, on random logit vectors.

    Draws ``n_vectors`` vectors (2 to 12 classes, logit scales 0.1 to 10) and a log grid of T around
    each vector's spread, and counts: points with q_i < 1/n and among them those where q_i falls
    (the true half says none); points with q_i > 1/n that are still rising (the false converse:
    many); the smallest margin E_q[z] - T log mean_j exp(z_j/T) (>= 0 by convexity); the most times
    one curve crosses 1/n (at most once).
    """
    rng = np.random.default_rng(seed)
    below = below_falling = above = above_rising = 0
    margin, crossings = np.inf, 0
    for _ in range(n_vectors):
        n = int(rng.integers(2, 13))
        z = rng.normal(scale=np.exp(rng.uniform(np.log(0.1), np.log(10.0))), size=n)
        spread = z.max() - z.min()
        T = np.geomspace(spread / 100, spread * 100, n_temperatures)[:, None]
        q = softmax(z[None, :], T)
        E = q @ z
        rising = E[:, None] > z[None, :]
        gap = q - 1 / n
        clear = np.abs(gap) > 1e-9 / n  # leave out points that rounding puts on either side of 1/n
        below += int((clear & (gap < 0)).sum())
        below_falling += int((clear & (gap < 0) & ~rising).sum())
        above += int((clear & (gap > 0)).sum())
        above_rising += int((clear & (gap > 0) & rising).sum())
        margin = min(margin, float((E - log_mean_exp_bound(z, T[:, 0])).min()))
        for i in range(n):
            signs = np.sign(gap[clear[:, i], i])
            crossings = max(crossings, int((np.diff(signs) != 0).sum()))
    return {
        "random logit vectors": n_vectors,
        "points with q_i < 1/n": below,
        "  of them falling (the true half says 0)": below_falling,
        "points with q_i > 1/n": above,
        "  of them still rising (the converse fails)": above_rising,
        "min of E_q[z] - T log mean exp(z/T) (>= 0)": margin,
        "most crossings of 1/n by one curve": crossings,
    }


def paper_high_T_step(student_logits, teacher_logits, T):
    """The paper's high-temperature step, from e^x ~ 1 + x:
    dC/dz_i ~ (1/T) ((1 + z_i/T)/(N + sum_j z_j/T) - (1 + v_i/T)/(N + sum_j v_j/T))."""
    z, v = np.asarray(student_logits, float), np.asarray(teacher_logits, float)
    n = z.shape[-1]
    return ((1 + z / T) / (n + z.sum() / T) - (1 + v / T) / (n + v.sum() / T)) / T


def writeup_high_T_step(student_logits, teacher_logits, T):
    """A seed write-up's version, which keeps e^{z_i/T} instead of expanding it (wrong):
    (1/(NT)) ((1 + e^{z_i/T})/(N + sum_j e^{z_j/T}) - (1 + e^{v_i/T})/(N + sum_j e^{v_j/T}))."""
    z, v = np.asarray(student_logits, float), np.asarray(teacher_logits, float)
    n = z.shape[-1]
    ez, ev = np.exp(z / T), np.exp(v / T)
    return ((1 + ez) / (n + ez.sum()) - (1 + ev) / (n + ev.sum())) / (n * T)


def high_T_step_errors(student_logits, teacher_logits, temperatures):
    """Rows (T, relative error of the paper's step, of the write-up's e^{z/T} version, of the centred
    limit (logit matching)), each against the exact gradient soft_ce_grad = (q - p)/T."""
    z, v = np.asarray(student_logits, float), np.asarray(teacher_logits, float)
    rows = []
    for T in temperatures:
        exact = soft_ce_grad(z, v, T)
        rows.append(
            (
                float(T),
                _relative(paper_high_T_step(z, v, T), exact),
                _relative(writeup_high_T_step(z, v, T), exact),
                _relative(logit_matching_grad(z, v, T), exact),
            )
        )
    return rows


def logit_matching_loss_grad_error(student_logits, teacher_logits):
    """max |autograd of (1/2N) sum_i ((z_i - mean z) - (v_i - mean v))^2 - T^2 logit_matching_grad| (any T)."""
    z = _t(student_logits).requires_grad_(True)
    v = _t(teacher_logits)
    loss = (((z - z.mean()) - (v - v.mean())) ** 2).sum() / (2 * len(z))
    loss.backward()
    T = 10.0
    return float(np.abs(z.grad.numpy() - T**2 * logit_matching_grad(student_logits, teacher_logits, T)).max())


def loglog_slope(x, y):
    """Slope of the least-squares line through (log x, log y)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
