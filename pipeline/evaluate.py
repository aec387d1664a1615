"""evaluate: score the saved model on val and test; write metrics, plots and a short report.

The test split is read here and nowhere else. Metrics go to reports/metrics.json as
`{"val": {...}, "test": {...}}`; plot data (CSV, for `dvc plots`) and PNGs go to reports/plots/.
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

from pipeline import io
from pipeline.config import Params, load_params
from pipeline.encode import LABEL, decode_values
from pipeline.model import MLP, outputs_to_predictions

EVAL_SPLITS = ("val", "test")


def load_model(card: dict[str, Any]) -> MLP:
    """Rebuild the network from model.json and its safetensors weights (no code executed)."""
    model = MLP.from_spec(card["architecture"])
    model.load_state_dict(load_file(str(io.MODEL_CARD.parent / card["weights"])))
    return model.eval()


def predict(model: MLP, table: pd.DataFrame, card: dict[str, Any]) -> np.ndarray:
    """Class probabilities (n, k) or values (n,) in the target's units, for an encoded table."""
    x = torch.tensor(table.drop(columns=[LABEL]).to_numpy(dtype=np.float32))
    with torch.no_grad():
        predictions = outputs_to_predictions(model(x), card["task"])
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
    with warnings.catch_warnings():  # a class absent from this split: AUC is undefined
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        try:
            if proba.shape[1] == 2:
                auc = skm.roc_auc_score(y, proba[:, 1])
            else:
                auc = skm.roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels)
        except ValueError:
            auc = math.nan
    return {
        "accuracy": float(skm.accuracy_score(y, pred)),
        "f1_macro": float(skm.f1_score(y, pred, average="macro", labels=labels, zero_division=0)),
        "log_loss": float(skm.log_loss(y, proba, labels=labels)),
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


def prediction_frame(
    table: pd.DataFrame, predictions: np.ndarray, card: dict[str, Any]
) -> pd.DataFrame:
    """Per-row actual vs predicted, in the target's own labels (for `dvc plots`)."""
    y = actual(table, card)
    if card["task"] == "regression":
        return pd.DataFrame({"row": table.index, "actual": y, "predicted": predictions})
    classes = np.asarray(card["classes"], dtype=object)
    return pd.DataFrame(
        {"row": table.index, "actual": classes[y], "predicted": classes[predictions.argmax(1)]}
    )


def plot_data_name(card: dict[str, Any]) -> str:
    """The CSV that dvc.yaml's top-level plots read: a confusion matrix or a scatter."""
    return "predicted_vs_actual.csv" if card["task"] == "regression" else "confusion.csv"


def render_pngs(
    frame: pd.DataFrame,
    history: list[dict[str, float]],
    card: dict[str, Any],
    out: Path,
    dpi: int,
) -> list[str]:
    """Confusion matrix or predicted-vs-actual, plus the learning curve; returns file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(figsize=(5, 4))
    if card["task"] == "regression":
        ax.scatter(frame["actual"], frame["predicted"], s=10)
        lo, hi = (
            frame[["actual", "predicted"]].min().min(),
            frame[["actual", "predicted"]].max().max(),
        )
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
        ax.set(xlabel="actual", ylabel="predicted", title="Test: predicted vs actual")
        name = "predicted_vs_actual.png"
    else:
        skm.ConfusionMatrixDisplay.from_predictions(
            frame["actual"], frame["predicted"], labels=card["classes"], ax=ax, colorbar=False
        )
        ax.set_title("Test: confusion matrix")
        name = "confusion_matrix.png"
    fig.tight_layout()
    fig.savefig(out / name, dpi=dpi, metadata={"Software": None})
    written.append(name)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.plot(epochs, [h["val_loss"] for h in history], label="val loss")
    ax.axvline(
        card["best_epoch"], color="grey", linestyle="--", label=f"best epoch {card['best_epoch']}"
    )
    ax.set(xlabel="epoch", ylabel="loss", title="Learning curve", yscale="log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=dpi, metadata={"Software": None})
    written.append("learning_curve.png")
    plt.close(fig)
    return written


def render_report(metrics: dict[str, Any], card: dict[str, Any], pngs: list[str]) -> str:
    names = list(metrics["test"])
    lines = [
        "# Run report",
        "",
        f"Target `{card['target']}`, task **{card['task']}**; MLP {card['architecture']['hidden']} "
        f"({card['parameters']} parameters), best epoch {card['best_epoch']} of "
        f"{card['epochs_run']}.",
        "",
        "| split | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for split in EVAL_SPLITS:
        cells = [_fmt(metrics[split][n]) for n in names]
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    lines += [
        "",
        *[f"![{p}](plots/{p})" for p in pngs],
        "",
        "Artifacts:",
        f"- metrics: `{io.METRICS}`; validation: `{io.VALIDATION_REPORT}`",
        f"- model: `{io.MODEL_WEIGHTS}` + `{io.MODEL_CARD}`; preprocessing: "
        f"`{io.SCALER}`, `{io.ENCODER}`",
        f"- training curves: `{io.TRAIN_LOG_DIR}/`; plots: `{io.PLOTS_DIR}/`",
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def run(params: Params) -> None:
    torch.set_num_threads(params.train.threads)
    card = io.read_json(io.MODEL_CARD)
    model = load_model(card)
    history = io.read_json(io.TRAIN_LOG_DIR / "history.json")
    metrics, frames = {}, {}
    for split in EVAL_SPLITS:
        table = io.read_table(io.ENCODED_DIR / f"{split}.parquet")
        predictions = predict(model, table, card)
        metrics[split] = score(actual(table, card), predictions, card["task"])
        frames[split] = prediction_frame(table, predictions, card)

    with io.atomic_dir(io.PLOTS_DIR) as out:
        frames["test"].to_csv(out / plot_data_name(card), index=False)
        pngs = render_pngs(frames["test"], history, card, out, params.evaluate.dpi)
    io.write_json(metrics, io.METRICS)
    io.write_text(render_report(metrics, card, pngs), io.REPORT)
    shown = ", ".join(f"{k} {_fmt(v)}" for k, v in metrics["test"].items())
    print(f"evaluate: test {shown}")


if __name__ == "__main__":
    run(load_params())
