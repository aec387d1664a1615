import math

import numpy as np
import pandas as pd
import pytest

from pipeline.core.config import parse_params
from pipeline.core.params import EvaluateParams
from pipeline.core.tables import LABEL
from pipeline.evaluation.diagnosis import diagnose
from pipeline.evaluation.metrics import classification_metrics, regression_metrics
from pipeline.evaluation.plots import plot_tables, render_pngs
from pipeline.evaluation.report import changed_params

from ..helpers import run_baselines

CLASSIFICATION = {
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "log_loss",
    "roc_auc",
}


def test_classification_metrics_on_known_predictions():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = classification_metrics(y, proba)
    assert set(m) == CLASSIFICATION
    assert m["accuracy"] == 0.75
    assert m["recall_macro"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["roc_auc"] == 1.0  # every positive scores above every negative
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))


def test_multiclass_auc_is_none_when_a_class_is_absent_from_the_split():
    m = classification_metrics(np.array([0, 1, 0, 1]), np.full((4, 3), 1 / 3))
    assert m["roc_auc"] is None
    assert m["log_loss"] == pytest.approx(math.log(3))


def test_regression_metrics():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def encoded(task: str, n: int = 120) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    tables = {}
    for split in ("train", "val", "test"):
        x = rng.normal(size=(n, 3)).astype(np.float32)
        if task == "regression":
            y = x @ np.array([1.0, -1.0, 0.5])
        else:
            y = (x[:, 0] > 0).astype(int) + (task == "multiclass") * (x[:, 1] > 0.5)
        tables[split] = pd.DataFrame(x, columns=["a", "b", "c"]).assign(**{LABEL: y})
    return tables


@pytest.mark.parametrize(
    ("task", "card", "names"),
    [
        ("binary", {"classes": ["n", "y"]}, {"majority", "logistic", "hist_gradient_boosting"}),
        (
            "multiclass",
            {"classes": ["a", "b", "c"]},
            {"majority", "logistic", "hist_gradient_boosting"},
        ),
        (
            "regression",
            {"classes": None, "target_scaling": {"center": 10.0, "scale": 2.0}},
            {"mean", "ridge", "hist_gradient_boosting"},
        ),
    ],
)
def test_baselines_for_each_task(task, card, names):
    results = run_baselines(encoded(task), {"task": task, **card}, EvaluateParams(), seed=0)
    assert set(results) == names
    for name, by_split in results.items():
        assert set(by_split) == {"val", "test"}
        if task == "regression":
            assert set(by_split["test"]) == {"rmse", "mae", "r2"}
            if name == "ridge":  # scored in original units: errors scale by target_scaling
                assert by_split["test"]["r2"] > 0.99
        else:
            assert set(by_split["test"]) == CLASSIFICATION
    simple = "mean" if task == "regression" else "majority"
    headline = "r2" if task == "regression" else "accuracy"
    assert results["hist_gradient_boosting"]["test"][headline] > results[simple]["test"][headline]


def test_baselines_can_be_switched_off():
    params = EvaluateParams(baselines={"linear": False, "hist_gradient_boosting": False})
    results = run_baselines(
        encoded("binary"), {"task": "binary", "classes": ["n", "y"]}, params, seed=0
    )
    assert set(results) == {"majority"}


def curve(train: list[float], val: list[float]) -> list[dict[str, float]]:
    return [
        {"epoch": i + 1, "train_loss": t, "val_loss": v}
        for i, (t, v) in enumerate(zip(train, val, strict=True))
    ]


GOOD_VAL = {"accuracy": 0.9}
BASELINE = {"majority": {"val": {"accuracy": 0.5}}}


def test_verdict_overfitting_names_the_epoch():
    history = curve([1.0, 0.5, 0.3, 0.2, 0.1, 0.05], [1.0, 0.6, 0.5, 0.6, 0.7, 0.8])
    d = diagnose(history, {"task": "binary", "best_epoch": 3}, GOOD_VAL, BASELINE)
    assert d["verdict"] == "overfitting after epoch 3"
    assert d["generalization_gap"] == pytest.approx(0.2)
    assert "10%" in d["rule"]


def test_verdict_underfitting_when_still_improving_at_the_end():
    history = curve([1.0, 0.9, 0.8, 0.7, 0.6], [1.0, 0.9, 0.8, 0.7, 0.6])
    d = diagnose(history, {"task": "binary", "best_epoch": 5}, GOOD_VAL, BASELINE)
    assert d["verdict"] == "underfitting" and "more epochs" in d["rule"]


def test_verdict_underfitting_when_no_better_than_the_majority_class():
    history = curve([0.7, 0.69, 0.69], [0.7, 0.69, 0.69])
    d = diagnose(history, {"task": "binary", "best_epoch": 2}, {"accuracy": 0.5}, BASELINE)
    assert d["verdict"] == "underfitting" and "baseline" in d["rule"]


def test_verdict_good_fit_when_curves_level_off():
    history = curve([1.0, 0.5, 0.4, 0.4, 0.4], [1.0, 0.55, 0.45, 0.46, 0.45])
    d = diagnose(history, {"task": "binary", "best_epoch": 3}, GOOD_VAL, BASELINE)
    assert d["verdict"] == "good fit"


@pytest.mark.parametrize(
    ("task", "card", "y", "pred", "pngs"),
    [
        (
            "binary",
            {"classes": ["n", "y"]},
            np.array([0, 1, 1, 0]),
            np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]]),
            ["confusion_matrix.png", "roc.png", "precision_recall.png", "learning_curve.png"],
        ),
        (
            "multiclass",
            {"classes": ["a", "b", "c"]},
            np.array([0, 1, 2]),
            np.eye(3),
            ["confusion_matrix.png", "learning_curve.png"],
        ),
        (
            "regression",
            {"classes": None},
            np.array([1.0, 2.0, 3.0]),
            np.array([1.1, 1.9, 3.2]),
            ["predicted_vs_actual.png", "residuals.png", "learning_curve.png"],
        ),
    ],
)
def test_plots_by_task_are_real_pngs(tmp_path, task, card, y, pred, pngs):
    card = {"task": task, "best_epoch": 2, **card}
    tables = plot_tables(y, pred, card)
    written = render_pngs(tables, curve([1.0, 0.5, 0.4], [1.0, 0.6, 0.7]), card, tmp_path, 60)
    assert written == pngs
    for name in written:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_lists_only_params_that_differ_from_defaults():
    params = parse_params({"train": {"lr": 0.005, "scheduler": {"name": "cosine"}}})
    assert changed_params(params) == {
        "train.lr": (0.001, 0.005),
        "train.scheduler.name": ("none", "cosine"),
    }
