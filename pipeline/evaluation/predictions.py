"""One pass over an encoded split: the labels, the MLP's and every baseline's predictions,
gathered batch by batch (data.batch_rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core import io
from pipeline.core.tables import LABEL
from pipeline.evaluation.baselines import baseline_predict
from pipeline.features.preprocessor import decode_values
from pipeline.model.inference import features, predict
from pipeline.model.mlp import MLP

MLP_NAME = "mlp"  # key of the MLP's predictions among the baselines' in SplitPredictions


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
