"""validate: read the user's table, apply its declared cleaning, check it, write what `split` reads.

Order: read the file (is it a table: UTF-8 text, one header, same field count on every row) →
convert declared column types → a Great Expectations suite built from the table's schema file
(see `pipeline.schema`) and the params: columns present, ranges, allowed sets, nulls, uniqueness,
strict columns, finite numbers, no all-null column → cleaning (`clean` params and the schema
file: dropped columns, rows with a null target, missing values, units, duplicates) → size rules
on the clean table (rows, rows per class, training rows per model parameter, class balance).

Every rule lands in reports/validation.json with its severity, observed value and a few offending
values with their rows (`row` = 0-based data row of the input file); checking goes on after a
failure so the report lists every problem. The cleaned table is written only when no `fail` rule
failed; `warn` rules are reported and the table is still written.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from pipeline import io
from pipeline.config import Params, SplitParams, load_params
from pipeline.errors import PipelineError
from pipeline.expectations import EXAMPLES, Check, run_checks
from pipeline.schema import TableSchema, load_schema
from pipeline.sizing import encoded_width, is_numeric_feature, mlp_parameter_count, output_width
from pipeline.task import infer_classification, resolve_task

# An undeclared text column is reported as numbers with stray text when at least this share of
# its values parse as numbers (declare `type: categorical` in the schema file to keep it as text).
NUMERIC_SHARE = 0.9
# Leading bytes of files that are not CSV text, and what they are.
MAGIC = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"PAR1": "Parquet",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"(\xb5/\xfd": "zstd",
}
MAX_OBSERVED = 20  # distinct values listed in `observed` of an allowed-set rule


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
    ) -> None:
        """Record a rule; `bad` holds offending values indexed by row (passed = none of them)."""
        bad = pd.Series([], dtype=object) if bad is None else bad
        self.rules.append(
            {
                "rule": rule,
                "column": column,
                "severity": severity,
                "passed": bool(bad.empty if passed is None else passed),
                "observed": observed,
                "unexpected_count": len(bad),
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


# --- reading ------------------------------------------------------------------------------


def read_input(path: Path, report: Report) -> pd.DataFrame | None:
    """The raw table (index = data row), or None after recording why it cannot be one."""

    def unreadable(why: str) -> None:
        report.add("readable", None, observed=f"{path}: {why}", passed=False)

    if not path.exists():
        return unreadable("does not exist (data.path)")
    ragged = False
    if path.suffix.lower() == ".csv":
        header, ragged_rows, why = scan_csv(path)
        if why is not None:
            return unreadable(why)
        duplicated = sorted({name for name in header if header.count(name) > 1})
        report.add(
            "unique column names",
            None,
            observed=f"repeated in the header: {duplicated}" if duplicated else "all unique",
            passed=not duplicated,
        )
        ragged = not ragged_rows.empty
        report.add(
            f"fields per row == {len(header)} (the header's)",
            None,
            observed=f"{len(ragged_rows)} row(s) with another number of fields",
            bad=ragged_rows,
        )
    try:
        return io.read_raw(path)
    except PipelineError as exc:
        return None if ragged else unreadable(str(exc).removeprefix("data.path: "))


def scan_csv(path: Path) -> tuple[list[str], pd.Series, str | None]:
    """(header, field count of each data row whose count differs from the header's, why the
    file is not a CSV text table or None). Blank lines are skipped, as pandas does."""
    with path.open("rb") as f:
        head = f.read(4096)
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return [], pd.Series(), f"holds {kind} bytes, not a CSV text table"
    if b"\x00" in head:
        return [], pd.Series(), "holds NUL bytes: a binary file, not a CSV text table"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if not header:
                return [], pd.Series(), "is empty: no header line"
            counts = np.fromiter((len(record) for record in reader if record), dtype=np.int64)
    except UnicodeDecodeError:
        return [], pd.Series(), _encoding_problem(path)
    except csv.Error as exc:
        return [], pd.Series(), f"is not CSV: {exc}"
    rows = np.flatnonzero(counts != len(header))
    return header, pd.Series([f"{n} fields" for n in counts[rows]], index=rows, dtype=object), None


def _encoding_problem(path: Path) -> str:
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = line[exc.start : exc.start + 1]
                return (
                    f"line {number} holds byte {byte!r}, which is not UTF-8 text; "
                    f"re-save the file as UTF-8"
                )
    return "is not UTF-8 text"


# --- checks before cleaning ---------------------------------------------------------------


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


def coerce_types(df: pd.DataFrame, schema: TableSchema, report: Report) -> pd.DataFrame:
    """Declared numeric columns become numbers (bad values reported, never silently NaN);
    declared categorical columns become strings."""
    df = df.copy()
    for column, rule in schema.columns.items():
        if column not in df:
            continue  # column_exists reports it
        values = df[column]
        if rule.type == "numeric" and not ptypes.is_numeric_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = values[numbers.isna() & values.notna()]
            report.add("numeric_type", column, f"declared numeric; read as {values.dtype}", bad)
            df[column] = numbers
        elif rule.type == "categorical" and ptypes.is_numeric_dtype(values):
            df[column] = values.astype("string").astype(str).where(values.notna())
        if (rule.min is not None or rule.max is not None) and not is_numeric_feature(df[column]):
            raise PipelineError(
                f"schema columns.{column}: min/max need a numeric column, but {column!r} holds "
                f"{values.dtype} values; add type: numeric to check and convert it"
            )
    return df


def check_inferred_types(
    df: pd.DataFrame, schema: TableSchema, columns: list[str], report: Report
) -> None:
    """An undeclared text column whose values are nearly all numbers holds stray text."""
    for column in columns:
        declared = schema.columns.get(column)
        values = df[column]
        if (declared and declared.type) or ptypes.is_numeric_dtype(values):
            continue
        counts = values.value_counts()  # distinct values: parse each once
        if counts.empty:
            continue
        is_number = pd.to_numeric(counts.index.to_series(), errors="coerce").notna().to_numpy()
        share = counts[is_number].sum() / counts.sum()
        if NUMERIC_SHARE <= share < 1:
            report.add(
                "numeric_type",
                column,
                f"{share:.1%} of values are numbers, the rest text; fix the text, or declare "
                f"type: categorical in the schema file if text is meant",
                values[values.isin(counts.index[~is_number])],
            )


def schema_checks(
    df: pd.DataFrame, schema: TableSchema, target: str, kept: list[str]
) -> list[Check]:
    """The GX suite from the schema file, plus what every table gets (finite, not all null)."""
    checks = []
    for column in schema.named_columns(target):
        named_by = "data.target" if column == target else "the schema file"
        observed = (
            f"present (named by {named_by})"
            if column in df
            else f"missing (named by {named_by}); columns present: {list(df.columns)}"
        )
        checks.append(Check("column_exists", column, "ExpectColumnToExist", observed=observed))
    for column, rule in schema.columns.items():
        if column not in df:
            continue
        values = df[column]
        if rule.min is not None:
            checks.append(
                Check(
                    f"min >= {rule.min:g}",
                    column,
                    "ExpectColumnValuesToBeBetween",
                    {"min_value": rule.min},
                    observed=values.min(),
                )
            )
        if rule.max is not None:
            checks.append(
                Check(
                    f"max <= {rule.max:g}",
                    column,
                    "ExpectColumnValuesToBeBetween",
                    {"max_value": rule.max},
                    observed=values.max(),
                )
            )
        if rule.allowed is not None:
            distinct = pd.unique(values.dropna())
            observed = (
                sorted(distinct.tolist(), key=str)
                if len(distinct) <= MAX_OBSERVED
                else f"{len(distinct)} distinct values"
            )
            checks.append(
                Check(
                    f"in {rule.allowed}",
                    column,
                    "ExpectColumnValuesToBeInSet",
                    {"value_set": _comparable(rule.allowed, values)},
                    observed=observed,
                )
            )
        if not rule.nullable:
            checks.append(Check("not null", column, "ExpectColumnValuesToNotBeNull"))
        if rule.unique:
            checks.append(Check("unique", column, "ExpectColumnValuesToBeUnique"))
    if schema.strict:
        checks.append(
            Check(
                "strict: columns are the schema file's",
                None,
                "ExpectTableColumnsToMatchSet",
                {"column_set": schema.named_columns(target), "exact_match": True},
            )
        )
    for column in kept:
        if is_numeric_feature(df[column]):
            checks.append(
                Check(
                    "finite",
                    column,
                    "ExpectColumnValuesToNotBeInSet",
                    {"value_set": [np.inf, -np.inf]},
                )
            )
        if len(df):
            checks.append(
                Check(
                    "not entirely null",
                    column,
                    "ExpectColumnProportionOfNonNullValuesToBeBetween",
                    {"min_value": 0, "strict_min": True},
                    observed=f"{df[column].notna().mean():.1%} of values present",
                )
            )
    return checks


def _comparable(allowed: list[Any], values: pd.Series) -> list[Any]:
    """Allowed values as the column holds them: numbers for numbers (0 == 0.0), else text."""
    if ptypes.is_bool_dtype(values):
        return allowed
    if is_numeric_feature(values):
        return [v for v in allowed if not isinstance(v, str)]
    return [str(v) for v in allowed]


# --- cleaning -----------------------------------------------------------------------------


def _rows(index: pd.Index) -> list[int]:
    return [int(i) for i in index[:EXAMPLES]]


def drop_null_target(df: pd.DataFrame, target: str, report: Report) -> pd.DataFrame:
    """Rows without a target teach nothing: always dropped, counted, whatever clean.missing says."""
    null = df[target].isna()
    report.cleaning["target_missing"] = {
        "rows_removed": int(null.sum()),
        "example_rows": _rows(df.index[null]),
    }
    return df[~null]


def handle_missing(df: pd.DataFrame, rule: str, report: Report) -> pd.DataFrame:
    """clean.missing: drop rows holding a null (the course's rule), or keep them for fit_scaler
    to impute from train rows (nothing is fitted here)."""
    null_rows = df.isna().any(axis=1)
    kept = df[~null_rows] if rule == "drop" else df
    report.cleaning["missing"] = {
        "rule": rule,
        "rows_removed": len(df) - len(kept),
        "rows_with_nulls": int(null_rows.sum()),
        "nulls_per_column": {str(c): int(n) for c, n in df.isna().sum().items() if n},
        "example_rows": _rows(df.index[null_rows]),
    }
    return kept


def apply_units(df: pd.DataFrame, schema: TableSchema, report: Report) -> pd.DataFrame:
    """Bring declared columns to one unit (e.g. grams to kilograms), renaming them if asked."""
    df = df.copy()
    done = {}
    for column, unit in schema.units.items():
        if column not in df:
            continue
        if not is_numeric_feature(df[column]):
            report.add(
                f"units: scale {unit.scale:g}",
                column,
                f"column holds {df[column].dtype} values, not numbers; declare type: numeric",
                passed=False,
            )
            continue
        df[column] = df[column] * unit.scale
        if unit.rename:
            df = df.rename(columns={column: unit.rename})
        done[column] = {"scale": unit.scale, "renamed_to": unit.rename}
    report.cleaning["units"] = done
    return df


def handle_duplicates(df: pd.DataFrame, rule: str, report: Report) -> pd.DataFrame:
    """clean.duplicates: exact duplicate rows (same value in every kept column)."""
    duplicated = df.duplicated()
    report.cleaning["duplicates"] = {
        "rule": rule,
        "duplicate_rows": int(duplicated.sum()),
        "rows_removed": int(duplicated.sum()) if rule == "drop" else 0,
        "example_rows": _rows(df.index[duplicated]),
    }
    return df[~duplicated] if rule == "drop" else df


def clean_table(
    df: pd.DataFrame, schema: TableSchema, params: Params, report: Report
) -> pd.DataFrame:
    target = params.data.target
    df = df.drop(columns=[c for c in schema.drop if c in df])
    report.cleaning["columns_dropped"] = list(schema.drop)
    if target in df:
        df = drop_null_target(df, target, report)
    df = handle_missing(df, params.clean.missing, report)
    df = apply_units(df, schema, report)
    return handle_duplicates(df, params.clean.duplicates, report)


# --- size rules on the clean table --------------------------------------------------------


def _shares(split: SplitParams) -> dict[str, float]:
    """Share of all rows in train/val/test under the configured split scheme."""
    return dict(split.shares())


def class_floor(split: SplitParams) -> tuple[int, str]:
    """Fewest rows a class needs: 2 to stratify, enough that the smallest split share still gets
    one row of it, and with k-fold splitting one row in each of the k folds."""
    name, share = min(_shares(split).items(), key=lambda item: item[1])
    for_split = math.ceil(1 / share - 1e-9)
    floor, why = max(2, for_split), f"2 to stratify; {for_split} for one row in {name} ({share:g})"
    if split.scheme == "kfold":
        folds = split.folds
        floor, why = max(floor, folds), f"{why}; {folds} for one row in each fold"
    return floor, why


def training_rows(rows: int, split: SplitParams) -> int:
    """Rows the model trains on after `split` (its stratified counts are within a row of this)."""
    return round(rows * _shares(split)["train"])


def _encoding(df: pd.DataFrame, schema: TableSchema, params: Params) -> dict[str, Any]:
    """Which columns `encode` codes as ordinals (one number) and which are not features
    (`encode.method`, the schema's `encode:` rules, `split.group`)."""
    default = params.encode.method
    rules = schema.encode
    ordinal = {c for c in df.columns if (rules[c].method if c in rules else default) == "ordinal"}
    group = params.split.group
    return {"ordinal": ordinal, "exclude": {group} if group else set()}


def size_rules(
    df: pd.DataFrame, params: Params, report: Report, schema: TableSchema | None = None
) -> dict[str, Any]:
    """Rows, classes, rows per class and per model parameter, class balance; returns the facts
    (task, class counts, model size) for the report."""
    v, target = params.validate_, params.data.target
    facts: dict[str, Any] = {}
    classification = None
    if target in df and len(df):
        requested = params.data.task
        classification = requested in ("binary", "multiclass") or (
            requested == "auto" and infer_classification(df[target])[0]
        )
    checks = [
        Check(
            f"rows >= validate.min_rows ({v.min_rows})",
            None,
            "ExpectTableRowCountToBeBetween",
            {"min_value": v.min_rows},
            severity=v.min_rows_severity,
        )
    ]
    if classification:
        checks.append(
            Check(
                "classes >= 2",
                target,
                "ExpectColumnUniqueValueCountToBeBetween",
                {"min_value": 2},
            )
        )
    results = run_checks(df, checks)
    report.rules += results
    if not len(df) and v.min_rows_severity == "warn":
        report.add("rows >= 1", None, observed="no rows left after cleaning", passed=False)
    if classification is None or (classification and not results[-1]["passed"]):
        return facts

    try:
        task, reason = resolve_task(params.data.task, df[target])
    except PipelineError as exc:
        name = "numeric target (regression)" if not classification else "task matches target"
        report.add(name, target, observed=str(exc), passed=False)
        return facts
    facts.update(task=task, task_reason=reason)

    n_classes = 0
    if task != "regression":
        counts = df[target].astype(str).value_counts().sort_index()
        n_classes = len(counts)
        facts["class_counts"] = {k: int(c) for k, c in counts.items()}
        facts["class_shares"] = {k: round(c / len(df), 4) for k, c in counts.items()}
        floor, why = class_floor(params.split)
        for minimum, name, severity in (
            (floor, f"rows per class >= {floor} (what the split needs: {why})", "fail"),
            (
                v.min_rows_per_class,
                f"rows per class >= validate.min_rows_per_class ({v.min_rows_per_class})",
                v.min_rows_per_class_severity,
            ),
        ):
            small = {k: int(c) for k, c in counts.items() if c < minimum}
            report.rules.append(
                {
                    "rule": name,
                    "column": target,
                    "severity": severity,
                    "passed": not small,
                    "observed": {"below": small} if small else {"smallest": int(counts.min())},
                    "unexpected_count": len(small),
                    "examples": [],
                }
            )
        smallest = counts.idxmin()
        share = counts[smallest] / len(df)
        hint = (
            "; consider the oversampling option of `split` (train rows only) or more data"
            if share < v.min_class_share
            else ""
        )
        report.add(
            f"smallest class share >= validate.min_class_share ({v.min_class_share:g})",
            target,
            observed=f"{smallest!r} is {share:.1%} of {len(df)} rows{hint}",
            passed=share >= v.min_class_share,
            severity="warn",
        )

    width = encoded_width(df, target, **_encoding(df, schema or TableSchema(), params))
    outputs = output_width(task, n_classes)
    hidden = list(params.model.hidden)
    normalization = params.model.normalization
    parameters = mlp_parameter_count(width, hidden, outputs, normalization)
    train_rows = training_rows(len(df), params.split)
    facts["model_size"] = {
        "encoded_features": width,
        "outputs": outputs,
        "hidden": hidden,
        "parameters": parameters,
        "training_rows": train_rows,
    }
    if v.rows_per_parameter > 0:
        needed = math.ceil(v.rows_per_parameter * parameters)
        report.add(
            f"training rows >= {v.rows_per_parameter:g} x model parameters "
            f"(validate.rows_per_parameter)",
            None,
            observed=(
                f"{train_rows} training rows ({_shares(params.split)['train']:.3g} of {len(df)}) "
                f"for {parameters} parameters of a {width}-{'-'.join(map(str, hidden))}"
                f"{'-' if hidden else ''}{outputs} MLP: {train_rows / parameters:.2f} per "
                f"parameter; {needed} wanted. More data, or a smaller model.hidden"
            ),
            passed=train_rows >= needed,
            severity=v.rows_per_parameter_severity,
        )
    return facts


# --- the stage ----------------------------------------------------------------------------


def validate_table(
    raw: pd.DataFrame | None, schema: TableSchema, params: Params, report: Report | None = None
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """Clean and check `raw` (None: unreadable, `report` says why); return (the clean table,
    or None when a `fail` rule failed; the report as a dict)."""
    report = Report() if report is None else report
    target = params.data.target
    check_schema_against_target(schema, target)
    summary: dict[str, Any] = {"rows_in": None if raw is None else len(raw), "target": target}
    df = None
    if raw is not None:
        df = coerce_types(raw.rename_axis(io.ROW), schema, report)
        kept = [c for c in df.columns if c not in schema.drop]
        check_inferred_types(df, schema, kept, report)
        report.rules += run_checks(df, schema_checks(df, schema, target, kept))
        df = clean_table(df, schema, params, report)
        summary["rows_out"] = len(df)
        summary.update(size_rules(df, params, report, schema))
    result = {
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
    return (df if result["passed"] else None), result


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: dict[str, Any]) -> str:
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
    for title, severity in (("Fix these", "fail"), ("Warnings", "warn")):
        broken = [r for r in result["rules"] if not r["passed"] and r["severity"] == severity]
        if broken:
            lines += ["", f"## {title}", ""]
            lines += [f"- {_cell(line)}" for line in _failure_lines(broken)]
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
            lines.append(f"| drop columns | schema file | 0 | {cleaning['columns_dropped']} |")
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
            renamed = f", renamed to `{unit['renamed_to']}`" if unit["renamed_to"] else ""
            lines.append(f"| units | schema file | 0 | `{column}` x {unit['scale']:g}{renamed} |")
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
            f"parameters, for about {size['training_rows']} training rows.",
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


def _failure_lines(rules: list[dict[str, Any]]) -> list[str]:
    lines = []
    for r in rules:
        where = f"column {r['column']!r}: " if r["column"] else ""
        if r["unexpected_count"]:
            rows = ", ".join(f"row {e['row']} = {e['value']!r}" for e in r["examples"])
            broken = f"broken by {r['unexpected_count']} value(s)" + (f" ({rows})" if rows else "")
        else:
            broken = "failed"
        lines.append(f"{where}{r['rule']} {broken}; observed {r['observed']}")
    return lines


def failure_message(result: dict[str, Any]) -> str:
    failed = [r for r in result["rules"] if not r["passed"] and r["severity"] == "fail"]
    head = (
        f"validate: {result.get('input', 'table')}: {len(failed)} rule(s) failed "
        f"(details in {io.VALIDATION_REPORT.with_suffix('.md')}):"
    )
    return "\n".join([head, *(f"  {line}" for line in _failure_lines(failed))])


def cleaning_rules(schema: TableSchema, params: Params) -> dict[str, Any]:
    """What `predict` must apply to new rows the way it was applied here (saved as JSON)."""
    return {
        "target": params.data.target,
        "missing": params.clean.missing,
        "schema": schema.model_dump(mode="json"),
    }


def run(params: Params) -> None:
    path = Path(params.data.path)
    schema, schema_file = load_schema(path)
    report = Report()
    raw = read_input(path, report)
    clean, result = validate_table(raw, schema, params, report)
    result["input"] = str(path)
    result["schema_file"] = str(schema_file) if schema_file else None
    io.write_json(result, io.VALIDATION_REPORT)
    io.write_text(render_markdown(result), io.VALIDATION_REPORT.with_suffix(".md"))
    if clean is None:
        for stale in (io.VALIDATED, io.CLEANING, io.TASK):  # an earlier run's must not look valid
            stale.unlink(missing_ok=True)
        raise PipelineError(failure_message(result))
    io.write_json(cleaning_rules(schema, params), io.CLEANING)
    if "task" not in result:  # the size rules stopped before deciding it
        result["task"], result["task_reason"] = resolve_task(
            params.data.task, clean[params.data.target]
        )
    io.write_json(
        {"target": params.data.target, "task": result["task"], "reason": result["task_reason"]},
        io.TASK,
    )
    io.write_table(clean, io.VALIDATED)
    warned = [r for r in result["rules"] if not r["passed"]]
    for line in _failure_lines(warned):
        print(f"validate: warning: {line}", file=sys.stderr)
    print(
        f"validate: {result['rows_in']} rows in, {len(clean)} out; task {result['task']} "
        f"({result['task_reason']}); {len(warned)} warning(s), see "
        f"{io.VALIDATION_REPORT.with_suffix('.md')}"
    )


if __name__ == "__main__":
    run(load_params())
