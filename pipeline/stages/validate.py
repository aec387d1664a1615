"""validate: read the user's table in batches, check it, clean it, write what `split` reads.

The checking is `pipeline.checks.validation`. Every rule lands in reports/validation.json with
its severity, observed value and a few offending values with their rows (`row` = 0-based data
row of the input file). The cleaned table (and the task, for the stages after) is written only
when no `fail` rule failed; `warn` rules are reported and it is written. Whenever it is not
written, an earlier run's table, cleaning.json and task.json are removed (with the reports too
when the schema file is refused before any rule is checked), so none of them looks valid.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.checks.missing_values import missing_line
from pipeline.checks.rawfile import RawFile, Unreadable
from pipeline.checks.validation import cleaning_rules, validate_batches
from pipeline.checks.validation_report import (
    Report,
    failure_lines,
    validation_failure,
    validation_markdown,
)
from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
from pipeline.core.schema import load_schema


class _Failed(Exception):
    """Raised inside the table writer to discard the table."""


STALE = (io.VALIDATED, io.CLEANING, io.TASK)  # an earlier run's must not look valid


def run(params: Params) -> None:
    path = Path(params.data.path)
    report = Report()
    try:
        schema, schema_file = load_schema(path)
        try:
            source = RawFile(path, params.data.batch_rows, params.data.csv)
        except Unreadable as exc:
            report.add("readable", None, observed=f"{path}: {exc}", passed=False)
            source = None
        if source is not None and source.dialect and source.dialect.detected:
            print(f"validate: {path}: {source.dialect.said}", file=sys.stderr)
        try:
            # finite=False: batches are written before the rules are decided; an infinite value
            # fails one, and the file is discarded then
            with io.TableWriter(io.VALIDATED, finite=False) as out:
                result = validate_batches(source, schema, params, report, out.write)
                if not result["passed"]:
                    raise _Failed
        except _Failed:
            pass
    except PipelineError:  # refused before the rules (the schema file): no report of this run
        for stale in (*STALE, io.VALIDATION_REPORT, io.VALIDATION_REPORT.with_suffix(".md")):
            stale.unlink(missing_ok=True)
        raise
    result["input"] = str(path)
    result["schema_file"] = str(schema_file) if schema_file else None
    io.write_json(result, io.VALIDATION_REPORT)
    io.write_text(validation_markdown(result), io.VALIDATION_REPORT.with_suffix(".md"))
    if not result["passed"]:
        for stale in STALE:
            stale.unlink(missing_ok=True)
        raise PipelineError(validation_failure(result))
    rules = cleaning_rules(
        schema, params, result["missing"]["chosen"], result["roles"], source.dialect
    )
    io.write_json(rules, io.CLEANING)
    io.write_json(
        {"target": params.data.target, "task": result["task"], "reason": result["task_reason"]},
        io.TASK,
    )
    if result["missing"]["setting"] == "auto":  # a default, said on stderr
        print(f"validate: {missing_line(result)}", file=sys.stderr)
    warned = [r for r in result["rules"] if not r["passed"]]
    for line in failure_lines(warned):
        print(f"validate: warning: {line}", file=sys.stderr)
    for r in result["roles"]["columns"]:
        if r["role"] == "date" and not r["declared"]:
            print(
                f"validate: column {r['column']!r} is a date ({r['why']}): {r['action']} "
                f"(clean.dates: {params.clean.dates})",
                file=sys.stderr,
            )
    print(
        f"validate: {result['rows_in']} rows in, {result['rows_out']} out; task {result['task']} "
        f"({result['task_reason']}); {len(warned)} warning(s), see "
        f"{io.VALIDATION_REPORT.with_suffix('.md')}"
    )


if __name__ == "__main__":
    run(load_params())
