"""Standard errors from the rows: they agree with a bootstrap of evaluate's own metrics, and a
paired difference is the difference of the two models' metrics, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.evaluation.metrics import score
from pipeline.evaluation.report import versus_lines
from pipeline.evaluation.standard_errors import paired_differences, standard_errors

N = 2000
RESAMPLES = 300


def classification(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three classes; model a is sharper than model b, and both see the same hard rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N)
    signal = rng.normal(size=(N, 3))
    signal[np.arange(N), y] += 1.5
    hard = rng.normal(size=(N, 3))

    def proba(sharpness: float, noise: float) -> np.ndarray:
        logits = sharpness * signal + noise * hard + 0.3 * rng.normal(size=(N, 3))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return y, proba(1.2, 0.5), proba(1.0, 0.5)


def regression(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 3, N)
    shared = rng.standard_t(5, N)  # heavy-tailed errors both models make
    return y, y + shared + 0.3 * rng.normal(size=N), y + shared + 0.6 * rng.normal(size=N)


def bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray | None, task: str) -> dict[str, float]:
    """sd over resamples of evaluate's metric of a (or of a minus b)."""
    rng = np.random.default_rng(1)
    draws: dict[str, list[float]] = {}
    for _ in range(RESAMPLES):
        rows = rng.integers(0, N, N)
        got = score(y[rows], a[rows], task)
        if b is not None:
            other = score(y[rows], b[rows], task)
            got = {k: got[k] - other[k] for k in got if got[k] is not None}
        for k, v in got.items():
            draws.setdefault(k, []).append(v)
    return {k: float(np.std(v, ddof=1)) for k, v in draws.items()}


@pytest.mark.parametrize(
    "task, data", [("classification", classification), ("regression", regression)]
)
def test_standard_errors_agree_with_a_bootstrap_of_the_metrics(task, data):
    y, a, _ = data()
    errors = standard_errors(y, a, task)
    boot = bootstrap(y, a, None, task)
    assert set(errors) == (
        {"rmse", "mae", "r2"} if task == "regression" else {"accuracy", "log_loss"}
    )
    for metric, se in errors.items():
        assert se == pytest.approx(boot[metric], rel=0.15), metric


@pytest.mark.parametrize(
    "task, data", [("classification", classification), ("regression", regression)]
)
def test_paired_difference_is_the_metrics_difference_with_a_bootstrap_s_e(task, data):
    y, a, b = data()
    paired = paired_differences(y, a, b, task)
    metrics_a, metrics_b = score(y, a, task), score(y, b, task)
    boot = bootstrap(y, a, b, task)
    own = standard_errors(y, a, task)
    for metric, entry in paired.items():
        assert entry["difference"] == pytest.approx(metrics_a[metric] - metrics_b[metric], abs=1e-9)
        assert entry["standard_error"] == pytest.approx(boot[metric], rel=0.15), metric
        # the rows hard for both cancel: the paired s.e. is under one model's own
        assert entry["standard_error"] < own[metric], metric


def test_accuracy_difference_counts_the_rows_each_model_alone_got_right():
    y = np.array([0, 1, 1, 0, 1])
    a = np.eye(2)[[0, 1, 1, 1, 0]]  # right on rows 0, 1, 2
    b = np.eye(2)[[1, 1, 0, 0, 0]]  # right on rows 1, 3
    entry = paired_differences(y, a, b, "classification")["accuracy"]
    assert (entry["rows_only_a_right"], entry["rows_only_b_right"]) == (2, 1)
    assert entry["difference"] == pytest.approx(0.2)


def test_the_same_predictions_differ_by_nothing():
    y, a, _ = regression()
    paired = paired_differences(y, a, a, "regression")
    assert all(e["difference"] == 0 and e["standard_error"] == 0 for e in paired.values())
    y, a, _ = classification()
    accuracy = paired_differences(y, a, a, "classification")["accuracy"]
    assert accuracy["standard_error"] == 0 and accuracy["rows_only_a_right"] == 0


def test_a_good_model_against_a_constant_baseline_matches_the_bootstrap():
    """RMSEs and R²s far apart, R² far from 1: where holding var(y) or rmse_a + rmse_b fixed
    would be wrong by half."""
    y, a, _ = regression()
    constant = np.full(N, y.mean() + 1.0)
    paired = paired_differences(y, a, constant, "regression")
    boot = bootstrap(y, a, constant, "regression")
    for metric in ("rmse", "mae", "r2"):
        assert paired[metric]["standard_error"] == pytest.approx(boot[metric], rel=0.15), metric
    own = standard_errors(y, constant, "regression")
    assert own["r2"] == pytest.approx(bootstrap(y, constant, None, "regression")["r2"], rel=0.15)


def test_no_standard_error_where_it_cannot_be_told():
    y = np.full(10, 3.0)
    assert "r2" not in standard_errors(y, y + 0.1, "regression")  # R² undefined
    assert "r2" not in paired_differences(y, y + 0.1, y - 0.2, "regression")
    assert standard_errors(np.array([1.0]), np.array([2.0]), "regression") == {
        "rmse": None,
        "mae": None,
    }
    nan = standard_errors(np.array([1.0, 2.0, 3.0]), np.array([1.0, np.nan, 3.0]), "regression")
    assert nan == {"rmse": None, "mae": None, "r2": None}
    perfect = standard_errors(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]), "regression")
    assert perfect == {"rmse": 0.0, "mae": 0.0, "r2": 0.0}


def test_report_reads_a_difference_beyond_two_standard_errors():
    versus = {
        "hist_gradient_boosting": {"rmse": {"difference": -0.5, "standard_error": 0.1}},
        "ridge": {"rmse": {"difference": 0.15, "standard_error": 0.1}},
        "mean": {"rmse": {"difference": 0.9, "standard_error": 0.1}},
    }
    lines = versus_lines(versus, "regression")
    assert "| hist_gradient_boosting | -0.5000 ± 0.1000 | MLP better by 5.0 s.e. |" in lines
    assert any(line.startswith("| ridge |") and "cannot tell them apart" in line for line in lines)
    assert any(line.startswith("| mean |") and "MLP worse by 9.0 s.e." in line for line in lines)
    assert versus_lines({}, "regression") == []
    unknown = {"ridge": {"rmse": {"difference": None, "standard_error": None}}}  # NaN predictions
    assert versus_lines(unknown, "regression")[-1] == "| ridge | n/a | n/a |"
    tie = {"logistic": {"accuracy": {"difference": 0.0, "standard_error": 0.0}}}
    assert versus_lines(tie, "binary")[-1].endswith("| right on the same rows |")
