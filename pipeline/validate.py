"""validate: read the user's table in batches, check it, clean it, write what `split` reads.

Two passes over the file, each one batch (`data.batch_rows` rows) at a time, so memory is set by
the batch, not by the table:
1. read it (`pipeline.rawfile`: is it a table) and count what each column holds
   (`pipeline.column_types`), to type every column once for the whole table;
2. per batch: type it (text in a numeric column is reported with its rows), check it
   (`pipeline.table_checks`: the Great Expectations suite from the schema file and the params),
   clean it (`pipeline.cleaning`), count it (`pipeline.size_rules`) and write it;
then the whole-table rules (rows, classes, rows per class and per model parameter, the task).

Every rule lands in reports/validation.json with its severity, observed value and a few offending
values with their rows (`row` = 0-based data row of the input file); checking goes on after a
failure so the report lists every problem. The cleaned table (and the task, for the stages
after) is written only when no `fail` rule failed; `warn` rules are reported and it is written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import io
from pipeline.cleaning import Cleaner
from pipeline.column_types import (
    ColumnType,
    Profile,
    TextInNumbers,
    apply_types,
    decide_types,
    profile,
)
from pipeline.config import Params, load_params
from pipeline.errors import PipelineError
from pipeline.rawfile import RawFile, Unreadable
from pipeline.schema import TableSchema, load_schema
from pipeline.size_rules import TableFacts, size_rules
from pipeline.table_checks import TableChecks
from pipeline.validation_report import (
    Report,
    document,
    failure_lines,
    failure_message,
    render_markdown,
)

Sink = Callable[[pd.DataFrame], None]


class FrameSource:
    """A table already in memory, read like a file: batches of `batch_rows` rows."""

    is_csv = False
    ragged = 0

    def __init__(self, df: pd.DataFrame, batch_rows: int) -> None:
        self.df = df.reset_index(drop=True).rename_axis(io.ROW)
        self.columns = list(self.df.columns)
        self.batch_rows = batch_rows

    def float_columns(self) -> list[str]:
        return []

    def batches(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        df = self.df if columns is None else self.df[columns]
        for start in range(0, max(len(df), 1), self.batch_rows):
            yield df.iloc[start : start + self.batch_rows]


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


def column_types(
    source: RawFile | FrameSource, schema: TableSchema, report: Report
) -> dict[str, ColumnType] | None:
    """Pass 1: the type of every column, or None when the file is not a table (reported)."""
    floats = source.float_columns()
    others = [c for c in source.columns if c not in floats]
    profiles = profile(source.batches(others)) if others else {}
    profiles = {c: profiles.get(c, Profile("float")) for c in source.columns}
    if source.is_csv:
        repeated = source.repeated_names
        report.add(
            "unique column names",
            None,
            observed=f"repeated in the header: {repeated}" if repeated else "all unique",
            passed=not repeated,
        )
        ragged = source.ragged_rows() if source.ragged else pd.Series()
        report.add(
            f"fields per row == {len(source.columns)} (the header's)",
            None,
            observed=f"{len(ragged)} row(s) with another number of fields",
            bad=ragged,
        )
        if len(ragged):
            return None
    return decide_types(profiles, schema)


def validate_batches(
    source: RawFile | FrameSource | None,
    schema: TableSchema,
    params: Params,
    report: Report,
    sink: Sink,
) -> dict[str, Any]:
    """Check and clean the table (None: unreadable, `report` says why), giving each clean batch
    to `sink`; return the report document (`passed` says whether the batches are the table)."""
    target = params.data.target
    check_schema_against_target(schema, target)
    summary: dict[str, Any] = {"rows_in": None, "target": target}
    try:
        types = None if source is None else column_types(source, schema, report)
        if types is None:
            return document(report, summary)
        text_cells = TextInNumbers(types)
        checks = cleaner = facts = None
        rows_in = 0
        for batch in source.batches():
            rows_in += len(batch)
            typed = apply_types(batch, types)
            text_cells.add(typed.text_in_numbers)
            frame = typed.frame
            if checks is None:
                kept = [c for c in frame.columns if c not in schema.drop]
                checks = TableChecks(frame, schema, target, kept)
                cleaner = Cleaner(schema, params, frame)
            checks.add(frame)
            clean = cleaner.clean(frame)
            if facts is None:
                facts = TableFacts(params, schema, clean)
            facts.add(clean)
            sink(clean)
    except Unreadable as exc:
        report.rules = []
        report.add("readable", None, observed=f"{source.path}: {exc}", passed=False)
        return document(report, summary)
    report.rules += text_cells.rules()
    report.rules += checks.rules()
    report.rules += cleaner.problems
    report.cleaning = cleaner.summary()
    rules, facts_summary = size_rules(facts, params)
    report.rules += rules
    summary.update(rows_in=rows_in, rows_out=facts.rows, **facts_summary)
    return document(report, summary)


def validate_table(
    raw: pd.DataFrame | None,
    schema: TableSchema,
    params: Params,
    report: Report | None = None,
    batch_rows: int | None = None,
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """`validate_batches` on a table in memory: (the clean table, or None when a `fail` rule
    failed; the report document)."""
    report = Report() if report is None else report
    source = None if raw is None else FrameSource(raw, batch_rows or params.data.batch_rows)
    parts: list[pd.DataFrame] = []
    result = validate_batches(source, schema, params, report, parts.append)
    if not result["passed"] or not parts:
        return None, result
    return pd.concat(parts), result


def cleaning_rules(schema: TableSchema, params: Params) -> dict[str, Any]:
    """What `predict` must apply to new rows the way it was applied here (saved as JSON)."""
    return {
        "target": params.data.target,
        "missing": params.clean.missing,
        "schema": schema.model_dump(mode="json"),
    }


class _Failed(Exception):
    """Raised inside the table writer to discard the table."""


def run(params: Params) -> None:
    path = Path(params.data.path)
    schema, schema_file = load_schema(path)
    report = Report()
    try:
        source = RawFile(path, params.data.batch_rows)
    except Unreadable as exc:
        report.add("readable", None, observed=f"{path}: {exc}", passed=False)
        source = None
    try:
        with io.TableWriter(io.VALIDATED) as out:
            result = validate_batches(source, schema, params, report, out.write)
            if not result["passed"]:
                raise _Failed
    except _Failed:
        pass
    result["input"] = str(path)
    result["schema_file"] = str(schema_file) if schema_file else None
    io.write_json(result, io.VALIDATION_REPORT)
    io.write_text(render_markdown(result), io.VALIDATION_REPORT.with_suffix(".md"))
    if not result["passed"]:
        for stale in (io.VALIDATED, io.CLEANING, io.TASK):  # an earlier run's must not look valid
            stale.unlink(missing_ok=True)
        raise PipelineError(failure_message(result))
    io.write_json(cleaning_rules(schema, params), io.CLEANING)
    io.write_json(
        {"target": params.data.target, "task": result["task"], "reason": result["task_reason"]},
        io.TASK,
    )
    warned = [r for r in result["rules"] if not r["passed"]]
    for line in failure_lines(warned):
        print(f"validate: warning: {line}", file=sys.stderr)
    print(
        f"validate: {result['rows_in']} rows in, {result['rows_out']} out; task {result['task']} "
        f"({result['task_reason']}); {len(warned)} warning(s), see "
        f"{io.VALIDATION_REPORT.with_suffix('.md')}"
    )


if __name__ == "__main__":
    run(load_params())
