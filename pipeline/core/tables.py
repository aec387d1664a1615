"""Facts about tables every layer shares: the encoded label's column name, which columns are
numbers, the names of a date column's features, and frames read in batches (a source of train
rows, fixed-size chunks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

import pandas as pd
from pandas.api import types as ptypes

LABEL = "_target"  # encoded target column: class index, or the (standardized) regression value


# Reads the train rows: columns (None = all) -> frames, in table order.
Batches = Callable[[list[str] | None], Iterable[pd.DataFrame]]


def frame_batches(df: pd.DataFrame) -> Batches:
    """A whole in-memory frame as a one-batch source for `Preprocessor.fit`."""
    return lambda columns: [df if columns is None else df[columns]]


def is_numeric(values: pd.Series) -> bool:
    """Numeric columns are scaled as numbers; everything else (booleans too) is a category."""
    return ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values)


def numeric_features(df: pd.DataFrame, target: str) -> list[str]:
    """Numeric feature columns in table order (booleans count as categories)."""
    return [c for c in df.columns if c != target and is_numeric(df[c])]


def date_feature(column: str, part: str) -> str:
    """The name of a date column's feature (`pipeline.checks.dates`): `<column>_<part>`."""
    return f"{column}_{part}"


def date_columns(dates: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Date column -> the names of its features, from date column -> parts (validate's
    `roles.dates`, as models/preprocess/cleaning.json holds them)."""
    return {column: [date_feature(column, p) for p in parts] for column, parts in dates.items()}


def fixed_chunks(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Re-cut frames into chunks of exactly `rows` rows (the last may be shorter)."""
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        while len(frame):
            piece = frame.iloc[: rows - held]
            frame = frame.iloc[len(piece) :]
            pending.append(piece)
            held += len(piece)
            if held == rows:
                yield pending[0] if len(pending) == 1 else pd.concat(pending)
                pending, held = [], 0
    if held:
        yield pending[0] if len(pending) == 1 else pd.concat(pending)
