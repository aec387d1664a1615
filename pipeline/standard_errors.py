"""standard_errors: how far a metric measured on n rows could move on another n rows like them.

Accuracy, log loss, MAE, MSE are means over rows of a per-row term (right or wrong, -log p of
the true class, |error|, error²), so their standard error is that term's sd / sqrt(n); RMSE and
R² follow MSE's by the delta method (R² taking the split's own variance of y as fixed). The
difference between two models scored on the same rows is paired: the per-row terms are
subtracted first, which removes the rows that are hard (or easy) for both, so the difference's
standard error is usually far smaller than either model's own.

Only the metrics with a per-row form are covered; f1, precision, recall, balanced accuracy and
ROC AUC are not (they would need a bootstrap), and callers fall back to pipeline/noise.py's rules.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-15  # as evaluate's log_loss: a probability of 0 for the true class costs -log(1e-15)


def row_terms(y: np.ndarray, predictions: np.ndarray, task: str) -> dict[str, np.ndarray]:
    """Per-row terms whose mean is the metric (regression: 'se' is the squared error)."""
    if task == "regression":
        error = np.asarray(predictions, dtype=np.float64) - np.asarray(y, dtype=np.float64)
        return {"se": error**2, "mae": np.abs(error)}
    proba = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    true_class = np.clip(proba[np.arange(len(labels)), labels], EPS, 1.0)
    return {
        "accuracy": (proba.argmax(axis=1) == labels).astype(np.float64),
        # evaluate's log_loss normalizes each row's probabilities; the models' already sum to 1
        "log_loss": -np.log(true_class),
    }


def _se_of_mean(terms: np.ndarray) -> float:
    return float(terms.std(ddof=1) / math.sqrt(len(terms))) if len(terms) > 1 else math.nan


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def standard_errors(y: np.ndarray, predictions: np.ndarray, task: str) -> dict[str, float | None]:
    """The standard error of each covered metric of one model on these rows."""
    terms = row_terms(y, predictions, task)
    if task != "regression":
        return {name: _finite(_se_of_mean(t)) for name, t in terms.items()}
    mse, se_mse = float(terms["se"].mean()), _se_of_mean(terms["se"])
    variance = float(np.var(np.asarray(y, dtype=np.float64)))
    return {
        "rmse": _finite(se_mse / (2 * math.sqrt(mse)) if mse > 0 else 0.0),
        "mae": _finite(_se_of_mean(terms["mae"])),
        "r2": _finite(se_mse / variance) if variance > 0 else None,
    }


def paired_differences(
    y: np.ndarray, a: np.ndarray, b: np.ndarray, task: str
) -> dict[str, dict[str, float | int | None]]:
    """Model a's metric minus model b's on the same rows, each with its paired standard error.

    RMSE: rmse_a - rmse_b = (mse_a - mse_b) / (rmse_a + rmse_b), exactly, so the s.e. of the
    MSE difference is divided by the same sum; R²: r2_a - r2_b = (mse_b - mse_a) / var(y)."""
    terms_a, terms_b = row_terms(y, a, task), row_terms(y, b, task)
    out: dict[str, dict[str, float | int | None]] = {}
    if task != "regression":
        for name in terms_a:
            d = terms_a[name] - terms_b[name]
            out[name] = {"difference": float(d.mean()), "standard_error": _finite(_se_of_mean(d))}
        # the rows behind an accuracy difference: right by one model only
        right_a, right_b = terms_a["accuracy"], terms_b["accuracy"]
        out["accuracy"]["rows_only_a_right"] = int((right_a > right_b).sum())
        out["accuracy"]["rows_only_b_right"] = int((right_b > right_a).sum())
        return out
    d_se = terms_a["se"] - terms_b["se"]
    mse_a, mse_b = float(terms_a["se"].mean()), float(terms_b["se"].mean())
    root_sum = math.sqrt(mse_a) + math.sqrt(mse_b)
    if root_sum > 0:
        out["rmse"] = {
            "difference": (mse_a - mse_b) / root_sum,
            "standard_error": _finite(_se_of_mean(d_se) / root_sum),
        }
    d_mae = terms_a["mae"] - terms_b["mae"]
    out["mae"] = {"difference": float(d_mae.mean()), "standard_error": _finite(_se_of_mean(d_mae))}
    variance = float(np.var(np.asarray(y, dtype=np.float64)))
    if variance > 0:
        out["r2"] = {
            "difference": (mse_b - mse_a) / variance,
            "standard_error": _finite(_se_of_mean(d_se) / variance),
        }
    return out
