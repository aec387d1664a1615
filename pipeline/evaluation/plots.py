"""Plot data for `dvc plots` (CSV) and the same plots as PNGs, by task.

Classification: confusion matrix; binary adds ROC and precision-recall. Regression: predicted vs
actual and residuals. Every task: the learning curve with the best epoch marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def plot_tables(
    y: np.ndarray, predictions: np.ndarray, card: dict[str, Any]
) -> dict[str, pd.DataFrame]:
    """CSV name -> table, for the test split. Names match the top-level plots in dvc.yaml."""
    if card["task"] == "regression":
        return {
            "predicted_vs_actual.csv": pd.DataFrame({"actual": y, "predicted": predictions}),
            "residuals.csv": pd.DataFrame({"predicted": predictions, "residual": y - predictions}),
        }
    classes = np.asarray(card["classes"], dtype=object)
    tables = {
        "confusion.csv": pd.DataFrame(
            {"actual": classes[y], "predicted": classes[predictions.argmax(axis=1)]}
        )
    }
    if card["task"] == "binary" and len(np.unique(y)) == 2:
        fpr, tpr, _ = skm.roc_curve(y, predictions[:, 1])
        precision, recall, _ = skm.precision_recall_curve(y, predictions[:, 1])
        tables["roc.csv"] = pd.DataFrame({"fpr": fpr, "tpr": tpr})
        tables["precision_recall.csv"] = pd.DataFrame({"recall": recall, "precision": precision})
    return tables


def render_pngs(
    tables: dict[str, pd.DataFrame],
    history: list[dict[str, float]],
    card: dict[str, Any],
    out: Path,
    dpi: int,
) -> list[str]:
    """Write the PNGs for `tables` plus the learning curve; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, name: str) -> str:
        fig.tight_layout()
        fig.savefig(out / name, dpi=dpi, metadata={"Software": None})  # no version stamp
        plt.close(fig)
        return name

    written = []
    if "confusion.csv" in tables:
        fig, ax = plt.subplots(figsize=(5, 4))
        t = tables["confusion.csv"]
        skm.ConfusionMatrixDisplay.from_predictions(
            t["actual"], t["predicted"], labels=card["classes"], ax=ax, colorbar=False
        )
        ax.set_title("Test: confusion matrix")
        written.append(save(fig, "confusion_matrix.png"))
    if "roc.csv" in tables:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(tables["roc.csv"]["fpr"], tables["roc.csv"]["tpr"])
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Test: ROC")
        written.append(save(fig, "roc.png"))
        fig, ax = plt.subplots(figsize=(5, 4))
        pr = tables["precision_recall.csv"]
        ax.plot(pr["recall"], pr["precision"])
        ax.set(xlabel="recall", ylabel="precision", title="Test: precision-recall")
        written.append(save(fig, "precision_recall.png"))
    if "predicted_vs_actual.csv" in tables:
        t = tables["predicted_vs_actual.csv"]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(t["actual"], t["predicted"], s=10)
        lo, hi = float(t.min().min()), float(t.max().max())
        ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
        ax.set(xlabel="actual", ylabel="predicted", title="Test: predicted vs actual")
        written.append(save(fig, "predicted_vs_actual.png"))
        r = tables["residuals.csv"]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(r["predicted"], r["residual"], s=10)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set(xlabel="predicted", ylabel="actual - predicted", title="Test: residuals")
        written.append(save(fig, "residuals.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.plot(epochs, [h["val_loss"] for h in history], label="val loss")
    ax.axvline(
        card["best_epoch"], color="grey", linestyle="--", label=f"best epoch {card['best_epoch']}"
    )
    positive = all(h["train_loss"] > 0 and h["val_loss"] > 0 for h in history)
    ax.set(
        xlabel="epoch",
        ylabel="loss",
        title="Learning curve",
        yscale="log" if positive else "linear",
    )
    ax.legend()
    written.append(save(fig, "learning_curve.png"))
    return written
