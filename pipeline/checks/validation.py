"""validate's core: check and clean a table read batch by batch, into the report document.

Two passes over the source, each one batch at a time, so memory is set by the batch: pass 1
counts what each column holds to type it once for the whole table (`column_types`), to give
it a role (`roles`: identifiers and constants dropped, dates as features) and, under
clean.missing: auto, the rows holding a null, to choose drop or impute
(`pipeline.checks.missing_values`; when the roles change that count, a null-only pass over a
few columns redoes it, `nulls_after_roles`); pass 2 types, applies the roles, checks (Great
Expectations, `pipeline.checks.table_checks`), cleans
(`pipeline.checks.cleaning`) and counts (`pipeline.checks.size_rules`) each batch and hands the
clean batch on; then the whole-table rules (rows, classes, rows per class and per model
parameter, the task). Checking goes on after a failure so the report lists every problem."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.checks.cleaning import Cleaner
from pipeline.checks.column_types import (
    ColumnType,
    Profile,
    TextInNumbers,
    apply_types,
    decide_types,
    profile,
)
from pipeline.checks.dates import feature_sources
from pipeline.checks.dialect import Dialect
from pipeline.checks.missing_values import NullRows, big_drop_rule, choose_missing
from pipeline.checks.rawfile import RawFile, Unreadable
from pipeline.checks.roles import RoleApplier, RoleEvidence, RolePlan, decide_roles
from pipeline.checks.size_rules import TableFacts, size_rules
from pipeline.checks.table_checks import TableChecks
from pipeline.checks.validation_report import (
    Report,
    document,
)
from pipeline.checks.value_rules import nested_rules
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
from pipeline.core.schema import TableSchema

Sink = Callable[[pd.DataFrame], None]


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
        if (rule.min is not None or rule.max is not None) and rule.type not in (None, "numeric"):
            raise PipelineError(f"schema columns.{column}: min/max need type: numeric")


def column_types(
    source: RawFile,
    schema: TableSchema,
    report: Report,
    evidence: RoleEvidence | None = None,
    counted: NullRows | None = None,
) -> dict[str, ColumnType] | None:
    """Pass 1: the type of every column, or None when the file is not a table or holds nested
    values (reported); `evidence` counts what the columns' roles are decided from as the
    batches go by; `counted` counts the rows holding a null on the way (reading every column).
    A nested column the schema file drops is kept as read."""
    if nested_rules(source, schema, report):
        return None
    nested = list(source.nested_columns())
    floats = source.float_columns()
    if floats and evidence is not None:  # a float column is read only if it may be constant
        floats = [c for c in floats if c not in source.maybe_constant(floats)]
    others = [c for c in source.columns if c not in floats and c not in nested]
    if counted is not None:
        batches = counted.watch(source.batches(), others)
    else:
        batches = source.batches(others) if others else iter(())
    profiles = profile(batches if evidence is None else evidence.watch(batches))
    native = {c: "other" if c in nested else "float" for c in source.columns}
    profiles = {c: profiles.get(c, Profile(native[c])) for c in source.columns}
    if source.is_csv:
        report.add("delimiter and decimal mark", None, observed=source.dialect.said, passed=True)
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
            observed=f"{len(ragged)} row(s) with another number of fields"
            + (source.dialect.hint if len(ragged) else ""),
            bad=ragged,
        )
        if len(ragged):
            return None
    return decide_types(profiles, schema)


def nulls_after_roles(
    source: RawFile, types: dict[str, ColumnType], plan: RolePlan, counted: NullRows
) -> NullRows:
    """Pass 1's null count (`counted`), redone when the roles change it (see
    `pipeline.checks.missing_values`): over the target, the kept columns with nulls and the date
    columns, typed and with their date features, as pass 2 cleans them."""
    dropped = {*plan.drop, *(c for c, parts in plan.dates.items() if not parts)}
    dates = {c: parts for c, parts in plan.dates.items() if parts}
    if not dates and not any(counted.nulls.get(c) for c in dropped):
        return counted
    columns = [
        c
        for c in types
        if c == counted.target or c in dates or (counted.nulls.get(c) and c not in dropped)
    ]
    recount = NullRows(counted.target, (), feature_sources(dates))
    if not columns:  # no target, no date, no kept column with nulls: no row holds a null
        recount.rows = counted.rows
        return recount
    featured = RoleApplier(RolePlan({}, [], dates), "")
    for batch in source.batches(columns):  # a CSV is read whole: keep the columns
        typed = apply_types(batch[columns], {c: types[c] for c in columns}).frame
        recount.add(featured.apply(typed))
    return recount


def validate_batches(
    source: RawFile | None,
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
    counted = NullRows(target, schema.drop) if params.clean.missing == "auto" else None
    try:
        evidence = RoleEvidence()
        types = None if source is None else column_types(source, schema, report, evidence, counted)
        if types is None:
            return document(report, summary)
        plan = decide_roles(evidence, types, schema, params)
        if counted is not None:
            counted = nulls_after_roles(source, types, plan, counted)
        choice = choose_missing(params, counted)
        summary["missing"] = choice.as_dict()
        summary["roles"] = plan.report()
        report.rules += plan.warnings() + plan.problems
        roles = RoleApplier(plan, choice.chosen)
        text_cells = TextInNumbers(types)
        checks = cleaner = facts = None
        rows_in = 0
        for batch in source.batches():
            rows_in += len(batch)
            typed = apply_types(batch, types)
            text_cells.add(typed.text_in_numbers)
            frame = typed.frame
            featured = roles.apply(frame)  # identifiers, constants dropped; dates as features
            if checks is None:
                kept = [c for c in frame.columns if c not in (*schema.drop, *plan.drop)]
                checks = TableChecks(frame, schema, target, kept, params.validate_.max_abs)
                cleaner = Cleaner(schema, params, featured, choice.chosen)
            checks.add(frame)
            clean = cleaner.clean(featured)
            if facts is None:
                facts = TableFacts(params, schema, clean, plan.dates)
            facts.add(clean)
            sink(clean)
    except Unreadable as exc:
        report.rules = []
        report.add("readable", None, observed=f"{source.path}: {exc}", passed=False)
        return document(report, summary)
    report.rules += roles.rules()
    report.rules += text_cells.rules()
    report.rules += checks.rules()
    report.rules += cleaner.problems
    report.cleaning = cleaner.summary()
    sources = feature_sources(plan.dates)
    dropped = big_drop_rule(report.cleaning, choice, rows_in, facts.rows, params, sources)
    report.rules += [dropped] if dropped else []
    rules, facts_summary = size_rules(facts, params)
    report.rules += rules
    summary.update(rows_in=rows_in, rows_out=facts.rows, **facts_summary)
    return document(report, summary)


def cleaning_rules(
    schema: TableSchema,
    params: Params,
    missing: str,
    roles: dict[str, Any],
    dialect: Dialect | None = None,
) -> dict[str, Any]:
    """What `predict` must apply to new rows the way it was applied here (saved as JSON);
    `missing`: clean.missing as resolved for the table (drop or impute), which fit_scaler and
    cv read here too; `roles`: the report's (`RolePlan.report`), of which predict needs the
    dates (it reads only the columns the model was fit on: the dropped ones are not needed);
    `dialect`: a CSV's as read (None: Parquet), which predict compares its input's with."""
    return {
        "target": params.data.target,
        "missing": missing,
        "max_abs": params.validate_.max_abs,
        "schema": schema.model_dump(mode="json"),
        "roles": {"dates": roles["dates"]},
        "dialect": None if dialect is None else dialect.as_json(),
    }
