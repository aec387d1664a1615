"""predict: the trained pipeline applied to new rows of the same kind of table.

`python -m pipeline predict --input new.csv --output predictions.csv [--id-column id]`

Everything comes from saved JSON and safetensors (no pickle): the cleaning rules validate
applied (models/preprocess/cleaning.json), the preprocessing fitted on train rows
(models/preprocess/preprocessor.json: imputer, scaler, encoder), and the model. The input is
checked against what the model was trained on first; rows that cleaning would have dropped are
listed in the output with the reason instead of a prediction.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api import types as ptypes

from pipeline import io
from pipeline.errors import PipelineError
from pipeline.evaluate import load_model
from pipeline.model import outputs_to_predictions
from pipeline.preprocess import Preprocessor, decode_values
from pipeline.schema import TableSchema


def raw_names(pre: Preprocessor, schema: TableSchema) -> dict[str, str]:
    """Column the model sees -> column of the raw table (undoing the schema's unit renames)."""
    renamed = {u.rename: col for col, u in schema.units.items() if u.rename}
    return {c: renamed.get(c, c) for c in [*pre.numeric_, *pre.categories_]}


def check_columns(raw: pd.DataFrame, names: dict[str, str]) -> None:
    missing = [raw_col for raw_col in names.values() if raw_col not in raw.columns]
    if missing:
        raise PipelineError(
            f"predict: input lacks column(s) {missing} that the model was trained on; "
            f"it has {list(raw.columns)}"
        )


def coerce(raw: pd.DataFrame, pre: Preprocessor, names: dict[str, str]) -> pd.DataFrame:
    """The model's columns from `raw`, typed as in training; text in a numeric column or an
    infinite value is an error naming the column and rows."""
    df = pd.DataFrame(index=raw.index)
    for column in pre.numeric_:
        values = raw[names[column]]
        numbers = (
            values if ptypes.is_numeric_dtype(values) else pd.to_numeric(values, errors="coerce")
        )
        bad = values[(numbers.isna() & values.notna()) | np.isinf(numbers.astype(float))]
        if len(bad):
            shown = ", ".join(f"row {r} = {v!r}" for r, v in bad.head(3).items())
            raise PipelineError(
                f"predict: column {names[column]!r} must hold finite numbers, as in training; "
                f"{len(bad)} value(s) do not ({shown})"
            )
        df[names[column]] = numbers.astype(float)
    for column in pre.categories_:
        values = raw[names[column]]
        if ptypes.is_numeric_dtype(values):  # as validate does for a categorical number column
            values = values.astype("string").astype(str).where(values.notna())
        df[names[column]] = values
    return df


def prepare(
    raw: pd.DataFrame,
    cleaning: dict[str, Any],
    pre: Preprocessor,
) -> tuple[pd.DataFrame, dict[int, str], dict[str, int]]:
    """(encoded features of the rows that can be predicted, {row: why not} for the others,
    {column: rows with a category unseen in training})."""
    schema = TableSchema.model_validate(cleaning["schema"])
    names = raw_names(pre, schema)
    check_columns(raw, names)
    df = coerce(raw, pre, names)
    for column, unit in schema.units.items():
        if column in df:
            df[column] = df[column] * unit.scale
    df = df.rename(columns={raw_col: col for col, raw_col in names.items()})

    skipped: dict[int, str] = {}
    nulls = df.isna()
    if cleaning["missing"] == "drop":
        for row in df.index[nulls.any(axis=1)]:
            columns = [names[c] for c in df.columns[nulls.loc[row].to_numpy()]]
            skipped[int(row)] = f"null in {', '.join(columns)} (clean.missing: drop)"
        df = df[~nulls.any(axis=1)]
    encoded = pre.transform(df, split="input", target=False)
    return encoded.table, skipped, encoded.unseen


def predictions_frame(
    raw: pd.DataFrame,
    features: pd.DataFrame,
    skipped: dict[int, str],
    card: dict[str, Any],
    id_column: str | None,
) -> pd.DataFrame:
    """One output row per input row, in input order."""
    model = load_model(card)
    with torch.no_grad():
        outputs = model(torch.tensor(features.to_numpy(dtype=np.float32)))
    predicted = outputs_to_predictions(outputs, card["task"])
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


def run_predict(input_path: str, output_path: str, id_column: str | None = None) -> pd.DataFrame:
    """Read, check, prepare and predict `input_path`; write the CSV atomically."""
    needed = [io.CLEANING, io.PREPROCESSOR, io.MODEL_CARD, io.MODEL_WEIGHTS]
    absent = [str(p) for p in needed if not p.exists()]
    if absent:
        raise PipelineError(f"predict: missing {absent}; run `dvc repro` to train first")
    raw = io.read_raw(input_path, key="--input")
    if id_column is not None and id_column not in raw.columns:
        raise PipelineError(f"predict: --id-column {id_column!r} is not a column of the input")
    card = io.read_json(io.MODEL_CARD)
    features, skipped, unseen = prepare(
        raw,
        io.read_json(io.CLEANING),
        Preprocessor.from_json(io.read_json(io.PREPROCESSOR)),
    )
    out = predictions_frame(raw, features, skipped, card, id_column)
    io.write_csv(out, Path(output_path))  # text cells escaped: no formulas in a spreadsheet
    for column, count in unseen.items():
        print(
            f"predict: {count} row(s) with a category of {column!r} unseen in training "
            f"(encoded as unseen: all-zero one-hot or the reserved ordinal code)",
            file=sys.stderr,
        )
    if skipped:
        rows = ", ".join(str(r) for r in list(skipped)[:10])
        print(
            f"predict: {len(skipped)} row(s) not predicted, as cleaning would drop them "
            f"(rows {rows}{', ...' if len(skipped) > 10 else ''}); see the 'skipped' column",
            file=sys.stderr,
        )
    print(f"predict: {len(features)} of {len(raw)} rows predicted -> {output_path}")
    return out
