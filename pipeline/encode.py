"""encode: impute, scale numeric columns, one-hot or ordinal-encode the categorical ones, encode
the target.

Categories and class labels are learned from train rows only and saved in encoder.json with the
final feature order. `encode.method` (onehot | ordinal) is the default for every categorical
column; the table's schema file overrides it per column and may fix the order of ordinal codes:

    encode:
      size: {method: ordinal, order: [small, medium, large]}

A category unseen in train becomes an all-zero one-hot row or ordinal code -1 (counted per
column and split in reports/encode.json), or stops the stage with `encode.unknown: error`.
Output tables hold float32 features plus the `_target` column: class index (classification) or
the value (regression). reports/preview.md shows the first 25 train rows raw beside encoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import Params, load_params
from pipeline.errors import PipelineError
from pipeline.preview import preview_markdown
from pipeline.scale import apply_imputer, apply_scaler
from pipeline.schema import EncodeRule, load_schema

LABEL = "_target"
UNSEEN_CODE = -1.0  # ordinal code of a category not seen in train rows


def fit_encoder(
    train: pd.DataFrame,
    numeric: list[str],
    target: str,
    task: str,
    unknown: str,
    scale_target: bool = False,
    method: str = "onehot",
    rules: Mapping[str, EncodeRule] | None = None,
) -> dict[str, Any]:
    """Categories per categorical column (one-hot or ordinal by `method` and the schema's per-column
    `rules`), the class list, and for regression the target's standardization (mean/std), all
    from the train rows only."""
    rules = dict(rules or {})
    names = [c for c in train.columns if c != target and c not in numeric]
    stray = [c for c in rules if c not in names]
    if stray:
        raise PipelineError(
            f"schema encode: {stray} are not categorical feature columns of the table "
            f"(categorical: {names}; a numeric column needs type: categorical in the schema's "
            f"columns to be encoded as categories)"
        )
    categorical: dict[str, list[str]] = {}
    encoding: dict[str, str] = {}
    for column in names:
        seen = sorted(train[column].astype(str).unique().tolist())
        rule = rules.get(column)
        encoding[column] = rule.method if rule else method
        if rule is not None and rule.order is not None:
            order = [str(v) for v in rule.order]
            missing = [v for v in seen if v not in order]
            if missing:
                raise PipelineError(
                    f"schema encode.{column}.order: train rows hold {missing}, which the "
                    f"declared order {order} lacks; add them to the order"
                )
            categorical[column] = order
        else:
            categorical[column] = seen
    features = []
    for column in train.columns:
        if column in numeric or encoding.get(column) == "ordinal":
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
        "encoding": encoding,
        "features": features,
        "classes": classes,
        "target_scaling": target_scaling,
        "unknown": unknown,
    }


def encode_features(
    df: pd.DataFrame, encoder: dict[str, Any], split: str = "input"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Feature matrix in the encoder's order, and how many rows held an unseen category."""
    blocks: dict[str, np.ndarray] = {}
    unseen: dict[str, int] = {}
    for column in encoder["numeric"]:
        blocks[column] = df[column].to_numpy(dtype=np.float32)
    encoding = encoder.get("encoding", {})
    for column, categories in encoder["categorical"].items():
        values = df[column].astype(str)
        known = values.isin(categories)
        if not known.all():
            unseen[column] = int((~known).sum())
            if encoder["unknown"] == "error":
                examples = values[~known].head(3).to_dict()
                raise PipelineError(
                    f"encode: column {column!r} has categories not seen in train rows "
                    f"({split} split, {unseen[column]} row(s); row: value {examples}); "
                    f"known: {categories}. Set encode.unknown: ignore to encode them as "
                    f"all-zero one-hot rows (ordinal: code {UNSEEN_CODE:g})"
                )
        if encoding.get(column, "onehot") == "ordinal":
            codes = values.map({cat: float(i) for i, cat in enumerate(categories)})
            blocks[column] = codes.fillna(UNSEEN_CODE).to_numpy(dtype=np.float32)
        else:
            for cat in categories:
                blocks[f"{column}={cat}"] = (values == cat).to_numpy(dtype=np.float32)
    out = pd.DataFrame({name: blocks[name] for name in encoder["features"]}, index=df.index)
    return out, unseen


def check_no_nulls(df: pd.DataFrame, columns: list[str], split: str) -> None:
    """Nulls left after imputation (clean.missing: drop should have removed them) stop here."""
    nulls = df[columns].isna().sum()
    nulls = nulls[nulls > 0]
    if len(nulls):
        column = nulls.index[0]
        row = df.index[df[column].isna().to_numpy()][0]
        raise PipelineError(
            f"encode: the {split} split has nulls in {nulls.to_dict()} (e.g. column {column!r}, "
            f"row {row}); set clean.missing: impute, or drop those rows in validate"
        )


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


def target_scale(encoder: dict[str, Any]) -> float:
    """Factor from standardized regression errors back to the target's units (1 if unscaled)."""
    scaling = encoder.get("target_scaling")
    return scaling["scale"] if scaling else 1.0


def decode_values(values: np.ndarray, encoder: dict[str, Any]) -> np.ndarray:
    """Regression values back in the target's original units."""
    scaling = encoder.get("target_scaling")
    return values if scaling is None else values * scaling["scale"] + scaling["center"]


def encode_table(
    df: pd.DataFrame,
    scaler: dict[str, Any],
    encoder: dict[str, Any],
    split: str,
    imputer: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Impute (when an imputer is given), scale and encode one split; also the unseen counts."""
    if imputer is not None:
        df, _ = apply_imputer(df, imputer)
    check_no_nulls(df, [*encoder["numeric"], *encoder["categorical"], encoder["target"]], split)
    features, unseen = encode_features(apply_scaler(df, scaler), encoder, split)
    features[LABEL] = encode_target(df[encoder["target"]], encoder, split)
    return features, unseen


def run(params: Params) -> None:
    parts = {name: io.read_table(io.SPLIT_DIR / f"{name}.parquet") for name in io.SPLITS}
    task = io.read_json(io.SPLIT_DIR / "split.json")["task"]
    scaler = io.read_json(io.SCALER)
    imputer = io.read_json(io.IMPUTER)
    schema, _ = load_schema(params.data.path)
    filled = {name: apply_imputer(part, imputer) for name, part in parts.items()}
    encoder = fit_encoder(
        filled["train"][0],
        scaler["columns"],
        params.data.target,
        task,
        params.encode.unknown,
        params.encode.scale_target,
        method=params.encode.method,
        rules=schema.encode,
    )
    tables, unseen = {}, {}
    for name, (part, _) in filled.items():
        tables[name], unseen[name] = encode_table(part, scaler, encoder, name)
    with io.atomic_dir(io.ENCODED_DIR) as out:
        for name, table in tables.items():
            io.write_table(table, out / f"{name}.parquet")
    io.write_json(encoder, io.ENCODER)
    io.write_json(
        {
            "features": len(encoder["features"]),
            "encoding": encoder["encoding"],
            "unknown": params.encode.unknown,
            "unseen": unseen,
            "imputed": {name: counts for name, (_, counts) in filled.items()},
        },
        io.ENCODE_REPORT,
    )
    io.write_text(preview_markdown(parts["train"], tables["train"], encoder), io.PREVIEW)
    for name, counts in unseen.items():
        for column, count in counts.items():
            coded = "code -1" if encoder["encoding"][column] == "ordinal" else "all zeros"
            print(
                f"encode: {name}: {count} row(s) with a category of {column!r} unseen in "
                f"train, encoded as {coded}"
            )
    print(
        f"encode: {len(encoder['features'])} features "
        f"({len(encoder['numeric'])} numeric, {len(encoder['categorical'])} categorical); "
        f"task {task}" + (f", {len(encoder['classes'])} classes" if encoder["classes"] else "")
    )


if __name__ == "__main__":
    run(load_params())
