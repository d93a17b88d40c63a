"""kdviz.language_models: the losses against their formulas, the students against the optima the formulas predict
(forward KL: the teacher's distributions averaged; reverse KL: their geometric mean), seeding, the two-mode toy, and
the sentences. The teacher is the source itself, smoothed (no teacher is trained, but in the one test about training
one)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdviz import language as L
from kdviz import language_models as lm
from kdviz.noise import QUICK_MODE_NOTE
from kdviz.temperature import kl_divergence, softmax

TEACHER = np.log(0.97 * L.truth_table() + 0.03 / L.N_SYMBOLS)  # the source, every symbol a little possible
QUICK = lm.StudentSpec(steps=60, rounds=3)


def test_a_teacher_trained_on_the_source_comes_close_to_it():
    teacher, data = lm.train_teacher(1000, seed=0, steps=200)
    measured = lm.measure(lm.logit_table(teacher))
    assert measured["kl"] < 0.05 and measured["valid"] > 97 and data.counts[0].sum() == 1000
    small = [lm.logit_table(lm.train_teacher(100, seed=1, hidden=8, steps=10)[0]) for _ in range(2)]
    np.testing.assert_array_equal(*small)  # seeded


def test_the_soft_loss_is_T_squared_times_the_weighted_kl_each_way():
    rng = np.random.default_rng(0)
    student, weights, T = rng.normal(size=TEACHER.shape), rng.integers(0, 5, L.N_CONTEXTS).astype(float), 3.0
    as_tensor = torch.as_tensor
    forward = lm.soft_loss(as_tensor(weights), as_tensor(TEACHER), T, "forward")(as_tensor(student))
    reverse = lm.soft_loss(as_tensor(weights), as_tensor(TEACHER), T, "reverse")(as_tensor(student))
    assert float(forward) == pytest.approx(T**2 * weights @ kl_divergence(TEACHER, student, T) / weights.sum())
    assert float(reverse) == pytest.approx(T**2 * weights @ kl_divergence(student, TEACHER, T) / weights.sum())


def test_the_hard_loss_is_the_mean_cross_entropy_over_every_position():
    written = L.sample_strings(softmax(TEACHER), 40, seed=0)
    contexts, symbols = np.nonzero(written.counts)
    repeats = written.counts[contexts, symbols].astype(int)
    positions, targets = np.repeat(contexts, repeats), np.repeat(symbols, repeats)
    logits = torch.as_tensor(np.random.default_rng(1).normal(size=TEACHER.shape))
    expected = F.cross_entropy(logits[positions], torch.as_tensor(targets))
    assert float(lm.hard_loss(torch.as_tensor(written.counts))(logits)) == pytest.approx(float(expected))


def last_letter_groups():
    """{code of a last symbol: the contexts that end with it}: what a student reading one symbol cannot tell apart."""
    groups = {}
    for s, context in enumerate(L.CONTEXTS):
        groups.setdefault(context[1], []).append(s)
    return groups


@pytest.mark.parametrize("method", ["forward", "reverse"])
def test_a_student_reading_one_letter_reaches_the_optimum_of_its_kl(method):
    """Forward KL: q(.|a) = sum_s n(s) p(.|s) / sum n, the average over the contexts s it cannot tell apart.
    Reverse KL: q(.|a) proportional to exp(sum_s n(s) log p(.|s) / sum n), their geometric mean. The trained
    student's loss comes within 1e-3 nats of the optimum's, and its distributions match it where positions are."""
    spec = lm.StudentSpec(hidden=32, steps=1500, lr=0.01)
    student = lm.logit_table(lm.distil(TEACHER, method, seed=0, n_strings=1000, student=spec))
    weights = L.sample_strings(softmax(TEACHER), 1000, seed=0).counts.sum(axis=1)
    p, optimum = softmax(TEACHER), np.empty_like(TEACHER)
    for rows in last_letter_groups().values():
        w = weights[rows] + 1e-300  # a letter never reached: any distribution is optimal; take the plain mean
        if method == "forward":
            optimum[rows] = w @ p[rows] / w.sum()
        else:
            geometric = np.exp(w @ np.log(p[rows]) / w.sum())
            optimum[rows] = geometric / geometric.sum()
    loss = lm.soft_loss(torch.as_tensor(weights), torch.as_tensor(TEACHER), 1.0, method)
    gap = float(loss(torch.as_tensor(student))) - float(loss(torch.as_tensor(np.log(optimum))))
    assert -1e-9 < gap < 1e-3
    frequent = weights >= 0.02 * weights.sum()
    np.testing.assert_allclose(softmax(student)[frequent], optimum[frequent], atol=0.02)


def test_the_student_of_a_greedy_teacher_writes_its_one_string():
    student = lm.logit_table(lm.distil(TEACHER, "sequence", seed=0, n_strings=200, student=QUICK, sample_T=0.0))
    assert L.greedy_string(softmax(student)) == lm.greedy(TEACHER) == "ba."


def test_students_are_seeded_and_leave_the_callers_random_state_and_threads_alone():
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    for method in lm.METHODS:
        one, again, other = (
            lm.logit_table(lm.distil(TEACHER, method, seed=s, n_strings=100, student=QUICK)) for s in (4, 4, 5)
        )
        np.testing.assert_array_equal(one, again)
        assert not np.array_equal(one, other)
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads


def test_students_measured_over_seeds_and_their_sentences():
    recipes = {"forward KL": {"method": "forward"}, "reverse KL": {"method": "reverse"}}
    students = lm.distil_students(TEACHER, recipes, seeds=(0, 1), n_strings=200, student=QUICK)
    assert set(students.results["forward KL"]) == set(lm.MEASURES)
    assert all(len(values) == 2 for values in students.results["reverse KL"].values())
    table = lm.results_table(students)
    assert "forward KL" in table and "2 seeds each" in table
    with pytest.raises(ValueError, match="seed by seed"):
        students.merged(lm.Students((0, 1, 2), {}, {}))


def fake(results):
    return lm.Students((0, 1, 2), {name: [] for name in results}, results)


def test_the_direction_sentence_follows_the_seed_rule():
    clear = fake(
        {
            "forward KL": {"valid": [77.0, 78.0, 77.5], "rare": [48.0, 50.0, 49.0], "kl": [0.48, 0.48, 0.49]},
            "reverse KL": {"valid": [96.0, 97.0, 96.5], "rare": [15.0, 17.0, 16.0], "kl": [1.7, 1.8, 1.75]},
        }
    )
    *verdicts, summary, note = lm.direction_report(clear)  # under pytest: quick mode, so the note comes last
    assert "As on the two-mode toy" in summary and note == QUICK_MODE_NOTE and len(verdicts) == 3
    mixed = fake(
        {
            "forward KL": {"valid": [77.0, 90.0, 80.0], "rare": [48.0, 50.0, 49.0], "kl": [0.48, 0.48, 0.49]},
            "reverse KL": {"valid": [85.0, 86.0, 84.0], "rare": [15.0, 17.0, 16.0], "kl": [1.7, 1.8, 1.75]},
        }
    )
    last = lm.direction_report(mixed)[-2]
    assert "does not show" in last and "valid strings favour neither" in last and "favours forward KL" in last
    jobs = fake(
        {
            "forward KL": {"valid": [77.0, 78.0, 77.5], "rare": [48.0, 50.0, 49.0], "kl": [0.48, 0.48, 0.49]},
            "forward KL, distilled at T = 4": {
                "valid": [93.0, 92.0, 93.5],
                "rare": [40.0, 41.0, 39.0],
                "kl": [1.0] * 3,
            },
        }
    )
    assert "the way the reverse-KL student went" in lm.two_jobs_report(jobs)[-2]


def test_the_sampling_sweep_and_its_sentences():
    rows = lm.sampling_sweep(TEACHER, [0.0, 1.0, 3.0], n_samples=50)
    assert rows[0]["distinct"] == 1 and rows[0]["entropy"] == 0 and set(rows[0]["samples"]) == {"ba."}
    assert rows[1]["entropy"] < rows[2]["entropy"] and rows[1]["valid"] > rows[2]["valid"]
    cut = lm.sampling_sweep(TEACHER, [0.0, 1.0, 3.0], top_k=3, n_samples=50)
    lines = lm.sampling_report({"T alone": rows, "top-k = 3": cut}, 50)
    assert "greedy decoding" in lines[0] and "top-k = 3 keeps more" in lines[2]
    assert "distinct" in lm.sweep_table({"T alone": rows}, 50)


def test_two_gaussians_fitted_each_way():
    fits = lm.two_mode_fits(separation=5.0, left_weight=0.3, sd=0.7)
    mean = 0.3 * -2.5 + 0.7 * 2.5
    assert fits["forward"]["mean"] == pytest.approx(mean)
    assert fits["forward"]["sd"] == pytest.approx(np.sqrt(0.49 + 0.3 * (-2.5 - mean) ** 2 + 0.7 * (2.5 - mean) ** 2))
    assert fits["reverse"]["mean"] == pytest.approx(2.5, abs=0.02)  # the heavier mode
    assert fits["reverse"]["KL(q || p)"] <= fits["forward"]["KL(q || p)"]  # each fit is best at its own KL
    assert fits["forward"]["KL(p || q)"] <= fits["reverse"]["KL(p || q)"]
    equal = lm.two_mode_fits(separation=8.0)
    assert equal["reverse"]["mean"] == pytest.approx(-4.0, abs=1e-3)  # on a tie, the left mode
    assert equal["reverse"]["KL(q || p)"] == pytest.approx(np.log(2), abs=1e-6)
    one = lm.two_mode_fits(separation=0.0)
    assert one["reverse"]["sd"] == pytest.approx(0.7, abs=1e-3) and one["forward"]["KL(p || q)"] < 1e-9


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: lm.distil(TEACHER, "sideways"), ValueError, "unknown method 'sideways'"),
        (lambda: lm.distil(TEACHER, 3), TypeError, "method must be a name"),
        (lambda: lm.distil(TEACHER, "forward", T=0.0), ValueError, "temperature T"),
        (lambda: lm.distil(TEACHER, "forward", student=QUICK, seed=-1), ValueError, "seed"),
        (lambda: lm.distil(np.full(TEACHER.shape, np.nan), "forward"), ValueError, "teacher_logits"),
        (lambda: lm.distil(TEACHER, "forward", student="small"), TypeError, "student"),
        (lambda: lm.distil(TEACHER[:5], "forward"), ValueError, "softmax.teacher_logits. must hold one row"),
        (lambda: lm.StudentSpec(steps=0), ValueError, "StudentSpec.steps"),
        (lambda: lm.StudentSpec(lr=True), TypeError, "StudentSpec.lr"),
        (lambda: lm.ContextModel(window=3), ValueError, "window"),
        (lambda: lm.logit_table("model"), TypeError, "model must be a ContextModel"),
        (lambda: lm.two_mode_fits(left_weight=1.0), ValueError, "left_weight"),
        (lambda: lm.two_mode_fits(separation="far"), TypeError, "separation"),
        (lambda: lm.train_teacher(0), ValueError, "n_strings"),
        (lambda: lm.distil_students(TEACHER, {"a": {"method": "forward"}}, seeds=(0, -1)), ValueError, "seed"),
        (lambda: lm.distil_students(TEACHER, {"a": {"method": "forwards"}}), ValueError, "method of recipe 'a'"),
        (lambda: lm.distil_students(TEACHER, {"a": {"method": "forward", "t": 2}}), ValueError, "may give only"),
        (lambda: lm.distil_students(TEACHER, [("a", {})]), TypeError, "give a dict"),
        (lambda: lm.direction_report(fake({"forward KL": {}})), ValueError, "unknown recipe 'reverse KL'"),
    ],
)
def test_bad_input_is_refused_before_any_training(call, error, words):
    with pytest.raises(error, match=words):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_student_trains_on_cuda_like_on_the_cpu():
    cpu = lm.logit_table(lm.distil(TEACHER, "on-policy", seed=0, n_strings=200, student=QUICK))
    cuda = lm.logit_table(lm.distil(TEACHER, "on-policy", seed=0, n_strings=200, student=QUICK, device="cuda"))
    np.testing.assert_allclose(cuda, cpu, atol=1e-3)
