"""The metrics of reports/metrics.json: classification (accuracy, f1, log_loss, roc_auc ...) from
class probabilities, regression (rmse, mae, r2) from values in the target's units."""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from pipeline.evaluation.standard_errors import (
    PROBABILITY_FLOOR,
)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float | None]:
    labels = list(range(proba.shape[1]))
    pred = proba.argmax(axis=1)
    with warnings.catch_warnings():  # a class absent from this split: some scores undefined
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.simplefilter("ignore", UserWarning)
        try:
            if proba.shape[1] == 2:
                auc = skm.roc_auc_score(y, proba[:, 1])
            else:
                auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
        except ValueError:
            auc = math.nan
        macro = {"average": "macro", "labels": labels, "zero_division": 0}
        return {
            "accuracy": float(skm.accuracy_score(y, pred)),
            "balanced_accuracy": float(skm.balanced_accuracy_score(y, pred)),
            "f1_macro": float(skm.f1_score(y, pred, **macro)),
            "precision_macro": float(skm.precision_score(y, pred, **macro)),
            "recall_macro": float(skm.recall_score(y, pred, **macro)),
            "log_loss": float(skm.log_loss(y, np.clip(proba, PROBABILITY_FLOOR, 1), labels=labels)),
            "roc_auc": _finite(auc),
        }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "rmse": math.sqrt(float(skm.mean_squared_error(y, pred))),
        "mae": float(skm.mean_absolute_error(y, pred)),
        "r2": float(skm.r2_score(y, pred)),
    }


def score(y: np.ndarray, predictions: np.ndarray, task: str) -> dict[str, float | None]:
    if task == "regression":
        return regression_metrics(y, predictions)
    return classification_metrics(y, predictions)


EVAL_SPLITS = ("val", "test")
