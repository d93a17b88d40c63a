"""Issue #14 for the numpy core: per-class temperatures are refused, extreme temperatures and logits give the
true value (checked against mpmath at high precision) or a ValueError saying it overflows, never NaN or inf,
and entropy refuses anything that is not a probability vector."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kdviz import dq_dT, entropy, expected_logit, logit_matching_grad, soft_ce_grad, softmax, turning_temperature

mpmath = pytest.importorskip("mpmath")
mpf = mpmath.mpf

FLOAT_MAX = np.finfo(np.float64).max
EXTREME_T = [0.0, 5e-324, 1e-310, 1e-300, 1e-170, 1e-3, 1.0, 7.5, 1e170, 1e300, 1e308, FLOAT_MAX, np.inf]
EXTREME_Z = [1e308, -1e308, FLOAT_MAX, -FLOAT_MAX, 1e4, -1e4, 0.0, 1.0, 5e-324, -np.inf]
ONE_T = [softmax, dq_dT, expected_logit]  # f(z, T, axis)
TWO_LOGITS = [soft_ce_grad, logit_matching_grad]  # f(z, v, T, axis)

logit = st.one_of(
    st.floats(-FLOAT_MAX, FLOAT_MAX), st.floats(-50, 50), st.sampled_from(EXTREME_Z)
)  # st.floats excludes NaN and inf only when bounded: both bounds given here


def logit_vectors(n):
    return arrays(np.float64, n, elements=logit).filter(lambda z: np.isfinite(z).any())


logit_vector = logit_vectors(st.integers(1, 6))
logit_pair = st.integers(1, 6).flatmap(lambda n: st.tuples(logit_vectors(n), logit_vectors(n)))
temperature = st.one_of(st.sampled_from(EXTREME_T), st.floats(0, np.inf, allow_nan=False))
positive_temperature = temperature.filter(lambda T: T > 0)


# --- 1. one temperature per row, never one per class -----------------------------------------


def call(f, z, T, axis=-1):
    return f(z, z[::-1] if z.ndim == 1 else np.flip(z, axis), T, axis) if f in TWO_LOGITS else f(z, T, axis)


@pytest.mark.parametrize("f", ONE_T + TWO_LOGITS)
def test_the_issue_example_is_refused_by_every_function(f):
    with pytest.raises(ValueError, match="its own temperature"):
        call(f, np.array([1.0, 3.0, 2.0]), np.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("f", ONE_T + TWO_LOGITS)
@given(n=st.integers(2, 5), rows=st.integers(1, 3), axis=st.sampled_from([0, -1]))
def test_a_temperature_per_class_is_refused_on_the_class_axis(f, n, rows, axis):
    z = np.arange(n * rows, dtype=float).reshape((rows, n) if axis == -1 else (n, rows)) % 3
    per_class = np.linspace(1.0, 2.0, n).reshape((1, n) if axis == -1 else (n, 1))
    with pytest.raises(ValueError, match="its own temperature"):
        call(f, z, per_class, axis)


@pytest.mark.parametrize("f", ONE_T + TWO_LOGITS)
@given(n=st.integers(2, 5), k=st.integers(1, 3), m=st.integers(1, 4))
def test_one_temperature_per_row_matches_a_loop_on_either_class_axis(f, n, k, m):
    rng = np.random.default_rng(n * 100 + k * 10 + m)
    T = rng.uniform(0.5, 5.0, m)
    z = rng.normal(size=n)
    curve = call(f, z[None, :], T[:, None])  # the documented q(T) curve: rows are temperatures
    for row, t in zip(curve, T, strict=True):
        np.testing.assert_allclose(row, call(f, z, t), rtol=1e-14)
    columns = rng.normal(size=(n, k))  # classes on axis 0, T of shape (m, 1, 1): result (m, n, k) or (m, k)
    stacked = call(f, columns, T[:, None, None], axis=0)
    for sheet, t in zip(stacked, T, strict=True):
        np.testing.assert_allclose(sheet, call(f, columns, t, axis=0), rtol=1e-14)


def test_axis_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        softmax([1.0, 2.0], 1.0, axis=2)


# --- 2. extreme temperatures and logits: the true value, or an error saying it overflows -----


def mp_softmax(z, T):
    finite = [mpf(x) for x in z if np.isfinite(x)]
    top = max(finite)
    if T == 0:
        weights = [mpf(x == top) for x in z]
    elif np.isinf(T):
        weights = [mpf(bool(np.isfinite(x))) for x in z]
    else:
        weights = [mpmath.exp((mpf(x) - top) / mpf(T)) if np.isfinite(x) else mpf(0) for x in z]
    total = sum(weights)
    return [w / total for w in weights]


def mp_expected(z, T):
    return sum((q * mpf(x) for q, x in zip(mp_softmax(z, T), z, strict=True) if q != 0), mpf(0))


def mp_dq_dT(z, T):
    """q_i (E_q[z] - z_i) / T^2 with E_q[z] - z_i = sum_j q_j (z_j - z_i): no cancellation against z_i."""
    if T == 0 or np.isinf(T):
        return [mpf(0)] * len(z)
    q = mp_softmax(z, T)
    terms = [[qj * (mpf(zj) - mpf(zi)) for qj, zj in zip(q, z, strict=True) if qj != 0] for zi in z]
    return [qi * sum(gap, mpf(0)) / mpf(T) ** 2 if qi != 0 else mpf(0) for qi, gap in zip(q, terms, strict=True)]


def mp_soft_ce(z, v, T):
    return [(q - p) / mpf(T) for q, p in zip(mp_softmax(z, T), mp_softmax(v, T), strict=True)]


def mp_logit_matching(z, v, T):
    """Needs mpmath.workprec(2200) or so: z and v can be 1e308 and 1e-308 apart, and their means must be exact."""
    n = len(z)
    mean_z, mean_v = sum(mpf(x) for x in z) / n, sum(mpf(x) for x in v) / n
    return [((mpf(a) - mean_z) - (mpf(b) - mean_v)) / (n * mpf(T) ** 2) for a, b in zip(z, v, strict=True)]


def slack(T):
    """What rounding a probability near the smallest subnormal (a few 1e-324) can do to q_i x_i / T."""
    return mpf(1e-317) / mpf(T) if 0 < T < np.inf else mpf(0)


def dq_dT_tolerance(T, exact):
    return 1e-9 * max(abs(x) for x in exact) + slack(T) + mpf(1e-320)


def soft_ce_tolerance(z, v, T):
    """q_i and p_i are good to 1e-13 of themselves (and to a subnormal step); the gradient divides by T."""
    qp = zip(mp_softmax(z, T), mp_softmax(v, T), strict=True)
    return [(1e-11 * (q + p)) / mpf(T) + slack(T) + mpf(1e-320) for q, p in qp]


def check_against(got_or_error, exact, tolerance):
    """got is within tolerance of exact (mpmath; one bound, or one per entry: the error that float64
    rounding of the inputs allows); a ValueError saying it overflows is right only where exact plus
    that tolerance may pass the largest float64."""
    tolerance = tolerance if isinstance(tolerance, list) else [tolerance] * len(exact)
    if isinstance(got_or_error, ValueError):
        reach = max(abs(e) + tol for e, tol in zip(exact, tolerance, strict=True))
        assert reach > mpf(FLOAT_MAX) * (1 - 1e-9), f"{got_or_error} though the result fits"
        assert "larger than float64 can hold" in str(got_or_error)
        return
    got = np.asarray(got_or_error)
    assert np.isfinite(got).all()
    for g, e, tol in zip(got, exact, tolerance, strict=True):
        assert abs(mpf(float(g)) - e) <= tol, (float(g), e, tol)


def outcome(f, *args):
    try:
        return f(*args)
    except ValueError as err:
        return err


@given(logit_vector, temperature)
def test_softmax_expected_logit_and_dq_dT_are_exact_or_refused_at_any_temperature(z, T):
    with mpmath.workprec(200):
        q = softmax(z, T)
        check_against(q, mp_softmax(z, T), mpf(1e-12))
        assert (q[np.isneginf(z)] == 0).all() and q.sum() == pytest.approx(1.0, abs=1e-12)
        scale = max(abs(mpf(x)) for x in z if np.isfinite(x))
        check_against([expected_logit(z, T)], [mp_expected(z, T)], 1e-12 * scale + mpf(1e-323))
        exact = mp_dq_dT(z, T)
        check_against(outcome(dq_dT, z, T), exact, dq_dT_tolerance(T, exact))


@given(logit_pair, positive_temperature)
def test_soft_ce_grad_is_exact_or_refused_at_any_temperature(zv, T):
    z, v = zv
    with mpmath.workprec(200):
        check_against(outcome(soft_ce_grad, z, v, T), mp_soft_ce(z, v, T), soft_ce_tolerance(z, v, T))


finite_logit = logit.filter(np.isfinite)


@given(
    st.integers(1, 6).flatmap(lambda n: st.tuples(*[arrays(np.float64, n, elements=finite_logit)] * 2)),
    positive_temperature,
)
def test_logit_matching_grad_is_exact_or_refused_at_any_temperature(zv, T):
    z, v = zv
    with mpmath.workprec(2200):
        n, size = len(z), np.abs(np.concatenate([z, v])).max()
        tolerance = mpf(1e-12) * mpf(size) / (n * mpf(T) ** 2) + mpf(1e-320)
        check_against(outcome(logit_matching_grad, z, v, T), mp_logit_matching(z, v, T), tolerance)


@pytest.mark.parametrize("T", EXTREME_T)
@pytest.mark.parametrize(
    "z", [[1.0, 3.0, 2.0], [1e308, -1e308], [FLOAT_MAX, -FLOAT_MAX, 0.0], [1e4, -1e4, 0.0, 9999.5, -np.inf]]
)
def test_the_whole_family_on_the_grid_of_the_issue(z, T):
    z = np.array(z)
    v = np.roll(z, 1)
    with mpmath.workprec(200):
        check_against(softmax(z, T), mp_softmax(z, T), mpf(1e-12))
        scale = mpf(np.abs(z[np.isfinite(z)]).max())
        check_against([expected_logit(z, T)], [mp_expected(z, T)], 1e-12 * scale + mpf(1e-323))
        exact = mp_dq_dT(z, T)
        check_against(outcome(dq_dT, z, T), exact, dq_dT_tolerance(T, exact))
        if T > 0:
            check_against(outcome(soft_ce_grad, z, v, T), mp_soft_ce(z, v, T), soft_ce_tolerance(z, v, T))
    with mpmath.workprec(2200):
        if T > 0 and np.isfinite(z).all():
            size = mpf(np.abs(z).max()) / (len(z) * mpf(T) ** 2)
            check_against(outcome(logit_matching_grad, z, v, T), mp_logit_matching(z, v, T), 1e-12 * size + mpf(1e-320))


def test_the_issue_examples():
    assert dq_dT([1.0, 3.0, 2.0], 1e-170).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(softmax([1e308, -1e308], np.inf), [0.5, 0.5])
    np.testing.assert_allclose(softmax([1e308, -1e308], 1e308), [1 / (1 + np.exp(-2)), 1 / (1 + np.exp(2))])
    with pytest.raises(ValueError, match="larger than float64 can hold.*T = 1e-300"):
        logit_matching_grad([1.0, 2.0, 3.0], [0.0, 1.0, 5.0], 1e-300)


def test_exact_limits_are_kept_for_huge_logits():
    z = np.array([1e308, 1e308, -1e308, -np.inf])
    np.testing.assert_array_equal(softmax(z, 0.0), [0.5, 0.5, 0, 0])  # ties share the argmax
    np.testing.assert_array_equal(softmax(z, np.inf), [1 / 3, 1 / 3, 1 / 3, 0])  # uniform over finite logits
    assert expected_logit(z, np.inf) == pytest.approx(1e308 / 3)
    assert expected_logit(z, 0.0) == 1e308
    np.testing.assert_array_equal(dq_dT(z, 0.0), 0.0)
    np.testing.assert_array_equal(dq_dT(z, np.inf), 0.0)


@given(logit_vector.flatmap(lambda z: st.tuples(st.just(z), st.integers(0, z.size - 1))))
def test_turning_temperature_is_exact_none_or_refused_for_any_logits(z_and_class):
    z, i = z_and_class
    try:
        t_star = turning_temperature(z, i)
    except ValueError as err:
        assert "larger than float64 can hold" in str(err)
        with mpmath.workprec(200):  # E_q[z] has not come down to z_i even at the largest float
            scale = mpf(np.abs(z[np.isfinite(z)]).max())
            assert mp_expected(z, FLOAT_MAX) >= mpf(z[i]) - 1e-12 * scale
        return
    with mpmath.workprec(200):
        finite = [mpf(x) for x in z if np.isfinite(x)]
        scale = max(abs(x) for x in finite)
        mean = sum(finite) / len(finite)
        if not np.isfinite(z[i]) or mpf(z[i]) >= max(finite) or mpf(z[i]) < mean - 1e-12 * scale:
            assert t_star is None
        elif mpf(z[i]) > mean + 1e-12 * scale:
            assert t_star is not None and 0 < t_star < np.inf
            assert abs(mp_expected(z, t_star) - mpf(z[i])) <= 1e-9 * scale


@pytest.mark.parametrize("power", [-1000, -500, 0, 500, 1019])
def test_turning_temperature_scales_with_the_logits_to_the_float_limits(power):
    z = np.array([0, 0, 0, 0, 10, 10.5])
    assert turning_temperature(np.ldexp(z, power), 4) == pytest.approx(np.ldexp(2.3961515698960, power), rel=1e-9)


def test_a_turning_temperature_beyond_float64_is_an_error():
    z = np.ldexp(np.array([-1.0, 0.001, 1.0]), 1020)  # T* is about 1000 times the spread
    with pytest.raises(ValueError, match="larger than float64 can hold"):
        turning_temperature(z, 1)


def test_turning_temperature_wants_an_integer_class():
    with pytest.raises(TypeError, match="integer"):
        turning_temperature([1.0, 2.0, 3.0], 1.5)


# --- 3. entropy of probability vectors only ----------------------------------------------------


def test_entropy_refuses_logits_and_says_so():
    with pytest.raises(ValueError, match=r"sum to 1.*sum of 5.*not the logits"):
        entropy([2.0, 3.0])


@given(arrays(np.float64, st.integers(1, 6), elements=st.floats(-2, 2)))
def test_entropy_accepts_exactly_the_probability_vectors(p):
    is_probability = (p >= 0).all() and (p <= 1).all() and abs(p.sum() - 1) <= 1e-6
    if is_probability:
        assert 0 <= entropy(p) <= np.log(p.size) + 1e-9
    else:
        with pytest.raises(ValueError, match="q must be probabilit"):
            entropy(p)


@given(arrays(np.float64, (3, 4), elements=st.floats(-30, 30)), st.sampled_from([0, 1, -1]))
def test_entropy_takes_softmax_output_on_any_axis_float32_too(z, axis):
    q = softmax(z, 1.0, axis=axis)
    np.testing.assert_allclose(entropy(q, axis=axis), entropy(q.astype(np.float32), axis=axis), atol=1e-5)
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(q, axis=1 - axis if axis in (0, 1) else 0)  # along the other axis the sums are not 1


@pytest.mark.parametrize(
    "q, message",
    [
        ([0.5, -0.5], "negative"),
        ([0.5, np.nan], "NaN"),
        ([np.inf, 0.0], "in \\[0, 1\\]"),
        ([0.3, 0.3], "sum of 0.6"),
        (0.5, "scalar"),
        (np.zeros((2, 0)), "empty"),
    ],
)
def test_entropy_names_what_is_wrong(q, message):
    with pytest.raises(ValueError, match=message):
        entropy(q)


torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.tensor([1.0, 3.0, 2.0], requires_grad=True),  # straight from a model
        lambda: torch.tensor([1.0, 3.0, 2.0], dtype=torch.bfloat16),
        lambda: torch.tensor([1.0, 3.0, 2.0], dtype=torch.float16),
        lambda: torch.tensor([1, 3, 2]),
        lambda: np.array([1, 3, 2], dtype=np.int8),
    ],
)
def test_the_core_reads_tensors_of_any_dtype_with_or_without_grad(make):
    np.testing.assert_allclose(softmax(make(), 2.0), softmax([1.0, 3.0, 2.0], 2.0), rtol=1e-15)
    np.testing.assert_allclose(dq_dT(make(), torch.tensor(2.0)), dq_dT([1.0, 3.0, 2.0], 2.0), rtol=1e-15)


@pytest.mark.parametrize(
    ("z", "T", "words"),
    [
        ("abc", 1.0, "z must be real numbers, got the string 'abc'"),
        ([1.0, None], 1.0, "z must be real numbers"),
        ([True, False], 1.0, "z must be real numbers"),
        ([1.0, 2.0], "2", "temperature T must be real numbers, got the string '2'"),
        ([1.0, 2.0], True, "temperature T must be real numbers, got True"),
        ([1.0, 2.0], None, "temperature T must be real numbers, got None"),
    ],
)
def test_values_that_are_not_real_numbers_are_a_type_error_naming_them(z, T, words):
    with pytest.raises(TypeError, match=words):
        softmax(z, T)


def test_a_bool_axis_is_not_an_axis():
    with pytest.raises(TypeError, match="axis must be an integer"):
        softmax([1.0, 2.0], 1.0, axis=True)
