"""How big the configured model is, without torch: the numbers `validate` sizes the data against.

They must equal what `train` builds: tests compare `mlp_parameter_count` with
`pipeline.model.mlp.count_parameters(MLP(...))` and `encoded_width` with the features `encode` fits.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping
from typing import Any

import pandas as pd

from pipeline.core.tables import is_numeric
from pipeline.model.feature_layout import embedding_size

# Trainable values per unit of a hidden layer that a normalization layer adds (its scale and shift).
NORMALIZATION_PARAMS = {"none": 0, "batch": 2, "layer": 2}


def mlp_parameter_count(
    in_features: int,
    hidden: list[int],
    out_features: int,
    normalization: str = "none",
    ensemble: int = 1,
    ensemble_kind: str = "mini",
    embeddings: Mapping[str, Any] | None = None,
) -> int:
    """Weights and biases of every Linear layer, plus 2 per hidden unit for batch/layer norm,
    plus the input embeddings (`embeddings`: the model spec's entry, feature_layout.py).

    An ensemble of k > 1 (pipeline.model.ensemble) shares the hidden weights and adds k output heads
    and its adapters: `mini` one input scale per member (k x inputs); `batch` per member an
    input scale, an output scale and a bias in every hidden layer (no shared bias there)."""
    if normalization not in NORMALIZATION_PARAMS:
        raise ValueError(f"unknown normalization {normalization!r}")
    width, embedded = embedding_size(in_features, embeddings)
    k = ensemble
    norms = NORMALIZATION_PARAMS[normalization] * sum(hidden)
    heads = k * (([width, *hidden][-1] + 1) * out_features)
    layers = list(itertools.pairwise([width, *hidden]))
    if k > 1 and ensemble_kind == "batch" and hidden:
        return embedded + sum(a * b + k * (a + 2 * b) for a, b in layers) + heads + norms
    adapter = k * width if k > 1 else 0
    return embedded + sum(a * b + b for a, b in layers) + heads + adapter + norms


def encoded_width(
    df: pd.DataFrame,
    target: str,
    ordinal: Collection[str] = (),
    exclude: Collection[str] = (),
) -> int:
    """Input width `encode` gives this table: 1 per numeric feature and per `ordinal` column,
    1 per category for every other (one-hot) column; `exclude` names non-features (a group)."""
    categories = {}
    for column in df.columns:
        if column == target or column in exclude:
            continue
        values = df[column]
        if is_numeric(values) or column in ordinal:
            categories[column] = None
        else:
            categories[column] = int(values.astype(str).nunique(dropna=False))
    return features_width(categories)


def features_width(categories: Mapping[str, int | None]) -> int:
    """Input width from each feature's category count: None (a number, or an ordinal code)
    is 1 input, n categories (one-hot) are n inputs."""
    return sum(1 if n is None else n for n in categories.values())


def output_width(task: str, n_classes: int) -> int:
    """1 logit for binary, one per class for multiclass, 1 value for regression."""
    return n_classes if task == "multiclass" else 1
