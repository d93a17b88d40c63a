import numpy as np
import pytest

from kdviz import dq_dT, expected_logit, logit_matching_grad, random_logits, soft_ce_grad, softmax, turning_temperature
from kdviz.verify import (
    chain_rule_errors,
    class_motions,
    dq_dT_errors,
    expected_logit_slope_errors,
    high_T_step_errors,
    kl_ce_gradient_gap,
    log_mean_exp_bound,
    logit_matching_loss_grad_error,
    one_over_n_rule_check,
    paper_high_T_step,
    writeup_high_T_step,
)


def test_dq_dT_table_shows_agreement():
    for _T, finite_error, autograd_error in dq_dT_errors(random_logits(6, seed=3), [0.3, 1.0, 30.0]):
        assert finite_error < 1e-8 and autograd_error < 1e-12


def test_each_chain_rule_step_matches_autograd():
    errors = chain_rule_errors(random_logits(8, seed=1), random_logits(8, seed=2), 3.0)
    assert len(errors) == 3 and max(errors.values()) < 1e-14


def test_kl_and_cross_entropy_give_the_student_the_same_gradient():
    z, v = np.stack([random_logits(5, seed=s) for s in range(3)]), np.stack([random_logits(5, seed=9)] * 3)
    assert kl_ce_gradient_gap(z, v, 2.0) < 1e-15


def test_expected_logit_falls_at_minus_the_variance_over_T_squared():
    for _T, finite, formula, relative in expected_logit_slope_errors(random_logits(6, seed=4), [0.2, 1.0, 5.0, 50.0]):
        assert formula < 0 and relative < 1e-8 and finite == pytest.approx(formula, rel=1e-8)


def test_sign_rule_check_would_see_a_wrong_rule():
    """The check compares slopes measured from softmax alone: a broken E_q would show up."""
    z = random_logits(7, seed=0)
    T = np.geomspace(1e-2, 1e3, 300)[:, None]
    slopes = (softmax(z, T * (1 + 1e-5)) - softmax(z, T * (1 - 1e-5))) / (2e-5 * T)
    one_over_n_rule = 1 / len(z) - softmax(z, T)  # "rising exactly when below 1/n": wrong
    assert (np.sign(slopes) != np.sign(one_over_n_rule)).any()


def test_class_motions_match_the_sign_analysis():
    z = np.array([0.0, 0.0, 0.0, 0.0, 10.0, 10.5])
    rows = {i: (motion, t_star) for i, _z, motion, t_star in class_motions(z)}
    assert rows[5][0] == "always falls" and rows[0][0] == "always rises"
    assert rows[4][1] == pytest.approx(turning_temperature(z, 4)) and f"{rows[4][1]:.4f}" in rows[4][0]
    assert [i for i, *_ in class_motions(z)][:2] == [5, 4]  # largest logit first


def test_below_one_over_n_means_rising_but_not_the_converse():
    facts = one_over_n_rule_check(n_vectors=400, seed=1)
    assert facts["points with q_i < 1/n"] > 10_000 and facts["  of them falling (the true half says 0)"] == 0
    assert facts["  of them still rising (the converse fails)"] > 0
    assert facts["min of E_q[z] - T log mean exp(z/T) (>= 0)"] >= 0
    assert facts["most crossings of 1/n by one curve"] == 1


def test_the_convexity_bound_is_where_q_crosses_one_over_n():
    """q_i < 1/n exactly for the logits below T log mean_j exp(z_j/T), and E_q[z] lies above that level."""
    z = random_logits(9, seed=2)
    for T in (0.3, 1.0, 4.0, 30.0):
        level = log_mean_exp_bound(z, T)
        np.testing.assert_array_equal(softmax(z, T) < 1 / len(z), z < level)
        assert expected_logit(z, T) > level


def test_the_counterexample_is_above_one_over_n_and_still_rising():
    z6 = np.array([0.0, 0.0, 0.0, 0.0, 10.0, 10.5])
    T = 1.0
    assert softmax(z6, T)[4] > 1 / 6 and dq_dT(z6, T)[4] > 0


def test_the_papers_high_temperature_step_converges_and_the_writeup_version_does_not():
    z, v = random_logits(10, seed=1), random_logits(10, seed=2)
    rows = high_T_step_errors(z, v, [1e2, 1e3, 1e4])
    paper = [row[1] for row in rows]
    assert paper[-1] < 1e-3 and paper[0] / paper[-1] == pytest.approx(100, rel=0.05)  # error falls like 1/T
    assert all(row[2] == pytest.approx(1 - 1 / (2 * len(z)), abs=1e-3) for row in rows)  # stuck at 1 - 1/(2N)
    exact, writeup = soft_ce_grad(z, v, 1e4), writeup_high_T_step(z, v, 1e4)
    np.testing.assert_allclose(writeup, exact / (2 * len(z)), rtol=1e-2, atol=1e-3 * np.abs(exact).max() / len(z))
    assert np.abs(paper_high_T_step(z, v, 1e4) - exact).max() < 1e-3 * np.abs(exact).max()


def test_logit_matching_is_the_gradient_of_the_centred_squared_error():
    assert logit_matching_loss_grad_error(random_logits(10, seed=1), random_logits(10, seed=2)) < 1e-14


def test_raw_logit_matching_needs_equal_means_not_zero_means():
    z, v = random_logits(10, seed=1), random_logits(10, seed=2)
    T = 1e4
    for shift_z, shift_v, raw_holds in [(0, 0, True), (5, 5, True), (3, 0, False)]:
        zs, vs = z - z.mean() + shift_z, v - v.mean() + shift_v
        exact = T**2 * soft_ce_grad(zs, vs, T)
        raw = (zs - vs) / len(z)
        centred = T**2 * logit_matching_grad(zs, vs, T)
        raw_error = np.linalg.norm(exact - raw) / np.linalg.norm(raw)
        centred_error = np.linalg.norm(exact - centred) / np.linalg.norm(centred)
        assert centred_error < 2e-4
        assert (raw_error == pytest.approx(centred_error, rel=1e-6)) == raw_holds
