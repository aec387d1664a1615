"""encode: scale numeric columns, one-hot the categorical ones, encode the target.

Categories and class labels are learned from train rows only and saved in encoder.json with the
final feature order. Output tables hold float32 features plus the `_target` column: class index
(classification) or the value (regression).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import Params, load_params
from pipeline.errors import PipelineError
from pipeline.scale import apply_scaler

LABEL = "_target"


def fit_encoder(
    train: pd.DataFrame,
    numeric: list[str],
    target: str,
    task: str,
    unknown: str,
    scale_target: bool = False,
) -> dict[str, Any]:
    """Categories per categorical column, the class list, and for regression the target's
    standardization (mean/std), all from the train rows only."""
    categorical = {
        c: sorted(train[c].astype(str).unique().tolist())
        for c in train.columns
        if c != target and c not in numeric
    }
    features = []
    for column in train.columns:
        if column in numeric:
            features.append(column)
        elif column in categorical:
            features += [f"{column}={cat}" for cat in categorical[column]]
    classes = None if task == "regression" else sorted(train[target].astype(str).unique().tolist())
    target_scaling = None
    if task == "regression" and scale_target:
        y = train[target].to_numpy(dtype=np.float64)
        std = float(y.std())
        target_scaling = {"center": float(y.mean()), "scale": std if std > 0 else 1.0}
    return {
        "task": task,
        "target": target,
        "numeric": numeric,
        "categorical": categorical,
        "features": features,
        "classes": classes,
        "target_scaling": target_scaling,
        "unknown": unknown,
    }


def encode_features(
    df: pd.DataFrame, encoder: dict[str, Any]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Feature matrix in the encoder's order, and how many rows held an unseen category."""
    blocks: dict[str, np.ndarray] = {}
    unseen: dict[str, int] = {}
    for column in encoder["numeric"]:
        blocks[column] = df[column].to_numpy(dtype=np.float32)
    for column, categories in encoder["categorical"].items():
        values = df[column].astype(str)
        known = values.isin(categories)
        if not known.all():
            unseen[column] = int((~known).sum())
            if encoder["unknown"] == "error":
                examples = values[~known].head(3).to_dict()
                raise PipelineError(
                    f"encode: column {column!r} has categories not seen in train rows "
                    f"(row: value {examples}); known: {categories}. "
                    f"Set encode.unknown: ignore to encode them as all-zero rows"
                )
        for cat in categories:
            blocks[f"{column}={cat}"] = (values == cat).to_numpy(dtype=np.float32)
    out = pd.DataFrame({name: blocks[name] for name in encoder["features"]}, index=df.index)
    return out, unseen


def encode_target(y: pd.Series, encoder: dict[str, Any], split: str) -> np.ndarray:
    """Class index, or the (standardized) regression value as float64 so it inverts exactly."""
    if encoder["classes"] is None:
        values = y.to_numpy(dtype=np.float64)
        scaling = encoder["target_scaling"]
        return values if scaling is None else (values - scaling["center"]) / scaling["scale"]
    index = {label: i for i, label in enumerate(encoder["classes"])}
    codes = y.astype(str).map(index)
    if codes.isna().any():
        bad = y[codes.isna()]
        raise PipelineError(
            f"encode: target {y.name!r} in the {split} split has classes absent from train rows: "
            f"{sorted(bad.astype(str).unique())} (e.g. row {bad.index[0]}); "
            f"use split.stratify: true or more data"
        )
    return codes.to_numpy(dtype=np.int64)


def decode_values(values: np.ndarray, encoder: dict[str, Any]) -> np.ndarray:
    """Regression values back in the target's original units."""
    scaling = encoder.get("target_scaling")
    return values if scaling is None else values * scaling["scale"] + scaling["center"]


def encode_table(
    df: pd.DataFrame, scaler: dict[str, Any], encoder: dict[str, Any], split: str
) -> tuple[pd.DataFrame, dict[str, int]]:
    features, unseen = encode_features(apply_scaler(df, scaler), encoder)
    features[LABEL] = encode_target(df[encoder["target"]], encoder, split)
    return features, unseen


def run(params: Params) -> None:
    parts = {name: io.read_table(io.SPLIT_DIR / f"{name}.parquet") for name in io.SPLITS}
    task = io.read_json(io.SPLIT_DIR / "split.json")["task"]
    scaler = io.read_json(io.SCALER)
    encoder = fit_encoder(
        parts["train"],
        scaler["columns"],
        params.data.target,
        task,
        params.encode.unknown,
        params.encode.scale_target,
    )
    with io.atomic_dir(io.ENCODED_DIR) as out:
        for name, part in parts.items():
            table, unseen = encode_table(part, scaler, encoder, name)
            for column, count in unseen.items():
                print(
                    f"encode: {name}: {count} row(s) with a category of {column!r} unseen in "
                    f"train, encoded as all zeros"
                )
            io.write_table(table, out / f"{name}.parquet")
    io.write_json(encoder, io.ENCODER)
    print(
        f"encode: {len(encoder['features'])} features "
        f"({len(encoder['numeric'])} numeric, {len(encoder['categorical'])} categorical); "
        f"task {task}" + (f", {len(encoder['classes'])} classes" if encoder["classes"] else "")
    )


if __name__ == "__main__":
    run(load_params())
