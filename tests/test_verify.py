import numpy as np
import pytest

from kdviz import random_logits
from kdviz.verify import chain_rule_errors, dq_dT_errors, kl_pitfalls


def test_dq_dT_table_shows_agreement():
    for _T, finite_error, autograd_error in dq_dT_errors(random_logits(6, seed=3), [0.3, 1.0, 30.0]):
        assert finite_error < 1e-8 and autograd_error < 1e-12


def test_each_chain_rule_step_matches_autograd():
    errors = chain_rule_errors(random_logits(8, seed=1), random_logits(8, seed=2), 3.0)
    assert len(errors) == 3 and max(errors.values()) < 1e-14


def test_kl_pitfalls_are_measured_correctly():
    facts = kl_pitfalls(
        np.stack([random_logits(5, seed=s) for s in range(3)]), np.stack([random_logits(5, seed=9)] * 3), 2.0
    )
    assert facts["F.kl_div(log q, p, 'batchmean')"] == pytest.approx(facts["true KL (mean over rows)"])
    assert (
        facts["'batchmean' / 'mean'"] == pytest.approx(facts["number of classes"]) and facts["number of classes"] == 5
    )
    assert facts["F.kl_div(q, p) with probabilities as input (wrong)"] != pytest.approx(
        facts["true KL (mean over rows)"]
    )
    assert facts["max |grad KL - grad CE| (teacher entropy is a constant)"] < 1e-15
