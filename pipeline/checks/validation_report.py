"""reports/validation.json and validation.md: the rules `validate` checked, as data and as text.

`Report` collects rules as they are decided: {rule, column, severity, passed, observed,
unexpected_count, examples}, where `examples` are a few offending values with their rows (`row` =
0-based data row of the input file). `result` turns it into the JSON document (NaN as null,
numpy scalars as Python ones), `validation_markdown` into the page people read, `validation_failure`
into the stage's one error message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.checks.expectations import EXAMPLES
from pipeline.checks.missing_values import missing_line
from pipeline.checks.size_rules import size_notes
from pipeline.core import io
from pipeline.core.markdown import cell as _cell


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
        severity: str = "fail",
        count: int | None = None,
    ) -> None:
        """Record a rule; `bad` holds offending values indexed by row (passed = none of them),
        or the first few of them when `count` says how many there are."""
        bad = pd.Series([], dtype=object) if bad is None else bad
        self.rules.append(
            {
                "rule": rule,
                "column": column,
                "severity": severity,
                "passed": bool((bad.empty and not count) if passed is None else passed),
                "observed": observed,
                "unexpected_count": len(bad) if count is None else count,
                "examples": [
                    {"row": int(row), "value": value} for row, value in bad.head(EXAMPLES).items()
                ],
            }
        )

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rules if not r["passed"] and r["severity"] == "fail"]

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [r for r in self.rules if not r["passed"] and r["severity"] == "warn"]


def _plain(value: Any) -> Any:
    """JSON-friendly: numpy scalars become Python ones, NaN None, infinities 'inf'/'-inf'."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str):
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    elif pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value if isinstance(value, bool | int | float) else str(value)  # e.g. timestamps


def validation_markdown(result: dict[str, Any]) -> str:
    status = "PASSED" if result["passed"] else "FAILED"
    lines = [
        "# Validation",
        "",
        f"**{status}** — `{result.get('input', 'table')}`: "
        + ("not read" if result["rows_in"] is None else f"{result['rows_in']} rows in")
        + f", {result.get('rows_out', 0)} out; target `{result['target']}`, task "
        f"{result.get('task', '?')} ({result.get('task_reason', 'not resolved')}). "
        f"{result['failed']} failed, {result['warnings']} warning(s).",
    ]
    if result.get("missing"):
        lines += ["", f"Missing values: {missing_line(result)}."]
    if result.get("roles"):
        lines += ["", "## Column roles", "", "| column | role | why | done |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(r['column'])} | {r['role']} | {_cell(r['why'])} | {_cell(r['action'])} |"
            for r in result["roles"]["columns"]
        ]
    for title, severity in (("Fix these", "fail"), ("Warnings", "warn")):
        broken = [r for r in result["rules"] if not r["passed"] and r["severity"] == severity]
        if broken:
            lines += ["", f"## {title}", ""]
            lines += [f"- {_cell(line)}" for line in failure_lines(broken)]
    cleaning = result["cleaning"]
    if cleaning:
        lines += [
            "",
            "## Cleaning",
            "",
            "| step | rule | rows removed | detail |",
            "|---|---|---|---|",
        ]
        if cleaning.get("columns_dropped"):
            lines.append(
                f"| drop columns | schema file | 0 | {_cell(cleaning['columns_dropped'])} |"
            )
        if result.get("roles", {}).get("drop"):
            lines.append(f"| drop columns | column roles | 0 | {_cell(result['roles']['drop'])} |")
        if "target_missing" in cleaning:
            t = cleaning["target_missing"]
            lines.append(
                f"| null target | always drop | {t['rows_removed']} | rows {t['example_rows']} |"
            )
        if "missing" in cleaning:
            m = cleaning["missing"]
            lines.append(
                f"| missing values | clean.missing: {m['rule']} | {m['rows_removed']} | "
                f"{m['rows_with_nulls']} rows with nulls; per column "
                f"{_cell(m['nulls_per_column'] or 'none')} |"
            )
        for column, unit in cleaning.get("units", {}).items():
            renamed = f", renamed to `{_cell(unit['renamed_to'])}`" if unit["renamed_to"] else ""
            lines.append(
                f"| units | schema file | 0 | `{_cell(column)}` x {unit['scale']:g}{renamed} |"
            )
        if "duplicates" in cleaning:
            d = cleaning["duplicates"]
            lines.append(
                f"| duplicate rows | clean.duplicates: {d['rule']} | {d['rows_removed']} | "
                f"{d['duplicate_rows']} found; rows {d['example_rows']} |"
            )
    if result.get("class_counts"):
        lines += ["", "## Class balance", "", "| class | rows | share |", "|---|---|---|"]
        for label, count in result["class_counts"].items():
            lines.append(f"| {_cell(label)} | {count} | {result['class_shares'][label]:.1%} |")
    size = result.get("model_size")
    if size:
        lines += [
            "",
            f"Model size: {size['encoded_features']} encoded features -> hidden "
            f"{size['hidden']} -> {size['outputs']} outputs = {size['parameters']} trainable "
            f"parameters"
            + (
                f" ({size['embedding_parameters']} in the input embeddings)"
                if size.get("embedding_parameters")
                else ""
            )
            + f", for about {size['training_rows']} training rows.",
            *size_notes(size),
        ]
    lines += [
        "",
        "## All rules",
        "",
        "| rule | column | severity | passed | observed | bad rows (row: value) |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rules"]:
        examples = ", ".join(f"{e['row']}: {e['value']!r}" for e in r["examples"])
        lines.append(
            f"| {_cell(r['rule'])} | {_cell(r['column'] or '')} | {r['severity']} | "
            f"{'yes' if r['passed'] else '**no**'} | {_cell(r['observed'])} | {_cell(examples)} |"
        )
    lines += ["", "`row` is the 0-based data row of the input file (CSV line = row + 2)."]
    return "\n".join(lines) + "\n"


def failure_lines(rules: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in rules:
        where = f"column {r['column']!r}: " if r["column"] is not None else ""
        if r["unexpected_count"]:
            rows = ", ".join(f"row {e['row']} = {e['value']!r}" for e in r["examples"])
            broken = f"broken by {r['unexpected_count']} value(s)" + (f" ({rows})" if rows else "")
        else:
            broken = "failed"
        lines.append(f"{where}{r['rule']} {broken}; observed {r['observed']}")
    return lines


def validation_failure(result: dict[str, Any]) -> str:
    failed = [r for r in result["rules"] if not r["passed"] and r["severity"] == "fail"]
    head = (
        f"validate: {result.get('input', 'table')}: {len(failed)} rule(s) failed "
        f"(details in {io.VALIDATION_REPORT.with_suffix('.md')}):"
    )
    return "\n".join([head, *(f"  {line}" for line in failure_lines(failed))])


def document(report: Report, summary: dict[str, Any]) -> dict[str, Any]:
    """The report as JSON-ready data: `summary` (rows, target, task...) plus the rules."""
    return {
        **summary,
        "cleaning": report.cleaning,
        "rules": [
            {**r, "observed": _plain(r["observed"]), "examples": _plain(r["examples"])}
            for r in report.rules
        ],
        "failed": len(report.failures),
        "warnings": len(report.warnings),
        "passed": not report.failures,
    }
