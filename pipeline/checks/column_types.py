"""What each column of the user's table holds, decided once for the whole table, then applied to
every batch the same way (a column is never numbers in one batch and text in the next).

A first pass (`profile`) counts, per text column, its nulls and the values that parse as numbers,
whole numbers or true/false; `decide_types` turns the counts into one type per column, as
`pandas.read_csv` would read the table (numbers → int64 without nulls, else float64;
True/False → bool; all-null → float64), with one difference: a text column whose non-null values
are *mostly* numbers (≥ NUMERIC_SHARE of them) is numbers with stray text: it becomes float64 and
every text cell in it is reported (rule `numeric_type`, with its rows), as in a column the schema
file declares numeric. Below the share (codes like 'A1', 'B2'; or 'S', 'M', '10' sizes) the
column stays text. The schema file's `type:` overrides the inference either way.

Why 0.8: a numeric column with one stray word in 1 of 7 rows (86% numbers) must be caught, while
a code column mixing letters and numbers ('A', 'B', '1', '2': 50%) must not; a declared
`type: categorical` keeps any column as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes

from pipeline.checks.expectations import BadCells
from pipeline.checks.validation_report import Report
from pipeline.core.errors import PipelineError
from pipeline.core.schema import TableSchema

NUMERIC_SHARE = 0.8
# Numbers as text (surrounding whitespace ignored): the grammar of Arrow's cast to float64
# (so a batch cast in one go and a batch matched value by value agree).
_NUMBER = r"^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|inf|infinity|nan)$"
_INTEGER = r"^-?[0-9]{1,18}$"  # what Arrow casts to int64
_BOOLEANS = {
    "True": True,
    "TRUE": True,
    "true": True,
    "False": False,
    "FALSE": False,
    "false": False,
}

# How a column is typed for the rest of the stage.
KEEP = "keep"  # as read (numbers, dates...)
INT = "int"  # whole numbers as text, no nulls -> int64
FLOAT = "float"  # numbers (or text of numbers) -> float64
BOOL = "bool"  # True/False, no nulls -> bool
BOOL_WITH_NULLS = "bool_with_nulls"  # booleans and nulls -> object, as pandas reads them
TEXT = "text"  # kept as text
NUMBERS_WITH_TEXT = "numbers_with_text"  # -> float64; text cells reported
TEXT_OF_NUMBERS = "text_of_numbers"  # numbers declared categorical -> their text ('1', '2.5')


@dataclass
class Profile:
    """Counts over the whole column (non-null values are `values`)."""

    native: str  # "text", "int", "float", "bool" or "other": what the file holds
    rows: int = 0
    nulls: int = 0
    numbers: int = 0
    integers: int = 0
    booleans: int = 0

    @property
    def values(self) -> int:
        return self.rows - self.nulls

    @property
    def number_share(self) -> float:
        return self.numbers / self.values if self.values else 0.0


@dataclass(frozen=True)
class ColumnType:
    kind: str
    as_read: str  # the type pandas would give: "int", "float", "bool", "text", "other"
    share: float = 0.0  # numbers among the non-null values (text columns)
    declared: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind in (INT, FLOAT, NUMBERS_WITH_TEXT) or (
            self.kind == KEEP and self.as_read in ("int", "float")
        )


@dataclass
class TypedBatch:
    frame: pd.DataFrame
    text_in_numbers: dict[str, pd.Series] = field(default_factory=dict)  # column -> bad cells


def native_kind(values: pd.Series) -> str:
    if ptypes.is_bool_dtype(values):
        return "bool"
    if ptypes.is_integer_dtype(values):
        return "int"
    if ptypes.is_float_dtype(values):
        return "float"
    if ptypes.is_string_dtype(values) or ptypes.is_object_dtype(values):
        return "text"
    if isinstance(values.dtype, pd.CategoricalDtype):
        return "text"
    return "other"


def _text_array(values: pd.Series) -> pa.Array:
    """Trimmed text of each value (null stays null), as an Arrow array."""
    if not ptypes.is_string_dtype(values) or ptypes.is_object_dtype(values):
        values = values.astype("str")
    array = pa.array(values, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.utf8_trim_whitespace(array)


def _matches(text: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(text, pattern, ignore_case=True), False)


def _cast_all(text: pa.Array, to: pa.DataType) -> pa.Array | None:
    """Arrow's cast of a batch of nothing but `to` values (numbers, whole numbers), else None.
    A failed cast costs far more than a good one, so the first values are tried alone first."""
    try:
        pc.cast(text.slice(0, 64), to)
        return pc.cast(text, to)
    except pa.ArrowInvalid:
        return None


def parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 of each value, NaN where null or not a number; whether it is a number), for a
    text column. Arrow's cast reads a batch of nothing but numbers in one go; otherwise the
    values that match _NUMBER (the same grammar) are cast."""
    text = _text_array(values)
    numbers = _cast_all(text, pa.float64())
    if numbers is not None:
        is_number = pc.is_valid(text)
    else:
        is_number = _matches(text, _NUMBER)
        numbers = pc.cast(pc.if_else(is_number, text, pa.scalar(None, text.type)), pa.float64())
    return numbers.to_numpy(zero_copy_only=False), is_number.to_numpy(zero_copy_only=False)


def whole_numbers(values: pd.Series) -> np.ndarray | None:
    """The values as int64 when every one is a whole number (text trimmed), else None (a null
    or a True/False is not one)."""
    if values.isna().any() or ptypes.is_bool_dtype(values):
        return None
    if ptypes.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64)
    ints = _cast_all(_text_array(values), pa.int64())
    return None if ints is None else ints.to_numpy(zero_copy_only=False)


def _count_text(p: Profile, values: pd.Series) -> None:
    """Add a batch of a text column to its counts: numbers, whole numbers, true/false words.
    `integers` counts only batches of nothing but whole numbers (all that matters is whether
    every value is one)."""
    text = _text_array(values)
    valid = len(text) - text.null_count
    numbers = _cast_all(text, pa.float64())
    if numbers is None:  # not all numbers: count distinct values (a few, in text columns)
        counts = pc.value_counts(text)
        distinct, times = counts.field("values"), counts.field("counts")
        for name, matched in (
            ("numbers", _matches(distinct, _NUMBER)),
            ("integers", _matches(distinct, _INTEGER)),
            ("booleans", pc.fill_null(pc.is_in(distinct, pa.array(list(_BOOLEANS))), False)),
        ):
            found = pc.sum(pc.if_else(matched, times, 0)).as_py() or 0
            setattr(p, name, getattr(p, name) + found)
        return
    p.numbers += valid
    numbers = numbers.to_numpy(zero_copy_only=False)
    finite = numbers[~np.isnan(numbers)]
    if np.array_equal(finite, np.round(finite)):
        p.integers += pc.sum(_matches(text, _INTEGER)).as_py() or 0


def profile(batches: Iterable[pd.DataFrame]) -> dict[str, Profile]:
    """Counts per column over every batch (numbers are parsed in text columns only)."""
    profiles: dict[str, Profile] = {}
    for frame in batches:
        for column in frame.columns:
            values = frame[column]
            p = profiles.setdefault(column, Profile(native_kind(values)))
            p.rows += len(values)
            p.nulls += int(values.isna().sum())
            if p.native == "text" and len(values):
                _count_text(p, values)
    return profiles


def decide_types(profiles: dict[str, Profile], schema: TableSchema) -> dict[str, ColumnType]:
    """One type per column for the whole table (see the module docstring)."""
    types = {}
    for column, p in profiles.items():
        declared = schema.columns.get(column)
        declared_type = declared.type if declared else None
        as_read, kind = _as_read(p)
        if declared_type == "numeric" and as_read in ("text", "other"):
            kind = NUMBERS_WITH_TEXT if p.native == "text" else KEEP
        elif declared_type in ("categorical", "boolean") and as_read in ("int", "float"):
            kind = TEXT_OF_NUMBERS
        elif (
            declared_type is None
            and column not in schema.drop
            and as_read == "text"
            and p.number_share >= NUMERIC_SHARE
        ):
            kind = NUMBERS_WITH_TEXT
        types[column] = ColumnType(kind, as_read, p.number_share, declared_type is not None)
        ranged = declared is not None and (declared.min is not None or declared.max is not None)
        if ranged and not types[column].numeric:
            raise PipelineError(
                f"schema columns.{column}: min/max need a numeric column, but {column!r} "
                f"holds {as_read} values; add type: numeric to check and convert it"
            )
    return types


def _as_read(p: Profile) -> tuple[str, str]:
    """(the type pandas would read the whole column as, how to get it from each batch)."""
    if p.native == "int":
        return ("float", FLOAT) if p.nulls else ("int", KEEP)
    if p.native == "bool":
        return ("bool", BOOL_WITH_NULLS) if p.nulls else ("bool", KEEP)
    if p.native != "text":
        return p.native, KEEP
    if p.values == 0 or p.numbers == p.values:
        whole = p.values > 0 and p.integers == p.values and not p.nulls
        return ("int", INT) if whole else ("float", FLOAT)
    if p.booleans == p.values and not p.nulls:
        return "bool", BOOL
    return "text", TEXT


def apply_types(frame: pd.DataFrame, types: dict[str, ColumnType]) -> TypedBatch:
    """The batch typed as decided; text cells of numeric columns are returned by column."""
    out = TypedBatch(frame.copy(deep=False))
    for column, t in types.items():
        values = frame[column]
        native = native_kind(values)
        if t.kind == KEEP or (t.kind == TEXT and native == "text"):
            continue
        if t.kind in (INT, FLOAT, NUMBERS_WITH_TEXT, TEXT_OF_NUMBERS) and native == "text":
            numbers, is_number = parse_numbers(values)
            bad = values.notna().to_numpy() & ~is_number
            if bad.any():
                out.text_in_numbers[column] = values[bad]
            if t.as_read == "int":  # every value is a whole number: parse it exactly
                numbers = whole_numbers(values)
                assert numbers is not None, f"{column}: typed int, but not all whole numbers"
            typed = pd.Series(numbers, index=values.index, name=column)
        elif t.kind == BOOL:
            typed = values.map(_BOOLEANS).astype(bool)
        elif t.kind == BOOL_WITH_NULLS:
            typed = values.astype(object).where(values.notna(), None)
        else:  # numbers as read: whole numbers with nulls become float64, as in pandas
            typed = values.astype(np.float64) if t.as_read == "float" else values
        if t.kind == TEXT_OF_NUMBERS:
            typed = typed.astype("string").astype(str).where(typed.notna())
        out.frame[column] = typed
    return out


class TextInNumbers:
    """Text cells of the columns typed numbers-with-text, over all batches: how many, and the
    first EXAMPLES with their rows; `rules()` gives one `numeric_type` rule per such column,
    declared ones first."""

    def __init__(self, types: dict[str, ColumnType]) -> None:
        self.types = types
        columns = sorted(
            (c for c, t in types.items() if t.kind == NUMBERS_WITH_TEXT),
            key=lambda c: not types[c].declared,
        )
        self._bad = BadCells(columns)

    def add(self, text_in_numbers: dict[str, pd.Series]) -> None:
        for column, bad in text_in_numbers.items():
            self._bad.add(column, bad)

    def rules(self) -> list[dict[str, object]]:
        report = Report()
        for column, cells in self._bad.shown.items():
            t = self.types[column]
            observed = (
                "declared numeric; read as text"
                if t.declared
                else f"{t.share:.1%} of values are numbers, the rest text; fix the text, or "
                f"declare type: categorical in the schema file if text is meant"
            )
            report.add("numeric_type", column, observed, cells, count=self._bad.counts[column])
        return report.rules
