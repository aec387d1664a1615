"""Column roles: what each column of the user's table is to the model, decided once in validate's
pass 1 (the same function drafts the schema file) and applied alike to every batch, and by
`predict` to new rows.

Roles: `numeric` (scaled), `categorical` (encoded), `boolean` (True/False: encoded as a
category), `date` (replaced by numeric features, `pipeline.checks.dates`, or dropped:
clean.dates), `identifier` and `constant` (dropped, with a warning naming them). The schema
file's `type:` declares any role and wins; a column it names anywhere (columns:, units:,
encode:, drop:), data.target and split.group are never given an inferred identifier, constant
or date role, except that a Parquet timestamp column is a date wherever it is named (but as
data.target or split.group: kept as read). A role that cannot apply is a failed rule naming the
column and the fix: a declared type that would remove data.target or split.group, `date` on a
column of numbers, `numeric` on a timestamp, `units:` or `encode:` on a date column, date
features named like a column the table has; and so is a table left without a feature column.

Inferred, in this order:
- constant: one value in every row, and no null (a column with nulls and one value says which
  rows are missing: kept);
- date: a Parquet timestamp or date column; a text column whose non-null values are
  ISO-like dates for at least DATE_SHARE of them;
- identifier: a text column whose non-null values are distinct for at least ID_SHARE of them;
  an integer column only when it looks like a key: a row number (0 or 1, then each row one
  more, as R's or pandas' exported row names) or a key's name (id, ID, *_id, *Id, index,
  'Unnamed: 0', '') with every value distinct. Never a float column. At least ID_MIN_VALUES
  values are needed (a handful of distinct values says nothing).

What is counted where, so that memory stays flat and no `data.batch_rows` changes a decision:
one value throughout and the row-number sequence are followed over every row; distinct values,
date-like values and times of day over the first ROLE_ROWS rows of the file (a distinct count
stops once its repeats rule out an identifier; date parsing once its misses rule out a date).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.column_types import (
    NUMBERS_WITH_TEXT,
    TEXT,
    TEXT_OF_NUMBERS,
    ColumnType,
    native_kind,
    whole_numbers,
)
from pipeline.checks.dates import date_features, date_parts, has_time, is_timestamp, parse_dates
from pipeline.checks.expectations import BadCells
from pipeline.checks.validation_report import Report
from pipeline.core.params import Params
from pipeline.core.schema import TableSchema
from pipeline.core.tables import date_feature

ROLE_ROWS = 100_000  # distinct values, dates and times of day are looked for in these first rows
ID_SHARE = 0.9  # distinct share of a text column's non-null values that makes it an identifier
ID_MIN_VALUES = 20  # fewest non-null values for any identifier rule
DATE_SHARE = 0.95  # share of a text column's non-null values that must be ISO-like dates
DROPPED = ("identifier", "constant")
_KEY_NAME = re.compile(
    r"(?i:id|idx|index|key|uuid|guid|row|rowid|row_?id|row_?number|rownames|unnamed: ?\d+)?"
    r"|.*[_ .-](?i:id)|.*[a-z]I[dD]"
)


@dataclass
class Evidence:
    """What pass 1 saw of one column (see the module docstring for which rows)."""

    kind: str  # as the file holds it: "text", "int", "float", "bool", "timestamp", "other"
    rows: int = 0
    single: bool = True  # one value and no null so far
    value: Any = None  # that value
    sequence: bool = True  # integers 0 or 1, then one more each row, so far
    first: int | None = None
    last: int | None = None
    sampled: int = 0  # non-null values in the first ROLE_ROWS rows
    distinct: np.ndarray | None = None  # their distinct values, as sorted 64-bit hashes
    counting: bool = True  # False once repeats rule out an identifier
    dates: int = 0  # of them, ISO-like dates
    not_dates: int = 0
    example: str | None = None  # the first date
    timed: bool = False  # some date has a time that is not midnight (UTC)

    def add(self, values: pd.Series, sampled: int, key_name: bool) -> None:
        self.rows += len(values)
        if self.kind == "other":  # e.g. lists: not compared (validate refuses what it cannot use)
            self.single = self.sequence = False
            return
        if not len(values):
            return
        if self.single:
            self._track_single(values)
        if self.sequence and self.kind in ("int", "text"):
            self._track_sequence(values)
        sample = values.iloc[:sampled].dropna()
        if not len(sample):
            return
        self.sampled += len(sample)
        if self.kind == "text" or (self.kind == "int" and key_name):
            self._track_distinct(sample)
        if self.kind == "timestamp":
            self.timed = self.timed or has_time(parse_dates(sample)[0])
        elif self.kind == "text" and self.not_dates <= (1 - DATE_SHARE) * ROLE_ROWS:
            times, ok = parse_dates(sample)
            self.dates += int(ok.sum())
            self.not_dates += int((~ok).sum())
            self.timed = self.timed or has_time(times)
            if self.example is None and ok.any():
                self.example = str(sample.iloc[int(np.argmax(ok))]).strip()

    def _track_single(self, values: pd.Series) -> None:
        if values.isna().any():
            self.single = False
            return
        if self.value is None:
            first = values.iloc[0]
            self.value = first.item() if hasattr(first, "item") else first
        self.single = not bool((values != self.value).any())

    def _track_sequence(self, values: pd.Series) -> None:
        ints = whole_numbers(values)
        if ints is None:
            self.sequence = False
            return
        start = ints[0] if self.last is None else self.last + 1
        self.sequence = (
            (self.last is not None or start in (0, 1))
            and ints[0] == start
            and bool((np.diff(ints) == 1).all())
        )
        self.first = int(ints[0]) if self.first is None else self.first
        self.last = int(ints[-1])

    def _track_distinct(self, sample: pd.Series) -> None:
        """Add the batch's distinct values to those held, looking them up there (what is held
        is never hashed again); integers as themselves, text as 64-bit hashes."""
        if not self.counting:
            return
        if self.kind == "int":
            keys = sample.to_numpy(dtype=np.int64).view(np.uint64)
        else:
            keys = pd.util.hash_array(sample.astype("str").to_numpy(dtype=object))
        keys = np.unique(keys)  # sorted
        held = self.distinct
        if held is not None and len(held):
            at = np.minimum(np.searchsorted(held, keys), len(held) - 1)
            keys = keys[held[at] != keys]  # not held yet
            keys = np.sort(np.concatenate([held, keys]), kind="stable")  # two sorted runs
        self.distinct = keys
        repeats = self.sampled - len(self.distinct)
        if repeats > (1 - ID_SHARE) * ROLE_ROWS or (self.kind == "int" and repeats):
            self.counting, self.distinct = False, None  # can no longer be an identifier


def _kind(values: pd.Series) -> str:
    """What the file holds (Evidence.kind): a timestamp, or the native kind, nested values
    (lists, dicts) being "other"."""
    if is_timestamp(values):
        return "timestamp"
    kind = native_kind(values)
    if kind == "text":
        first = values.first_valid_index()
        if first is not None and isinstance(values[first], list | tuple | dict | np.ndarray):
            return "other"
    return kind


class RoleEvidence:
    """Pass 1's counts for the roles: `watch(batches)` counts each batch as it goes by."""

    def __init__(self) -> None:
        self.columns: dict[str, Evidence] = {}
        self.rows = 0

    def watch(self, batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in batches:
            sampled = max(0, ROLE_ROWS - self.rows)
            for column in frame.columns:
                values = frame[column]
                evidence = self.columns.setdefault(column, Evidence(_kind(values)))
                evidence.add(values, sampled, bool(_KEY_NAME.fullmatch(str(column))))
            self.rows += len(frame)
            yield frame


@dataclass(frozen=True)
class Decision:
    role: str
    why: str
    action: str
    declared: bool = False  # by the schema file


@dataclass
class RolePlan:
    """Each column's decision, the columns dropped for their role, the date columns with their
    features (empty for a date column dropped), and the failed rules of roles that cannot
    apply (the stage fails; each such column is given the role it would have undeclared)."""

    decisions: dict[str, Decision]
    drop: list[str]
    dates: dict[str, list[str]]
    problems: list[dict[str, Any]] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        """validation.json's `roles`: each column's decision in table order, then what
        `predict` applies to new rows (`drop`, `dates`: date column -> its features)."""
        columns = [{"column": c, **vars(d)} for c, d in self.decisions.items()]
        return {"columns": columns, "drop": self.drop, "dates": self.dates}

    def warnings(self) -> list[dict[str, Any]]:
        """A warning per column dropped for an inferred role (the report's and stderr's)."""
        report = Report()
        for column, d in self.decisions.items():
            if d.role in DROPPED and not d.declared:
                report.add(
                    "not an identifier" if d.role == "identifier" else "not constant",
                    column,
                    f"{d.role}: {d.why}; dropped (declare its type in the schema file to keep it)",
                    passed=False,
                    severity="warn",
                )
        return report.rules


def decide_roles(
    evidence: RoleEvidence, types: dict[str, ColumnType], schema: TableSchema, params: Params
) -> RolePlan:
    """Each column's role (see the module docstring), from pass 1's evidence and types."""
    target, group, dates_rule = params.data.target, params.split.group, params.clean.dates
    named = {*schema.columns, *schema.units, *schema.encode, *schema.drop, target, group}
    plan = RolePlan({}, [], {})
    problems = Report()
    taken = set(types)  # names date features may not take
    for column, t in types.items():
        e = evidence.columns.get(column) or Evidence("float")
        role, why = _natural(t, e)
        rule = schema.columns.get(column)
        declared = rule.type if rule is not None and column not in schema.drop else None
        wrong = declared and _wrong_declared(column, declared, t, e, _key(column, target, group))
        if wrong:
            problems.add("declared type fits the column", column, wrong, passed=False)
        if column in schema.drop:
            decision = Decision(role, "listed in the schema file's drop:", "dropped", True)
        elif declared is not None and not wrong:
            role = declared
            decision = Decision(declared, "declared in the schema file", "", True)
        elif column in named:
            key = _key(column, target, group)
            if role == "date" and key:
                role = "categorical"  # as read: never replaced
            decision = Decision(role, f"{why}; {key or 'named in the schema file'}", "")
        else:
            role, why = _inferred(column, t, e) or (role, why)
            decision = Decision(role, why, "")
        if role in DROPPED and column not in schema.drop:
            plan.drop.append(column)
            action = "dropped"
        elif role == "date" and column not in schema.drop:
            for section in (s for s in ("units", "encode") if column in getattr(schema, s)):
                problems.add(
                    f"no {section}: rule on a date column",
                    column,
                    f"schema {section}.{column}: {column!r} is a date ({decision.why}), replaced "
                    f"by numeric features or dropped (clean.dates); remove {section}.{column}",
                    passed=False,
                )
            parts = date_parts(e.timed) if dates_rule == "features" else []
            names = [date_feature(column, p) for p in parts]
            clash = next((name for name in names if name in taken), None)
            if clash is not None:
                problems.add(
                    "date features do not overwrite a column",
                    column,
                    f"date column {column!r} would become {clash!r}, which the table already "
                    f"has; rename one of them, or set clean.dates: drop",
                    passed=False,
                )
                parts = names = []
            taken.update(names)
            plan.dates[column] = parts
            action = "replaced by " + ", ".join(names) if parts else "dropped (clean.dates: drop)"
            action = action if clash is None else f"dropped ({clash!r} is taken)"
        else:
            action = decision.action or _use(column, role, target, group)
        plan.decisions[column] = Decision(role, decision.why, action, decision.declared)
    kept = [c for c, d in plan.decisions.items() if not d.action.startswith("dropped")]
    if all(_key(c, target, group) for c in kept):
        problems.add("at least one feature column", None, _no_features(plan, schema), passed=False)
    plan.problems = problems.rules
    return plan


def _key(column: str, target: str, group: str | None) -> str | None:
    """The params key naming the column: data.target or split.group (None: neither)."""
    return "data.target" if column == target else "split.group" if column == group else None


def _no_features(plan: RolePlan, schema: TableSchema) -> str:
    """Why no column is left for the model to learn from, and how to keep one."""
    gone = {
        c: "drop: in the schema file" if c in schema.drop else d.action.replace("dropped", d.role)
        for c, d in plan.decisions.items()
        if d.action.startswith("dropped")
    }
    fixes = ["declare the type: of one in the schema file (numeric, categorical, boolean...)"]
    if any(c in schema.drop for c in gone):
        fixes.append("remove it from drop:")
    if any("clean.dates" in why for why in gone.values()):
        fixes.append("set clean.dates: features")
    listed = ", ".join(f"{c!r} ({why})" for c, why in gone.items()) or "none in the table"
    return f"no column besides data.target and split.group is kept ({listed}); " + ", or ".join(
        fixes
    )


def _natural(t: ColumnType, e: Evidence) -> tuple[str, str]:
    """(role, why) from the column's type alone."""
    if e.kind == "timestamp":
        return "date", "a timestamp column"
    if t.numeric:
        if t.kind == NUMBERS_WITH_TEXT:
            return "numeric", f"{t.share:.0%} of values are numbers"
        return "numeric", "whole numbers" if t.as_read == "int" else "numbers"
    if t.as_read == "bool":
        return "boolean", "True/False values"
    if t.kind == TEXT_OF_NUMBERS:
        return "categorical", "numbers declared categorical"
    return "categorical", "text values" if t.as_read == "text" else f"{t.as_read} values"


def _sample(e: Evidence) -> str:
    return f" (in the first {ROLE_ROWS} rows)" if e.rows > ROLE_ROWS else ""


def _inferred(column: str, t: ColumnType, e: Evidence) -> tuple[str, str] | None:
    """An inferred role other than the type's, with why; None when there is none."""
    if e.single and e.rows:
        shown = repr(e.value) if len(repr(e.value)) <= 40 else f"{repr(e.value)[:37]}..."
        return "constant", f"one value ({shown}) in all {e.rows} rows, no nulls"
    if e.kind == "timestamp":
        return "date", "a timestamp column"
    text = t.as_read == "text" and t.kind == TEXT and e.kind == "text"
    if text and e.sampled and e.dates >= DATE_SHARE * e.sampled:
        return "date", (
            f"{e.dates} of {e.sampled} values are ISO-like dates{_sample(e)}, e.g. {e.example!r}"
        )
    distinct = 0 if e.distinct is None else len(e.distinct)
    if e.sampled < ID_MIN_VALUES:
        return None
    if text and distinct >= ID_SHARE * e.sampled:
        return "identifier", f"{distinct} distinct of {e.sampled} values{_sample(e)}"
    if t.as_read == "int" and e.sequence and e.last is not None:
        return "identifier", f"a row number: {e.first}, {e.first + 1}, ... {e.last}"
    if t.as_read == "int" and distinct == e.sampled and _KEY_NAME.fullmatch(column):
        return "identifier", (
            f"named like a key, {distinct} distinct of {e.sampled} values{_sample(e)}"
        )
    return None


def _use(column: str, role: str, target: str, group: str | None) -> str:
    if column == target:
        return "the target"
    if column == group:
        return "kept to group rows in the split; not a feature"
    return "scaled" if role == "numeric" else "encoded as categories"


def _wrong_declared(
    column: str, declared: str, t: ColumnType, e: Evidence, key: str | None
) -> str | None:
    """Why a declared role cannot apply (it would remove data.target or split.group, `key`; it
    does not fit the column), or None."""
    if key and declared in (*DROPPED, "date"):
        return (
            f"schema columns.{column}: type: {declared} would remove {key} {column!r}; "
            f"declare numeric, categorical or boolean"
        )
    if declared == "date" and e.kind != "timestamp" and t.as_read != "text":
        return (
            f"schema columns.{column}: type: date needs ISO-like date text (2024-01-31, "
            f"2024-01-31 12:00) or a timestamp column, but {column!r} holds {t.as_read} values"
        )
    if declared == "numeric" and e.kind == "timestamp":
        return (
            f"schema columns.{column}: type: numeric on the timestamp column {column!r}; "
            f"declare type: date (numeric features, clean.dates), or drop it (drop:)"
        )
    return None


class RoleApplier:
    """Validate's pass 2: `apply(batch)` drops the columns dropped for their role and puts date
    features in place of dates, counting the cells that were not dates; `rules()` reports them
    (warnings: they are made null, then clean.missing handles them)."""

    def __init__(self, plan: RolePlan, missing: str) -> None:
        self.plan = plan
        self.missing = missing
        self._bad = BadCells(list(plan.dates))

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        df = df.drop(columns=[c for c in self.plan.drop if c in df])
        dropped = [c for c, parts in self.plan.dates.items() if not parts and c in df]
        df, bad = date_features(df.drop(columns=dropped), self.plan.dates)
        for column, cells in bad.items():
            self._bad.add(column, cells)
        return df

    def rules(self) -> list[dict[str, Any]]:
        report = Report()
        for column, parts in self.plan.dates.items():
            if parts:
                count = self._bad.counts[column]
                report.add(
                    "ISO-like date or null",
                    column,
                    f"{count} cell(s) not a date: their features made null (clean.missing: "
                    f"{self.missing}); to keep the column as text, declare type: categorical "
                    f"in the schema file, or set clean.dates: drop to drop it",
                    self._bad.shown[column],
                    severity="warn",
                    count=count,
                )
        return report.rules
