"""New rows for `predict`, held to what the model was trained on: the columns it needs, typed for
the whole file as validate types them, numbers that are finite and within ±validate.max_abs, and the
cleaning validate applied
(date columns replaced by the same features, `pipeline.checks.dates`; columns dropped for their
role are not needed; unit conversions; rows with a null skipped under clean.missing: drop, with
the reason).

The input is read twice in batches of `data.batch_rows` rows (`pipeline.checks.rawfile`): once
to type each column for the whole file as `pandas.read_csv` would
(`pipeline.checks.column_types`), then batch by batch in blocks of PREDICT_ROWS rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from pipeline.checks.cleaning import convert_units
from pipeline.checks.column_types import apply_types, decide_types, profile
from pipeline.checks.dates import date_features, feature_sources
from pipeline.checks.dialect import Dialect
from pipeline.checks.rawfile import RawFile, Unreadable
from pipeline.core.errors import PipelineError
from pipeline.core.params import CsvParams
from pipeline.core.schema import TableSchema
from pipeline.core.tables import fixed_chunks
from pipeline.features.preprocessor import Preprocessor

# Rows per forward pass, fixed (not data.batch_rows): a row's float32 output can differ in its
# last bit with the number of rows beside it, so a fixed block keeps the output's bytes the same
# for any batch size read.
PREDICT_ROWS = 65_536


def learned_dates(cleaning: dict[str, Any]) -> dict[str, list[str]]:
    """Date column -> its features, as validate made them (none in a model trained before)."""
    return cleaning.get("roles", {}).get("dates", {})


def raw_names(
    pre: Preprocessor, schema: TableSchema, dates: dict[str, list[str]] | None = None
) -> dict[str, str]:
    """Column the model sees -> column of the raw table (undoing the schema's unit renames;
    a date feature comes from its date column)."""
    renamed = {u.rename: col for col, u in schema.units.items() if u.rename}
    renamed |= feature_sources(dates or {})
    return {c: renamed.get(c, c) for c in [*pre.numeric_, *pre.categories_]}


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


def check_bound(
    df: pd.DataFrame, pre: Preprocessor, names: dict[str, str], max_abs: float | None
) -> None:
    """Numbers beyond ±validate.max_abs (after unit conversion) are refused, as validate refused
    them in training (None: a model saved before the bound)."""
    if max_abs is None:
        return
    for column in pre.numeric_:
        values = df[column]
        bad = values[values.abs() > max_abs]
        if len(bad):
            shown = ", ".join(f"row {r} = {v!r}" for r, v in bad.head(3).items())
            raise PipelineError(
                f"predict: column {names[column]!r} must hold numbers within ±{max_abs:g} "
                f"(validate.max_abs), as in training; {len(bad)} value(s) do not ({shown})"
            )


def prepare(
    raw: pd.DataFrame,
    cleaning: dict[str, Any],
    pre: Preprocessor,
) -> tuple[pd.DataFrame, dict[int, str], dict[str, int]]:
    """(encoded features of the rows that can be predicted, {row: why not} for the others,
    {column: rows with a category unseen in training}); `raw` holds the model's columns
    (`open_input` checked them)."""
    schema = TableSchema.model_validate(cleaning["schema"])
    dates = learned_dates(cleaning)
    names = raw_names(pre, schema, dates)
    raw, not_dates = date_features(raw, {c: p for c, p in dates.items() if c in raw})
    features = {c: c for c, raw_column in names.items() if raw_column in dates}
    df = convert_units(coerce(raw, pre, names | features), schema.units)
    check_bound(df, pre, names | features, cleaning.get("max_abs"))

    skipped: dict[int, str] = {}
    nulls = df.isna()
    if cleaning["missing"] == "drop":
        for row in df.index[nulls.any(axis=1)]:
            columns = dict.fromkeys(names[c] for c in df.columns[nulls.loc[row].to_numpy()])
            shown = [
                f"{c} (not a date)" if c in not_dates and row in not_dates[c].index else c
                for c in columns
            ]
            skipped[int(row)] = f"null in {', '.join(shown)} (clean.missing: drop)"
        df = df[~nulls.any(axis=1)]
    encoded = pre.transform(df, split="input", target=False)
    return encoded.table, skipped, encoded.unseen


def open_input(
    input_path: str,
    batch_rows: int,
    names: list[str],
    dialect: CsvParams | None = None,
    trained: dict[str, str] | None = None,
) -> RawFile:
    """The input file (a CSV split as `dialect`, data.csv, says; where that is auto and its head
    cannot tell, as `trained`, the training table's dialect), its model columns checked; a file
    that is not a table is named."""
    if not Path(input_path).exists():
        raise PipelineError(f"--input: {input_path!r} does not exist")
    try:
        known = None if trained is None else Dialect(**trained)
        raw = RawFile(Path(input_path), batch_rows, dialect, known)
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
                f"from the header's{raw.dialect.hint if raw.dialect else ''}"
            )
        for frame in raw.batches():
            typed = apply_types(frame[columns], types)
            for column, bad in typed.text_in_numbers.items():
                raise text_in_numbers_error(column, bad)
            yield typed.frame
    except Unreadable as exc:
        raise PipelineError(f"--input: {input_path!r} {exc}") from None
