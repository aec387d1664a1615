"""standard_errors: how far a metric measured on n rows could move on another n rows like them.

Each covered metric gets a per-row *influence*: the row's first-order effect on the metric, so
that the metric's standard error is the influences' sd / sqrt(n). Accuracy, log loss and MAE are
means of a per-row term (right or wrong, -log p of the true class, |error|), which is its own
influence; RMSE = sqrt(MSE) and R² = 1 - MSE / var(y) follow by the delta method, R² with the
variance of y moving too (another n rows have another variance). The difference between two
models scored on the same rows is paired: its standard error is the sd of the *difference* of
their influences, which removes the rows both find hard (or easy), so it is usually far smaller
than either model's own.

Only the metrics with a per-row form are covered; f1, precision, recall, balanced accuracy and
ROC AUC are not (they would need a bootstrap), and callers fall back to the rules of
pipeline/experiments/noise.py.
"""

from __future__ import annotations

import math

import numpy as np

PROBABILITY_FLOOR = 1e-15  # probabilities are clipped to this before log_loss (evaluate too)


def influences(
    y: np.ndarray, predictions: np.ndarray, task: str
) -> dict[str, tuple[float, np.ndarray]]:
    """Per covered metric: its value on these rows and every row's influence on it."""
    if task != "regression":
        proba = np.asarray(predictions, dtype=np.float64)
        labels = np.asarray(y, dtype=np.int64)
        true_class = np.clip(proba[np.arange(len(labels)), labels], PROBABILITY_FLOOR, 1.0)
        right = (proba.argmax(axis=1) == labels).astype(np.float64)
        loss = -np.log(true_class)  # sklearn's log_loss of the clipped probabilities, per row
        return {"accuracy": (_mean(right), right), "log_loss": (_mean(loss), loss)}
    target = np.asarray(y, dtype=np.float64)
    error = np.asarray(predictions, dtype=np.float64) - target
    squared, absolute = error**2, np.abs(error)
    mse = _mean(squared)
    rmse = math.sqrt(mse) if mse >= 0 else math.nan  # NaN stays NaN
    out = {
        "rmse": (rmse, squared / (2 * rmse) if rmse != 0 else np.zeros_like(squared)),
        "mae": (_mean(absolute), absolute),
    }
    spread = (target - _mean(target)) ** 2
    variance = _mean(spread)
    if variance > 0:  # R² = 1 - mse / variance; both move with the rows
        out["r2"] = (1 - mse / variance, -squared / variance + (mse / variance**2) * spread)
    return out


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else math.nan


def _standard_error(values: np.ndarray) -> float | None:
    """sd (ddof 1) / sqrt(n); None when it cannot be told (fewer than 2 rows, NaN, inf)."""
    if len(values) < 2:
        return None
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    return se if math.isfinite(se) else None


def standard_errors(y: np.ndarray, predictions: np.ndarray, task: str) -> dict[str, float | None]:
    """The standard error of each covered metric of one model on these rows."""
    return {
        name: _standard_error(row) for name, (_, row) in influences(y, predictions, task).items()
    }


def paired_differences(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, task: str
) -> dict[str, dict[str, float | int | None]]:
    """Model a's metric minus model b's on the same rows, each with its paired standard error;
    for accuracy also the rows only a got right and those only b did."""
    of_a, of_b = influences(y, a, task), influences(y, b, task)
    out: dict[str, dict[str, float | int | None]] = {}
    for name, (value_a, row_a) in of_a.items():  # the same metrics: they depend on y alone
        value_b, row_b = of_b[name]
        difference = value_a - value_b
        out[name] = {
            "difference": difference if math.isfinite(difference) else None,
            "standard_error": _standard_error(row_a - row_b),
        }
    if "accuracy" in out:
        right_a, right_b = of_a["accuracy"][1], of_b["accuracy"][1]
        out["accuracy"]["rows_only_a_right"] = int((right_a > right_b).sum())
        out["accuracy"]["rows_only_b_right"] = int((right_b > right_a).sum())
    return out
