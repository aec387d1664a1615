"""A trained model back from models/: rebuilt from model.json and its safetensors weights (no
code executed), and its predictions as probabilities or values in the target's units."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.tables import LABEL
from pipeline.features.preprocessor import decode_values
from pipeline.model.ensemble import combine
from pipeline.model.mlp import MLP


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
    predictions = forward(model, features(table), card["task"])
    return predictions if card["classes"] else decode_values(predictions, card)


def forward(model: MLP, x: np.ndarray, task: str) -> np.ndarray:
    """The ensemble's class probabilities or (scaled) values for float32 features `x`, as
    float64 whatever the batch holds, so a value comes out the same in every batch."""
    with torch.no_grad():
        return outputs_to_predictions(model(torch.tensor(x)), task)


def actual(table: pd.DataFrame, card: dict[str, Any]) -> np.ndarray:
    """Class indices, or regression values in the target's units."""
    y = table[LABEL].to_numpy()
    return y if card["classes"] else decode_values(y, card)


def outputs_to_predictions(outputs: torch.Tensor, task: str) -> np.ndarray:
    """The network's (n, k, out) member outputs -> the ensemble's class probabilities
    (n, classes) or regression values (n,)."""
    outputs = combine(outputs.detach(), task).to("cpu", torch.float64)
    if task == "binary":
        p = torch.sigmoid(outputs[:, 0])
        return torch.stack([1 - p, p], dim=1).numpy()
    if task == "multiclass":
        return torch.softmax(outputs, dim=1).numpy()
    return outputs[:, 0].numpy()


def predictions_frame(
    raw: pd.DataFrame,
    features: pd.DataFrame,
    skipped: dict[int, str],
    card: dict[str, Any],
    id_column: str | None,
    model: MLP,
) -> pd.DataFrame:
    """One output row per input row, in input order."""
    predicted = forward(model, features.to_numpy(dtype=np.float32), card["task"])
    out = pd.DataFrame(index=raw.index)
    out.insert(0, "row", raw.index)
    if id_column is not None:
        out[id_column] = raw[id_column]
    if card["classes"]:
        classes = np.asarray(card["classes"], dtype=object)
        out.loc[features.index, "prediction"] = classes[predicted.argmax(axis=1)]
        for i, label in enumerate(card["classes"]):
            out.loc[features.index, f"proba_{label}"] = predicted[:, i]
    else:
        out.loc[features.index, "prediction"] = decode_values(predicted, card)
    out["skipped"] = pd.Series(skipped, dtype=object).reindex(out.index).fillna("")
    return out
