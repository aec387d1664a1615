import math

import numpy as np
import pytest

from pipeline.evaluate import classification_metrics, regression_metrics


def test_classification_metrics_on_known_predictions():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = classification_metrics(y, proba)
    assert m["accuracy"] == 0.75
    assert m["roc_auc"] == 1.0  # every positive scores above every negative
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))
    assert set(m) == {"accuracy", "f1_macro", "log_loss", "roc_auc"}


def test_multiclass_auc_is_none_when_a_class_is_absent_from_the_split():
    y = np.array([0, 1, 0, 1])
    proba = np.full((4, 3), 1 / 3)
    m = classification_metrics(y, proba)
    assert m["roc_auc"] is None
    assert m["log_loss"] == pytest.approx(math.log(3))


def test_regression_metrics():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)
