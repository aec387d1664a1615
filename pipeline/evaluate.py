"""evaluate: score the saved model on val and test, beside simple baselines; diagnose the fit.

The test split is read here and nowhere else. Writes reports/metrics.json
(`{"val": {...}, "test": {...}, "baselines": {name: {"val": ..., "test": ...}},
"standard_error": {"val": {...}, "test": {...}}}`, the last the MLP's, pipeline/standard_errors.py),
reports/diagnosis.json (the fit's verdict, and the MLP minus each baseline on the same test rows
with the paired standard error), plot data and PNGs under reports/plots/, and reports/report.md.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

from pipeline import io, torch_setup
from pipeline.config import EvaluateParams, Params, load_params
from pipeline.errors import PipelineError
from pipeline.model import MLP, outputs_to_predictions
from pipeline.plots import plot_tables, render_pngs
from pipeline.preprocess import LABEL, decode_values
from pipeline.sampling import sample_positions, take_positions
from pipeline.standard_errors import PROBABILITY_FLOOR, paired_differences, standard_errors
from pipeline.task import HEADLINE, lower_is_better

EVAL_SPLITS = ("val", "test")
MLP_NAME = "mlp"  # key of the MLP's predictions among the baselines' in SplitPredictions


def load_model(card: dict[str, Any]) -> MLP:
    """Rebuild the network from model.json and its safetensors weights (no code executed)."""
    model = MLP.from_spec(card["architecture"])
    weights = io.MODEL_CARD.parent / card["weights"]
    try:
        state = load_file(str(weights))
    except FileNotFoundError:
        raise PipelineError(f"missing input {str(weights)!r}: run `dvc repro` to train") from None
    except Exception as exc:  # safetensors reads tensors only; anything else is refused
        raise PipelineError(
            f"{str(weights)!r} is not a safetensors file ({type(exc).__name__}); it is "
            f"refused, not loaded: rebuild it with `dvc repro --force train`"
        ) from None
    model.load_state_dict(state)
    return model.eval()


def features(table: pd.DataFrame) -> np.ndarray:
    return table.drop(columns=[LABEL]).to_numpy(dtype=np.float32)


def predict(model: MLP, table: pd.DataFrame, card: dict[str, Any]) -> np.ndarray:
    """Class probabilities (n, k) or values (n,) in the target's units, for an encoded table."""
    with torch.no_grad():
        predictions = outputs_to_predictions(model(torch.tensor(features(table))), card["task"])
    return predictions if card["classes"] else decode_values(predictions, card)


def actual(table: pd.DataFrame, card: dict[str, Any]) -> np.ndarray:
    """Class indices, or regression values in the target's units."""
    y = table[LABEL].to_numpy()
    return y if card["classes"] else decode_values(y, card)


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


def run_baselines(
    tables: dict[str, pd.DataFrame], card: dict[str, Any], params: EvaluateParams, seed: int
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Fit each baseline on the encoded train rows; score it on val and test like the MLP."""
    task = card["task"]
    models = fit_baselines(
        features(tables["train"]), tables["train"][LABEL].to_numpy(), task, params, seed
    )
    return {
        name: {
            split: score(
                actual(tables[split], card),
                baseline_predict(model, features(tables[split]), card),
                task,
            )
            for split in EVAL_SPLITS
        }
        for name, model in models.items()
    }


class SplitPredictions:
    """Labels and predictions of one split, gathered batch by batch (a float or k per row)."""

    def __init__(self) -> None:
        self.y: list[np.ndarray] = []
        self.by_model: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, predictions: np.ndarray) -> None:
        self.by_model.setdefault(name, []).append(predictions)

    def labels(self, card: dict[str, Any]) -> np.ndarray:
        y = np.concatenate(self.y)
        return y if card["classes"] else decode_values(y, card)

    def of(self, name: str) -> np.ndarray:
        return np.concatenate(self.by_model[name])


def predict_split(
    path: Path,
    model: MLP,
    baselines: dict[str, Any],
    card: dict[str, Any],
    batch_rows: int,
) -> SplitPredictions:
    """One pass over an encoded split: the MLP's and every baseline's predictions."""
    gathered = SplitPredictions()
    for frame in io.iter_table(path, batch_rows):
        gathered.y.append(frame[LABEL].to_numpy())
        gathered.add(MLP_NAME, predict(model, frame, card))
        x = features(frame)
        for name, baseline in baselines.items():
            gathered.add(name, baseline_predict(baseline, x, card))
    return gathered


def diagnose(
    history: list[dict[str, float]], card: dict[str, Any], val_metrics: dict, baselines: dict
) -> dict[str, Any]:
    """A plain verdict from the learning curves, with the rule that produced it."""
    best = card["best_epoch"]
    at_best, after = history[best - 1], history[best:]
    gap = at_best["val_loss"] - at_best["train_loss"]
    # curves are noisy epoch to epoch: compare the mean after the best epoch, not one point
    rise = 0.0
    train_improved = False
    if after:
        val_after = sum(h["val_loss"] for h in after) / len(after)
        rise = (val_after - at_best["val_loss"]) / abs(at_best["val_loss"] or 1.0)
        train_improved = min(h["train_loss"] for h in after) < at_best["train_loss"]
    tail = history[-max(2, len(history) // 10) :]
    still_falling = (tail[0]["train_loss"] - tail[-1]["train_loss"]) / abs(
        tail[0]["train_loss"] or 1.0
    )
    metric = HEADLINE[card["task"]]
    higher = not lower_is_better(metric)
    simple = baselines.get("majority") or baselines.get("mean")
    beats_simple = simple is None or (
        val_metrics[metric] > simple["val"][metric]
        if higher
        else val_metrics[metric] < simple["val"][metric]
    )
    if not beats_simple:
        verdict = "underfitting"
        rule = f"val {metric} is no better than the {'majority' if higher else 'mean'} baseline's"
    elif rise > 0.10 and train_improved:
        verdict = f"overfitting after epoch {best}"
        rule = (
            f"after the best epoch, mean val loss was {rise:.0%} above its best (> 10%) "
            f"while train loss went lower still; the saved weights are epoch {best}'s"
        )
    elif best == len(history) and still_falling > 0.01:
        verdict = "underfitting"
        rule = (
            f"the last epoch was the best and train loss fell {still_falling:.1%} (> 1%) "
            f"over the last {len(tail)} epochs: more epochs or a higher lr may help"
        )
    else:
        verdict = "good fit"
        rule = (
            "beats the simple baseline; mean val loss after the best epoch stayed within 10% "
            "of its best (or train loss did not improve either); training had levelled off"
        )
    return {
        "verdict": verdict,
        "rule": rule,
        "best_epoch": best,
        "generalization_gap": gap,
        "val_loss_rise_after_best": rise,
    }


def run(params: Params) -> None:
    torch_setup.configure(params.train.threads)
    card = io.read_json(io.MODEL_CARD)
    model = load_model(card)
    history = io.read_json(io.TRAIN_LOG_DIR / "history.json")
    batch_rows = params.data.batch_rows
    train_path = io.ENCODED_DIR / "train.parquet"
    train_rows = io.table_rows(train_path) if train_path.exists() else 0
    positions = sample_positions(train_rows, params.evaluate.baseline_rows, params.seed)
    baselines: dict[str, Any] = {}
    if baseline_models(card["task"], params.evaluate, params.seed):  # any switched on
        sample = take_positions(io.iter_table(train_path, batch_rows), positions)
        baselines = fit_baselines(
            features(sample), sample[LABEL].to_numpy(), card["task"], params.evaluate, params.seed
        )
        del sample
    metrics: dict[str, Any] = {}
    scored: dict[str, dict[str, Any]] = {name: {} for name in baselines}
    errors: dict[str, dict[str, float | None]] = {}
    gathered = {}
    for split in EVAL_SPLITS:
        gathered[split] = predict_split(
            io.ENCODED_DIR / f"{split}.parquet", model, baselines, card, batch_rows
        )
        y = gathered[split].labels(card)
        mlp = gathered[split].of(MLP_NAME)
        metrics[split] = score(y, mlp, card["task"])
        errors[split] = standard_errors(y, mlp, card["task"])
        for name in baselines:
            scored[name][split] = score(y, gathered[split].of(name), card["task"])
        if split != "test":
            del gathered[split]
    metrics["baselines"] = scored
    metrics["standard_error"] = errors
    diagnosis = diagnose(history, card, metrics["val"], metrics["baselines"])

    test = gathered.pop("test")
    y_test, mlp_test = test.labels(card), test.of(MLP_NAME)
    diagnosis["versus_baselines"] = {
        name: paired_differences(y_test, mlp_test, test.of(name), card["task"])
        for name in baselines
    }
    plot_data = plot_tables(y_test, mlp_test, card)
    del test, y_test, mlp_test
    with io.atomic_dir(io.PLOTS_DIR) as out:
        for name, table in plot_data.items():
            io.write_csv(table, out / name)
        pngs = render_pngs(plot_data, history, card, out, params.evaluate.dpi)
    io.write_json(metrics, io.METRICS)
    io.write_json(diagnosis, io.DIAGNOSIS)

    from pipeline.report import render_report

    fitted_on = (len(positions), train_rows)
    io.write_text(render_report(params, card, metrics, diagnosis, pngs, fitted_on), io.REPORT)
    headline = HEADLINE[card["task"]]
    print(f"evaluate: test {headline} {metrics['test'][headline]:.4f}; {diagnosis['verdict']}")


if __name__ == "__main__":
    run(load_params())
