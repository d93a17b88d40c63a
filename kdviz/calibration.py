"""Calibration: do a model's probabilities mean what they say? (Guo et al. 2017, temperature scaling)

numpy and scipy only. A model is *calibrated* when, among the examples it gives confidence c, a fraction c is
right. Temperature scaling divides every logit by one T > 0 fitted on held-out data; T leaves the argmax, and so
the accuracy, unchanged and only makes the probabilities honest. It is not the T of distillation.
"""

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp

from ._checks import PROBABILITY_SUM_TOLERANCE, count, label_array, logit_batch, plot_temperature
from ._checks import probabilities as probabilities_checked
from .temperature import expected_logit

LOG_T_LIMIT = 700.0  # the search for T stays within exp(+-700), inside float64


def reliability(probabilities, labels, n_bins=15):
    """Per confidence bin: (mean confidence, accuracy, number of examples); NaN for empty bins.

    Confidence is the largest probability of a row, the prediction its argmax. The bins split [0, 1] into
    n_bins equal widths; bin b holds edges[b] < confidence <= edges[b + 1] (bin 0 also holds 0).
    """
    p = probabilities_checked(probabilities, tolerance=PROBABILITY_SUM_TOLERANCE, name="probabilities", rows=True)
    y = label_array(labels, p.shape[1], len(p))
    n_bins = count(n_bins, "n_bins")
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    sizes = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, confidence, n_bins) / sizes
        accuracy = np.bincount(bins, correct, n_bins) / sizes
    return mean_confidence, accuracy, sizes


def expected_calibration_error(probabilities, labels, n_bins=15):
    """ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)| over n_bins equal-width confidence bins (0 = calibrated)."""
    confidence, accuracy, sizes = reliability(probabilities, labels, n_bins)
    used = sizes > 0
    return float(np.sum(sizes[used] / sizes.sum() * np.abs(accuracy[used] - confidence[used])))


def mean_nll(logits, labels, T=1.0):
    """Mean negative log-likelihood of the labels under softmax(logits / T): mean_i -log q_{i, y_i}(T).

    Computed as log sum_j exp(x_j) - x_y with x = (z - max z) / T, so logits of 1e4 stay finite."""
    z, y = _logits_and_labels(logits, labels)
    T = plot_temperature(T, "T")
    x = (z - z.max(axis=1, keepdims=True)) / T
    return float(np.mean(logsumexp(x, axis=1) - x[np.arange(len(z)), y]))


def fit_temperature(logits, labels):
    """The one T > 0 that minimises the mean NLL of softmax(logits / T) on (logits, labels) (Guo et al. 2017).

    dNLL/dT = mean_i (z_{i, y_i} - E_{q_i(T)}[z_i]) / T^2, and E_q[z] falls strictly from max z to mean z as T
    grows, so the numerator rises from mean(z_y - max z) to mean(z_y - mean z) and has exactly one root when
    the first is < 0 and the second > 0 (solved by brentq on log T). Otherwise a ValueError says why no finite
    T minimises the NLL: every row's logits are equal (the NLL is log C at every T), no example is misclassified
    (it keeps falling as T -> 0), or the labels' logits lie on average at or below the mean logit (it keeps
    falling as T -> inf).
    """
    z, y = _logits_and_labels(logits, labels)
    label_logit = z[np.arange(len(z)), y]
    if (z.max(axis=1) == z.min(axis=1)).all():
        raise ValueError(
            "every example's logits are all equal, so its probabilities are 1/C at every T and the NLL is log C "
            "whatever T is: no temperature is better than another (fit T on the logits of a trained model)"
        )
    if np.mean(label_logit - z.max(axis=1)) >= 0:
        raise ValueError(
            "every example's label already has the largest logit, so the NLL keeps falling as T -> 0: "
            "no finite temperature minimises it (fit T on held-out data that the model gets wrong sometimes)"
        )
    if np.mean(label_logit - z.mean(axis=1)) <= 0:
        raise ValueError(
            "the labels' logits are on average at or below the mean logit (no better than uniform guessing), so "
            "the NLL keeps falling as T -> inf: no finite temperature minimises it"
        )

    def slope_numerator(log_T):  # T^2 dNLL/dT: rises from below 0 (T -> 0) to above 0 (T -> inf)
        return float(np.mean(label_logit - expected_logit(z, np.exp(log_T))))

    low = high = 0.0
    while slope_numerator(low) > 0 and low > -LOG_T_LIMIT:
        low -= 4.0
    while slope_numerator(high) < 0 and high < LOG_T_LIMIT:
        high += 4.0
    if slope_numerator(low) > 0 or slope_numerator(high) < 0:
        raise ValueError("the best temperature lies beyond exp(+-700), outside float64: check the logits")
    return float(np.exp(brentq(slope_numerator, low, high, xtol=1e-15, rtol=4 * np.finfo(float).eps)))


def _logits_and_labels(logits, labels):
    """Finite (N, C) logits, N >= 1 and C >= 2, and one integer label per row."""
    z = logit_batch(logits, "logits", min_classes=2, allow_neg_inf=False)
    return z, label_array(labels, z.shape[1], len(z))
