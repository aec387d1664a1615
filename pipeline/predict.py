"""predict: the trained pipeline applied to new rows of the same kind of table.

`python -m pipeline predict --input new.csv --output predictions.csv [--id-column id]`

Everything comes from saved JSON and safetensors (no pickle): the cleaning rules validate
applied (models/preprocess/cleaning.json), the preprocessing fitted on train rows
(models/preprocess/preprocessor.json: imputer, scaler, encoder), and the model. The input is
checked against what the model was trained on first; rows that cleaning would have dropped are
listed in the output with the reason instead of a prediction.

The input is read twice in batches of `data.batch_rows` rows (`pipeline.rawfile`): once to type
each column for the whole file as `pandas.read_csv` would (`pipeline.column_types`), then to
predict batch by batch, appending to a temporary CSV renamed onto `--output` at the end. Memory
is set by the batch size, not by the file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from pandas.api import types as ptypes

from pipeline import io
from pipeline.column_types import apply_types, decide_types, profile
from pipeline.errors import PipelineError
from pipeline.evaluate import load_model
from pipeline.model import MLP, outputs_to_predictions
from pipeline.preprocess import Preprocessor, decode_values, fixed_chunks
from pipeline.rawfile import RawFile, Unreadable
from pipeline.schema import TableSchema

# Rows per forward pass, fixed (not data.batch_rows): a row's float32 output can differ in its
# last bit with the number of rows beside it, so a fixed block keeps the output's bytes the same
# for any batch size read.
PREDICT_ROWS = 65_536


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


def text_in_numbers_error(column: str, bad: pd.Series) -> PipelineError:
    shown = ", ".join(f"row {r} = {v!r}" for r, v in bad.head(3).items())
    return PipelineError(
        f"predict: column {column!r} must hold finite numbers, as in training; "
        f"{len(bad)} value(s) do not ({shown})"
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
            raise text_in_numbers_error(names[column], bad)
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
    model: MLP,
) -> pd.DataFrame:
    """One output row per input row, in input order."""
    with torch.no_grad():
        outputs = model(torch.tensor(features.to_numpy(dtype=np.float32)))
    # float64 whatever the batch holds, so a value is written the same in every batch
    predicted = outputs_to_predictions(outputs, card["task"]).astype(np.float64)
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


def open_input(input_path: str, batch_rows: int, names: list[str]) -> RawFile:
    """The input file, its model columns checked; a file that is not a table is named."""
    if not Path(input_path).exists():
        raise PipelineError(f"--input: {input_path!r} does not exist")
    try:
        raw = RawFile(Path(input_path), batch_rows)
    except Unreadable as exc:
        raise PipelineError(f"--input: {input_path!r} {exc}") from None
    missing = [name for name in names if name not in raw.columns]
    if missing:
        raise PipelineError(
            f"predict: input lacks column(s) {missing} that the model was trained on; "
            f"it has {raw.columns}"
        )
    return raw


def typed_batches(
    raw: RawFile, columns: list[str], schema: TableSchema, input_path: str
) -> Iterator[pd.DataFrame]:
    """The input's `columns`, typed once for the whole file (pass 1), in blocks of
    PREDICT_ROWS rows whatever the batch size read (one empty block for an empty file)."""
    empty = None
    for block in fixed_chunks(_typed(raw, columns, schema, input_path), PREDICT_ROWS):
        empty = False
        yield block
    if empty is None:
        yield next(_typed(raw, columns, schema, input_path))


def _typed(
    raw: RawFile, columns: list[str], schema: TableSchema, input_path: str
) -> Iterator[pd.DataFrame]:
    try:
        types = decide_types(profile(f[columns] for f in raw.batches()), schema)
        if raw.ragged:
            raise PipelineError(
                f"--input: {input_path!r} has {raw.ragged} row(s) whose field count differs "
                f"from the header's"
            )
        for frame in raw.batches():
            typed = apply_types(frame[columns], types)
            for column, bad in typed.text_in_numbers.items():
                raise text_in_numbers_error(column, bad)
            yield typed.frame
    except Unreadable as exc:
        raise PipelineError(f"--input: {input_path!r} {exc}") from None


def run_predict(
    input_path: str,
    output_path: str,
    id_column: str | None = None,
    batch_rows: int = 262_144,
) -> None:
    """Read, check, prepare and predict `input_path` batch by batch; write the CSV atomically."""
    needed = [io.CLEANING, io.PREPROCESSOR, io.MODEL_CARD, io.MODEL_WEIGHTS]
    absent = [str(p) for p in needed if not p.exists()]
    if absent:
        raise PipelineError(f"predict: missing {absent}; run `dvc repro` to train first")
    card = io.read_json(io.MODEL_CARD)
    cleaning = io.read_json(io.CLEANING)
    pre = Preprocessor.from_json(io.read_json(io.PREPROCESSOR))
    schema = TableSchema.model_validate(cleaning["schema"])
    names = list(dict.fromkeys(raw_names(pre, schema).values()))
    raw = open_input(input_path, batch_rows, names)
    if id_column is not None and id_column not in raw.columns:
        raise PipelineError(f"predict: --id-column {id_column!r} is not a column of the input")
    columns = list(dict.fromkeys([*names, *([id_column] if id_column else [])]))
    model = load_model(card)
    rows = predicted = skipped = 0
    skipped_rows: list[int] = []  # the first few, for the message
    unseen: dict[str, int] = {}
    with io.atomic_path(Path(output_path)) as tmp, open(tmp, "w", newline="") as handle:
        for batch in typed_batches(raw, columns, schema, input_path):
            features, batch_skipped, batch_unseen = prepare(batch, cleaning, pre)
            out = predictions_frame(batch, features, batch_skipped, card, id_column, model)
            # text cells escaped: no formulas in a spreadsheet
            io.csv_safe(out).to_csv(handle, index=False, header=rows == 0)
            rows += len(batch)
            predicted += len(features)
            skipped += len(batch_skipped)
            skipped_rows += list(batch_skipped)[: 10 - len(skipped_rows)]
            for column, count in batch_unseen.items():
                unseen[column] = unseen.get(column, 0) + count
    for column, count in unseen.items():
        print(
            f"predict: {count} row(s) with a category of {column!r} unseen in training "
            f"(encoded as unseen: all-zero one-hot or the reserved ordinal code)",
            file=sys.stderr,
        )
    if skipped:
        shown = ", ".join(str(r) for r in skipped_rows)
        print(
            f"predict: {skipped} row(s) not predicted, as cleaning would drop them "
            f"(rows {shown}{', ...' if skipped > 10 else ''}); see the 'skipped' column",
            file=sys.stderr,
        )
    print(f"predict: {predicted} of {rows} rows predicted -> {output_path}")
