"""The rules every batch of the typed table is held to, from its schema file and the params.

Great Expectations runs them (`pipeline.checks.expectations`): columns present and strict columns
once, on the first batch (every batch has the same columns); ranges, allowed sets, nulls and finite
numbers on every batch, merged. Rules about the whole column are decided from counts added up over
the batches: `unique` (hashed values, see `pipeline.core.row_hashes`) and `not entirely null`; so
are the observed minimum, maximum and distinct values shown beside a rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from pipeline.checks.expectations import EXAMPLES, Check, Suite, run_checks
from pipeline.checks.value_rules import bounded_check
from pipeline.core.row_hashes import HashIndex, hash_rows
from pipeline.core.schema import TableSchema
from pipeline.core.tables import is_numeric

MAX_OBSERVED = 20  # distinct values listed in `observed` of an allowed-set rule
DISTINCT_KEPT = 10_000  # past this many distinct values, an allowed-set rule shows "more than"

# Where a check is decided: by GX once (columns), by GX on every batch (rows), or from counts.
ONCE, ROWS, COUNTS = "once", "rows", "counts"


@dataclass(frozen=True)
class Planned:
    check: Check
    scope: str


def plan_checks(
    prototype: pd.DataFrame, schema: TableSchema, target: str, kept: list[str], max_abs: float
) -> list[Planned]:
    """The checks in report order: columns named by the schema and data.target exist; the
    schema's column rules; strict columns; finite numbers within ±max_abs (validate.max_abs,
    see `pipeline.checks.value_rules`) and not entirely null for every kept column.
    `prototype`: a typed batch, for the columns and their types."""
    planned = []
    columns = list(prototype.columns)
    for column in schema.named_columns(target):
        named_by = "data.target" if column == target else "the schema file"
        observed = (
            f"present (named by {named_by})"
            if column in prototype
            else f"missing (named by {named_by}); columns present: {columns}"
        )
        check = Check("column_exists", column, "ExpectColumnToExist", observed=observed)
        planned.append(Planned(check, ONCE))
    for column, rule in schema.columns.items():
        if column not in prototype:
            continue
        values = prototype[column]
        for name, bound, key in (
            ("min >=", rule.min, "min_value"),
            ("max <=", rule.max, "max_value"),
        ):
            if bound is not None:
                check = Check(
                    f"{name} {bound:g}", column, "ExpectColumnValuesToBeBetween", {key: bound}
                )
                planned.append(Planned(check, ROWS))
        if rule.allowed is not None:
            check = Check(
                f"in {rule.allowed}", column, "ExpectColumnValuesToBeInSet",
                {"value_set": _comparable(rule.allowed, values)},
            )  # fmt: skip
            planned.append(Planned(check, ROWS))
        if not rule.nullable:
            planned.append(
                Planned(Check("not null", column, "ExpectColumnValuesToNotBeNull"), ROWS)
            )
        if rule.unique:
            planned.append(Planned(Check("unique", column, "ExpectColumnValuesToBeUnique"), COUNTS))
    if schema.strict:
        check = Check(
            "strict: columns are the schema file's", None, "ExpectTableColumnsToMatchSet",
            {"column_set": schema.named_columns(target), "exact_match": True},
        )  # fmt: skip
        planned.append(Planned(check, ONCE))
    for column in kept:
        if is_numeric(prototype[column]):
            check = bounded_check(column, max_abs, schema.units.get(column))
            planned.append(Planned(check, ROWS))
        check = Check(
            "not entirely null", column, "ExpectColumnProportionOfNonNullValuesToBeBetween",
            {"min_value": 0, "strict_min": True},
        )  # fmt: skip
        planned.append(Planned(check, COUNTS))
    return planned


def _comparable(allowed: list[Any], values: pd.Series) -> list[Any]:
    """Allowed values as the column holds them: numbers for numbers (0 == 0.0), else text."""
    if ptypes.is_bool_dtype(values):
        return allowed
    if is_numeric(values):
        return [v for v in allowed if not isinstance(v, str)]
    return [str(v) for v in allowed]


class TableChecks:
    """`add(batch)` for every typed batch in file order, then `rules()`."""

    def __init__(
        self,
        first: pd.DataFrame,
        schema: TableSchema,
        target: str,
        kept: list[str],
        max_abs: float,
    ) -> None:
        """`first`: the first typed batch (the columns-only checks run on it)."""
        self.planned = plan_checks(first, schema, target, kept, max_abs)
        self.rows = 0
        rows = [p.check for p in self.planned if p.scope == ROWS]
        self._suite = Suite(rows)
        once = [p.check for p in self.planned if p.scope == ONCE]
        self._once = run_checks(first, once)
        self._present = {p.check.column: 0 for p in self.planned if p.scope == COUNTS}
        self._unique = {p.check.column: _Unique() for p in self.planned if p.check.rule == "unique"}
        self._min: dict[str, Any] = {}
        self._max: dict[str, Any] = {}
        self._distinct: dict[str, set[Any]] = {}
        for p in self.planned:
            column = p.check.column
            if p.check.rule.startswith("min >="):
                self._min[column] = None
            elif p.check.rule.startswith("max <="):
                self._max[column] = None
            elif p.check.expectation == "ExpectColumnValuesToBeInSet":
                self._distinct[column] = set()

    def add(self, df: pd.DataFrame) -> None:
        self.rows += len(df)
        self._suite.validate(df)
        for column in self._present:
            self._present[column] += int(df[column].notna().sum())
        for column, unique in self._unique.items():
            unique.add(df[column])
        for column, low in self._min.items():
            value = df[column].min()
            if not pd.isna(value):
                self._min[column] = value if low is None or pd.isna(low) else min(low, value)
        for column, high in self._max.items():
            value = df[column].max()
            if not pd.isna(value):
                self._max[column] = value if high is None or pd.isna(high) else max(high, value)
        for column, seen in self._distinct.items():
            if len(seen) <= DISTINCT_KEPT:
                seen.update(pd.unique(df[column].dropna()).tolist())

    def rules(self) -> list[dict[str, Any]]:
        """One rule per check, in plan order (`not entirely null` only for a table with rows)."""
        batch_rules = iter(self._suite.rules(self._observed()))
        once_rules = iter(self._once)
        rules = []
        for p in self.planned:
            check = p.check
            if p.scope == ONCE:
                rules.append(next(once_rules))
            elif p.scope == ROWS:
                rules.append(next(batch_rules))
            elif check.rule == "unique":
                rules.append(self._unique[check.column].rule(check, self.rows))
            elif self.rows:
                present = self._present[check.column]
                rules.append(
                    {
                        "rule": check.rule,
                        "column": check.column,
                        "severity": check.severity,
                        "passed": present > 0,
                        "observed": f"{present / self.rows:.1%} of values present",
                        "unexpected_count": 0,
                        "examples": [],
                    }
                )
        return rules

    def _observed(self) -> dict[int, Any]:
        """What each per-batch rule shows over the whole table, by its position in the suite."""
        observed = {}
        for number, check in enumerate(self._suite.checks):
            column = check.column
            if check.rule.startswith("min >="):
                observed[number] = self._min[column]
            elif check.rule.startswith("max <="):
                observed[number] = self._max[column]
            elif check.expectation == "ExpectColumnValuesToBeInSet":
                seen = self._distinct[column]
                if len(seen) > DISTINCT_KEPT:
                    observed[number] = f"more than {DISTINCT_KEPT} distinct values"
                elif len(seen) > MAX_OBSERVED:
                    observed[number] = f"{len(seen)} distinct values"
                else:
                    observed[number] = sorted(seen, key=str)
        return observed


class _Unique:
    """Rows whose value appears more than once in the column (every occurrence, as GX counts
    them; nulls ignored), over all batches."""

    def __init__(self) -> None:
        self._seen = HashIndex()
        self._counted: set[int] = set()  # first occurrences already counted as repeated
        self.count = 0
        self.examples: list[tuple[int, Any]] = []

    def add(self, values: pd.Series) -> None:
        values = values.dropna()
        if not len(values):
            return
        rows = values.index.to_numpy()
        first = self._seen.seen(hash_rows(values.to_frame()), rows)
        repeat = first >= 0
        found = list(zip(rows[repeat].tolist(), values[repeat].tolist(), strict=True))
        for row, value in zip(first[repeat].tolist(), values[repeat].tolist(), strict=True):
            if row not in self._counted:
                self._counted.add(row)
                found.append((row, value))
        self.count += len(found)
        self.examples = sorted([*self.examples, *found], key=lambda item: item[0])[:EXAMPLES]

    def rule(self, check: Check, rows: int) -> dict[str, Any]:
        return {
            "rule": check.rule,
            "column": check.column,
            "severity": check.severity,
            "passed": self.count == 0,
            "observed": f"{self.count} of {rows} rows",
            "unexpected_count": self.count,
            "examples": [{"row": row, "value": value} for row, value in self.examples],
        }
