"""Dates as numbers: a date/time column (ISO-like text, or a Parquet timestamp or date) becomes
the numeric features `<column>_year`, `_month`, `_day`, `_dayofweek` (Monday = 0), `_hour` (only
when some time in the table is not midnight) and `_days` (days since 1970-01-01, fractional).

What counts as a date in text (surrounding whitespace ignored): `2024-01-31` or `2024/01/31`,
optionally followed by a time `12:00`, `12:00:30` or `12:00:30.125` (after a space or `T`) and a
zone `Z`, `+02:00`, `+0200` or `+02`. Every time is converted to UTC; a time without a zone is
taken as UTC already; so is a Parquet timestamp without a time zone. A cell that does not match,
or names no real date (2024-02-30), is not a date: validate makes it null and reports it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from pipeline.core.tables import date_columns, date_feature

PARTS = ("year", "month", "day", "dayofweek", "hour", "days")
_DATE = (
    r"^\s*[0-9]{4}(-[0-9]{2}-[0-9]{2}|/[0-9]{2}/[0-9]{2})"
    r"([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?)?\s*$"
)
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")
_UNIT = "datetime64[us, UTC]"  # one resolution, whatever the file's: the same features


def is_timestamp(values: pd.Series) -> bool:
    """A column of typed date/times (a Parquet timestamp), not text."""
    return ptypes.is_datetime64_any_dtype(values)


def parse_dates(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(each value as a UTC time, NaT where null or not a date; whether it is a date)."""
    if is_timestamp(values):
        times = (
            values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
        )
        times = times.astype(_UNIT)
        return times, times.notna().to_numpy()
    text = pa.array(values.astype("str"), type=pa.string(), from_pandas=True)
    matched = pc.fill_null(pc.match_substring_regex(text, _DATE), False).to_numpy(
        zero_copy_only=False
    )
    times = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[us]")
    if matched.any():
        cells = pc.utf8_trim_whitespace(pc.filter(text, pa.array(matched)))
        cells = pc.replace_substring_regex(cells, r"^([0-9]{4})/([0-9]{2})/", r"\1-\2-")
        parsed = pd.to_datetime(cells.to_pandas(), format="ISO8601", utc=True, errors="coerce")
        times[matched] = parsed.astype(_UNIT).dt.tz_localize(None).to_numpy()
    times = pd.Series(times, index=values.index).dt.tz_localize("UTC")
    return times, times.notna().to_numpy()


def has_time(times: pd.Series) -> bool:
    """Whether some time is not midnight (UTC)."""
    valid = times.dropna()
    return bool((valid != valid.dt.floor("D")).any())


def date_parts(timed: bool) -> list[str]:
    """The features of a date column: `hour` only when some time is not midnight."""
    return [p for p in PARTS if p != "hour" or timed]


def feature_sources(dates: dict[str, list[str]]) -> dict[str, str]:
    """Date feature -> its date column (`d_year` -> `d`), from date column -> parts."""
    return {f: column for column, features in date_columns(dates).items() for f in features}


def date_features(
    df: pd.DataFrame, dates: dict[str, list[str]]
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """`df` with each date column replaced, in place, by its features (float64; NaN where the
    cell is null or not a date); and the cells that were not dates, by column."""
    if not dates:
        return df, {}
    bad: dict[str, pd.Series] = {}
    columns: dict[str, pd.Series] = {}
    for column in df.columns:
        if column not in dates:
            columns[column] = df[column]
            continue
        values = df[column]
        times, ok = parse_dates(values)
        wrong = values.notna().to_numpy() & ~ok
        if wrong.any():
            bad[column] = values[wrong]
        for part in dates[column]:
            columns[date_feature(column, part)] = _part(times, part).astype(np.float64)
    return pd.DataFrame(columns, index=df.index), bad


def _part(times: pd.Series, part: str) -> pd.Series:
    if part == "days":
        return (times - _EPOCH) / pd.Timedelta(days=1)
    return getattr(times.dt, "day_of_week" if part == "dayofweek" else part).astype(np.float64)
