"""Simple models the MLP is held against: majority/mean, logistic/ridge, HistGradientBoosting,
fitted on the encoded train rows (evaluate.baselines switches each)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.core.params import EvaluateParams
from pipeline.features.preprocessor import decode_values


def baseline_models(task: str, params: EvaluateParams, seed: int) -> dict[str, Any]:
    """The switched-on baselines, unfitted: majority/mean, linear, gradient boosting."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    regression = task == "regression"
    chosen = params.baselines
    models: dict[str, Any] = {}
    if chosen.majority:
        models["majority" if not regression else "mean"] = (
            DummyRegressor(strategy="mean") if regression else DummyClassifier(strategy="prior")
        )
    if chosen.linear:
        models["ridge" if regression else "logistic"] = (
            Ridge() if regression else LogisticRegression(max_iter=2000)
        )
    if chosen.hist_gradient_boosting:
        cls = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
        models["hist_gradient_boosting"] = cls(random_state=seed)
    return models


def fit_baselines(
    x: np.ndarray, y: np.ndarray, task: str, params: EvaluateParams, seed: int
) -> dict[str, Any]:
    """The switched-on baselines, fitted on encoded train features `x` and labels `y`."""
    models = baseline_models(task, params, seed)
    for model in models.values():
        model.fit(x, y)
    return models


def baseline_predict(model: Any, x: np.ndarray, card: dict[str, Any]) -> np.ndarray:
    """A fitted baseline's predictions in the MLP's form (probabilities or target units)."""
    if card["task"] == "regression":
        return decode_values(model.predict(x), card)
    # columns in class-index order even if a class is missing from the rows it was fitted on
    predictions = np.zeros((len(x), len(card["classes"])))
    predictions[:, model.classes_] = model.predict_proba(x)
    return predictions
