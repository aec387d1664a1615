"""Which encoded features the model embeds, and how; without torch (validate sizes with it).

`feature_layout` reads the fitted preprocessing's JSON once: the positions of the numeric
features, of the ordinal-coded categorical ones (with their category counts) and the names of
the one-hot ones. `embedding_spec` combines it with the model params into the `embeddings` entry
of the model's spec (None when nothing is embedded, so such a model keeps its plain spec);
`embedding_size` gives the width the hidden layers see and the parameters the embeddings add.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.params import ModelParams


@dataclass(frozen=True)
class FeatureLayout:
    """Positions in the encoded feature order (preprocessor.json's `features`)."""

    numeric: list[int]  # scaled numeric features
    ordinal: list[tuple[int, int]]  # (position, categories known from train) of ordinal codes
    onehot: list[str]  # categorical columns encoded one-hot (names)
    # rows the preprocessing was fitted on: model.num_embeddings auto decides by them
    train_rows: int | None = None


def feature_layout(saved: Mapping[str, Any]) -> FeatureLayout:
    """The layout of preprocessor.json (its features, scaler, categorical, encoding entries)."""
    slot = {name: i for i, name in enumerate(saved["features"])}
    encoding = saved["encoding"]
    ordinal = [c for c, method in encoding.items() if method == "ordinal"]
    return FeatureLayout(
        numeric=[slot[c] for c in saved["scaler"]["columns"]],
        ordinal=sorted((slot[c], len(saved["categorical"][c])) for c in ordinal),
        onehot=[c for c, method in encoding.items() if method != "ordinal"],
        train_rows=saved.get("fitted_rows"),
    )


def categorical_dim(categories: int, max_dim: int) -> int:
    """Embedding width for a column: fastai's rule round(1.6 * rows ** 0.56) on the table's
    rows (the categories plus one for unknown), at most `max_dim`."""
    return max(1, min(max_dim, round(1.6 * (categories + 1) ** 0.56)))


def numeric_embedding_kind(model: ModelParams, train_rows: int | None) -> str:
    """model.num_embeddings with `auto` resolved: plr from model.embedding_min_rows training
    rows up, none below (PLR's parameters per feature overfit a few hundred rows)."""
    if model.num_embeddings != "auto":
        return model.num_embeddings
    if train_rows is None:
        raise PipelineError(
            "model.num_embeddings: auto needs the number of training rows (fitted_rows in "
            "preprocessor.json); rerun fit_scaler, or set model.num_embeddings to plr or none"
        )
    return "plr" if train_rows >= model.embedding_min_rows else "none"


def auto_note(model: ModelParams, layout: FeatureLayout) -> str:
    """What model.num_embeddings: auto chose and why, for the train line ("" when not auto)."""
    if model.num_embeddings != "auto" or not layout.numeric:
        return ""
    kind = numeric_embedding_kind(model, layout.train_rows)
    sign = ">=" if kind != "none" else "<"
    return (
        f" (numeric embeddings: {kind}, auto: {layout.train_rows} training rows {sign} "
        f"model.embedding_min_rows {model.embedding_min_rows})"
    )


def embedding_spec(model: ModelParams, layout: FeatureLayout) -> dict[str, Any] | None:
    """The model spec's `embeddings` entry for these params and features (None: none apply)."""
    spec: dict[str, Any] = {}
    kind = numeric_embedding_kind(model, layout.train_rows)
    if kind != "none" and layout.numeric:
        spec["numeric"] = {
            "kind": kind,
            "columns": list(layout.numeric),
            "dim": model.num_embedding_dim,
            "frequencies": model.frequencies,
            "frequency_scale": model.frequency_scale,
            "lite": model.num_embedding_lite,
        }
    if model.categorical == "embedding":
        if layout.onehot:
            raise PipelineError(
                f"model.categorical: embedding embeds ordinal codes, but {layout.onehot} are "
                f"one-hot encoded; set encode.method: ordinal (and no method: onehot for them "
                f"in the schema file's encode rules), or model.categorical: onehot"
            )
        if layout.ordinal:
            cards = [card for _, card in layout.ordinal]
            spec["categorical"] = {
                "columns": [position for position, _ in layout.ordinal],
                "cardinalities": cards,
                "dims": [categorical_dim(card, model.categorical_max_dim) for card in cards],
            }
    return spec or None


def embedding_size(in_features: int, spec: Mapping[str, Any] | None) -> tuple[int, int]:
    """(width the first hidden layer sees, trainable parameters of the embeddings)."""
    width, parameters = in_features, 0
    numeric = (spec or {}).get("numeric")
    if numeric:
        m, k, d = len(numeric["columns"]), numeric["frequencies"], numeric["dim"]
        width += m * (d - 1)
        linears = 1 if numeric["lite"] else m
        parameters += m * k + linears * (2 * k * d + d)
    categorical = (spec or {}).get("categorical")
    if categorical:
        for card, dim in zip(categorical["cardinalities"], categorical["dims"], strict=True):
            width += dim - 1
            parameters += (card + 1) * dim
    return width, parameters
