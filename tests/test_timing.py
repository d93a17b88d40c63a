"""Time estimates from a probe: the arithmetic and what the probe measures. How close an estimate comes to
the run it estimates is a timing, measured by benchmarks/bench_time_estimate.py, not asserted here."""

import pytest
import torch

from kdviz.mnist.models import teacher_mlp
from kdviz.mnist.timing import Probe, describe_estimate, probe_training, run_seconds
from kdviz.mnist.workspace import Workspace

pytestmark = pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")  # random toy data


@pytest.fixture
def workspace():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 784, generator=g)
    y = torch.randint(0, 10, (2048,), generator=g)
    with torch.no_grad():
        teacher_logits = teacher_mlp(hidden=16).eval()(x)
    return Workspace(x, y, x[:256], y[:256], None, teacher_logits, {"cached": True, "seconds": 0.0}, "cpu")


def test_run_seconds_is_setup_plus_epochs_of_steps_and_evaluation():
    probe = Probe(step=0.01, setup=0.5, per_image=1e-4, steps=10)
    assert run_seconds(probe, epochs=3, n_examples=1000, batch_size=100) == pytest.approx(0.5 + 3 * 10 * 0.01)
    assert run_seconds(probe, epochs=3, n_examples=1001, batch_size=100) == pytest.approx(0.5 + 3 * 11 * 0.01)
    with_test_set = run_seconds(probe, epochs=2, n_examples=1000, batch_size=100, n_evaluated=500)
    assert with_test_set == pytest.approx(0.5 + 2 * (10 * 0.01 + 500 * 1e-4))


def test_the_probe_times_evaluation_only_when_asked(workspace):
    plain = probe_training(workspace, hidden=16, budget=0.05)
    evaluated = probe_training(workspace, hidden=16, budget=0.05, evaluate=True)
    assert plain.per_image == 0 and evaluated.per_image > 0
    assert plain.step > 0 and plain.steps >= 8  # at least 4 timed epochs of 2 steps


def test_the_printed_estimate_says_how_busy_the_machine_is(monkeypatch):
    monkeypatch.setattr("os.getloadavg", lambda: (2.7, 1.0, 0.5), raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    line = describe_estimate(132.0)
    assert line.startswith("estimated time: about 2.2 min") and "(load average 2.7 on 2 cores)" in line
    monkeypatch.delattr("os.getloadavg", raising=False)  # as on Windows
    assert "load average" not in describe_estimate(132.0)
