"""validate: apply the table's declared cleaning, check it, and write the table `split` reads.

Rules come from the table's schema file (see `pipeline.schema`) and the `clean`/`validate`
params. Every rule lands in reports/validation.json with its observed value and a few offending
rows (`row` = 0-based data row of the input file); the cleaned table is written only when all
rules pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from pipeline import io
from pipeline.config import Params, load_params
from pipeline.errors import PipelineError
from pipeline.schema import TableSchema, load_schema
from pipeline.task import resolve_task

MAX_EXAMPLES = 5


@dataclass
class Report:
    rules: list[dict[str, Any]] = field(default_factory=list)
    cleaning: dict[str, Any] = field(default_factory=dict)

    def add(
        self,
        rule: str,
        column: str | None,
        observed: Any,
        bad: pd.Series | None = None,
        passed: bool | None = None,
    ) -> None:
        """Record a rule; `bad` holds offending values indexed by row (passed = none of them)."""
        bad = pd.Series([], dtype=object) if bad is None else bad
        self.rules.append(
            {
                "rule": rule,
                "column": column,
                "passed": bad.empty if passed is None else passed,
                "observed": observed,
                "unexpected_count": len(bad),
                "examples": [
                    {"row": int(row), "value": _plain(value)}
                    for row, value in bad.head(MAX_EXAMPLES).items()
                ],
            }
        )

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rules if not r["passed"]]


def _plain(value: Any) -> Any:
    """A JSON-friendly scalar (numpy types and NaN become plain values/None)."""
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def check_schema_against_target(schema: TableSchema, target: str) -> None:
    """The schema file may not drop or rename the column data.target names."""
    if target in schema.drop:
        raise PipelineError(f"schema drop: lists the target {target!r} (data.target); remove it")
    unit = schema.units.get(target)
    if unit is not None and unit.rename:
        raise PipelineError(
            f"schema units.{target}.rename: renames the target {target!r}; "
            f"convert it without renaming, or rename the column in the table itself"
        )
    for column, rule in schema.columns.items():
        if (rule.min is not None or rule.max is not None) and rule.type == "categorical":
            raise PipelineError(f"schema columns.{column}: min/max need type: numeric")


def check_columns(df: pd.DataFrame, schema: TableSchema, target: str, report: Report) -> None:
    """The target and every declared column must exist; missing ones stop validation here."""
    needed = [target, *schema.columns, *schema.units, *schema.drop]
    missing = [c for c in dict.fromkeys(needed) if c not in df.columns]
    for column in missing:
        what = "data.target" if column == target else "the schema file"
        report.add(
            "column_exists",
            column,
            observed=f"named by {what}; columns present: {list(df.columns)}",
            passed=False,
        )
    if missing:
        raise _Failed(report)


def coerce_types(df: pd.DataFrame, schema: TableSchema, report: Report) -> pd.DataFrame:
    """Declared numeric columns become numbers (bad values reported, never silently NaN);
    declared categorical columns become strings."""
    df = df.copy()
    for column, rule in schema.columns.items():
        if rule.type == "numeric" and not ptypes.is_numeric_dtype(df[column]):
            numbers = pd.to_numeric(df[column], errors="coerce")
            bad = df[column][numbers.isna() & df[column].notna()]
            report.add("numeric_type", column, str(df[column].dtype), bad)
            df[column] = numbers
        elif rule.type == "categorical" and ptypes.is_numeric_dtype(df[column]):
            df[column] = df[column].astype("string").astype(str).where(df[column].notna())
    return df


def drop_missing(df: pd.DataFrame, report: Report) -> pd.DataFrame:
    """clean.missing: drop — remove every row holding a null (the course's rule)."""
    null_counts = {c: int(n) for c, n in df.isna().sum().items() if n}
    kept = df.dropna()
    report.cleaning["missing"] = {
        "rule": "drop",
        "rows_removed": len(df) - len(kept),
        "nulls_per_column": null_counts,
    }
    return kept


def check_values(df: pd.DataFrame, schema: TableSchema, report: Report) -> None:
    """Per-column ranges and allowed sets from the schema file."""
    for column, rule in schema.columns.items():
        values = df[column]
        numeric = ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values)
        if (rule.min is not None or rule.max is not None) and not numeric:
            raise PipelineError(
                f"schema columns.{column}: min/max need a numeric column, but {column!r} holds "
                f"{values.dtype} values; add type: numeric to check and convert it"
            )
        if rule.min is not None:
            report.add(
                f"min >= {rule.min:g}", column, _plain(values.min()), values[values < rule.min]
            )
        if rule.max is not None:
            report.add(
                f"max <= {rule.max:g}", column, _plain(values.max()), values[values > rule.max]
            )
        if rule.allowed is not None:
            if numeric:  # compare as numbers: 0 and 0.0 are the same value
                bad = values[~values.isin([v for v in rule.allowed if not isinstance(v, str)])]
            else:
                bad = values[~values.astype(str).isin({str(v) for v in rule.allowed})]
            observed = sorted(values.unique().tolist(), key=str)
            report.add(f"in {rule.allowed}", column, [_plain(v) for v in observed], bad)


def apply_units(df: pd.DataFrame, schema: TableSchema, report: Report) -> pd.DataFrame:
    df = df.copy()
    for column, unit in schema.units.items():
        if not ptypes.is_numeric_dtype(df[column]):
            raise PipelineError(
                f"schema units.{column}: column {column!r} is not numeric ({df[column].dtype})"
            )
        df[column] = df[column] * unit.scale
        if unit.rename:
            df = df.rename(columns={column: unit.rename})
    report.cleaning["units"] = {
        c: {"scale": u.scale, "renamed_to": u.rename} for c, u in schema.units.items()
    }
    return df


def validate_table(
    raw: pd.DataFrame, schema: TableSchema, params: Params
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """Clean and check `raw`; return (clean table or None when a rule failed, report dict)."""
    report = Report()
    target = params.data.target
    summary: dict[str, Any] = {"rows_in": len(raw), "target": target}
    check_schema_against_target(schema, target)
    try:
        check_columns(raw, schema, target, report)
        df = raw.drop(columns=schema.drop)
        report.cleaning["columns_dropped"] = list(schema.drop)
        df = coerce_types(df, schema, report)
        df = drop_missing(df, report)
        check_values(df, schema, report)
        df = apply_units(df, schema, report)

        report.add(
            f"rows >= validate.min_rows ({params.validate_.min_rows})",
            None,
            observed=len(df),
            passed=len(df) >= params.validate_.min_rows,
        )
        summary["rows_out"] = len(df)
        if report.failures:
            raise _Failed(report)
        try:
            task, reason = resolve_task(params.data.task, df[target])
        except PipelineError as exc:
            report.add("task matches target", target, observed=str(exc), passed=False)
            raise _Failed(report) from None
        summary.update(task=task, task_reason=reason)
        if task != "regression":
            counts = df[target].astype(str).value_counts().sort_index()
            summary["class_counts"] = {k: int(v) for k, v in counts.items()}
    except _Failed:
        pass
    result = {
        **summary,
        "cleaning": report.cleaning,
        "rules": report.rules,
        "passed": not report.failures,
    }
    return (df if result["passed"] else None), result


class _Failed(Exception):
    """Internal: a rule failed in a way that makes the later rules meaningless."""

    def __init__(self, report: Report) -> None:
        self.report = report


def render_markdown(result: dict[str, Any]) -> str:
    lines = ["# Validation", ""]
    status = "PASSED" if result["passed"] else "FAILED"
    lines.append(
        f"**{status}** — {result['rows_in']} rows in, {result.get('rows_out', '?')} out; "
        f"target `{result['target']}`, task {result.get('task', '?')} "
        f"({result.get('task_reason', 'not resolved')})."
    )
    missing = result["cleaning"].get("missing")
    if missing:
        lines.append(
            f"\nCleaning: {missing['rows_removed']} rows with nulls dropped "
            f"(nulls per column: {missing['nulls_per_column'] or 'none'})."
        )
    lines += [
        "",
        "| rule | column | passed | observed | bad rows (row: value) |",
        "|---|---|---|---|---|",
    ]
    for r in result["rules"]:
        examples = ", ".join(f"{e['row']}: {e['value']!r}" for e in r["examples"])
        lines.append(
            f"| {r['rule']} | {r['column'] or ''} | {'yes' if r['passed'] else '**no**'}"
            f" | {r['observed']} | {examples} |"
        )
    lines += ["", "`row` is the 0-based data row of the input file (CSV line = row + 2)."]
    return "\n".join(lines) + "\n"


def failure_message(result: dict[str, Any]) -> str:
    lines = [
        f"validate: {len([r for r in result['rules'] if not r['passed']])} rule(s) failed "
        f"(details in {io.VALIDATION_REPORT}):"
    ]
    for r in result["rules"]:
        if not r["passed"]:
            where = f"column {r['column']!r}: " if r["column"] else ""
            rows = ", ".join(f"row {e['row']} = {e['value']!r}" for e in r["examples"])
            lines.append(
                f"  {where}{r['rule']} broken by {r['unexpected_count']} value(s)"
                + (f" ({rows})" if rows else "")
                + f"; observed {r['observed']}"
            )
    return "\n".join(lines)


def run(params: Params) -> None:
    schema, schema_file = load_schema(params.data.path)
    raw = io.read_raw(params.data.path)
    clean, result = validate_table(raw, schema, params)
    result["schema_file"] = str(schema_file) if schema_file else None
    io.write_json(result, io.VALIDATION_REPORT)
    io.write_text(render_markdown(result), io.VALIDATION_REPORT.with_suffix(".md"))
    if clean is None:
        raise PipelineError(failure_message(result))
    io.write_table(clean, io.VALIDATED)
    print(
        f"validate: {len(raw)} rows in, {len(clean)} out; task {result['task']} "
        f"({result['task_reason']})"
    )


if __name__ == "__main__":
    run(load_params())
