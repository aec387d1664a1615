"""Values that would break a later stage stop `validate` instead, as report rules naming the
column, the rule and a few rows.

- Nested values (Parquet lists, structs, maps) cannot be hashed, typed or encoded: such a
  column fails `flat values` with its Arrow type unless the schema file drops it.
- Numbers must be finite and at most `validate.max_abs` (default 1e15) from zero, in every
  numeric column, the target included (one Great Expectations rule per column). Why 1e15:
  the squares of such values (1e30) stay finite in float32, which the loss of a regression
  target (encode.scale_target: false, or a target far from its mean, summed over a batch of up
  to 3·10⁸ rows) and the float32 encoded table (scale.method: none) need; and every integer up
  to it is exact in float64 (2⁵³ ≈ 9·10¹⁵), so counts and identifiers below it read back as
  written. Larger values (1e300) overflowed fit_scaler's variance into inf (the param stops at
  1e100, where float64 variances over 10⁹ rows still fit). The bound is in the table's units
  after a schema `units:` conversion: a column converted by `scale: 1e-6` may hold values up
  to 1e21 in the file.
- A regression target must vary: a constant one leaves nothing to learn (R² 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.checks.expectations import BadCells, Check
from pipeline.checks.rawfile import RawFile
from pipeline.core.schema import TableSchema, UnitRule

if TYPE_CHECKING:  # the report module imports the size rules, which import this one
    from pipeline.checks.validation_report import Report

FLAT = "flat values (no list, struct or map)"


def bounded_check(column: str, max_abs: float, unit: UnitRule | None) -> Check:
    """The rule that a numeric column is finite and within ±validate.max_abs (null passes);
    with a unit conversion, the bound is divided by its scale (checked before converting)."""
    bound = max_abs / unit.scale if unit is not None else max_abs
    source = f"validate.max_abs {max_abs:g} / units scale {unit.scale:g}" if unit else None
    rule = f"finite, within ±{bound:g} ({source or 'validate.max_abs'})"
    kwargs = {"min_value": -bound, "max_value": bound}
    return Check(rule, column, "ExpectColumnValuesToBeBetween", kwargs)


def nested_rules(source: RawFile, schema: TableSchema, report: Report) -> bool:
    """A failed `flat values` rule for each nested column the schema does not drop, with its
    Arrow type, how many rows hold a value and the first few; whether there was any."""
    nested = {c: t for c, t in source.nested_columns().items() if c not in schema.drop}
    if not nested:
        return False
    held = BadCells(list(nested))
    for frame in source.batches(list(nested)):
        for column in nested:
            held.add(column, frame[column].dropna())
    for column, arrow_type in nested.items():
        observed = (
            f"Arrow type {arrow_type}: a column must hold one number, text or date per row; "
            f"list it under drop: in the schema file, or flatten it into columns"
        )
        shown = held.shown[column].map(_text)
        report.add(FLAT, column, observed, shown, passed=False, count=held.counts[column])
    return True


def _text(value: Any) -> str:
    """A nested value as text (numpy arrays as lists)."""
    return str(value.tolist() if hasattr(value, "tolist") else value)


def constant_target_rule(
    target: str, counts: dict[Any, int], rows: int, capped: bool
) -> dict[str, Any]:
    """A regression target (data.target) must hold more than one distinct value; `counts`:
    its distinct values (the first ones only when `capped`)."""
    constant = len(counts) == 1 and not capped
    if constant:
        value = next(iter(counts))
        value = value.item() if hasattr(value, "item") else value
        observed = (
            f"every one of its {rows} rows holds {value!r}: nothing to learn; choose another "
            f"column as data.target"
        )
    else:
        observed = f"{'at least ' if capped else ''}{len(counts)} distinct values"
    return {
        "rule": "varies (regression target, data.target)",
        "column": target,
        "severity": "fail",
        "passed": not constant,
        "observed": observed,
        "unexpected_count": 0,
        "examples": [],
    }
