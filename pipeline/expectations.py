"""The Great Expectations side of `validate`: checks become a GX 1.x suite, run on a pandas table,
and come back as report rules.

GX is imported on first use (about 3 s), only by this stage, with its progress bars, analytics
and info logging off; one ephemeral context serves the whole process. GX returns results in no
fixed order, so each expectation carries its position in `meta` and is matched back by it.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline import io

EXAMPLES = 5  # offending values (with their rows) kept per rule


@dataclass(frozen=True)
class Check:
    """One rule run by GX: `expectation` is a class name in `great_expectations.expectations`."""

    rule: str
    column: str | None
    expectation: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    severity: str = "fail"
    observed: Any = None  # shown in the report instead of what GX observed, when given


@functools.cache
def _batch_definition() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return (
        context.data_sources.add_pandas("validate")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("whole table")
    )


def run_checks(df: pd.DataFrame, checks: list[Check]) -> list[dict[str, Any]]:
    """Run `checks` on `df` (index = input row numbers) and return one rule dict per check,
    in the order given: {rule, column, severity, passed, observed, unexpected_count, examples}."""
    if not checks:
        return []
    import great_expectations as gx
    from great_expectations import expectations as gxe

    batch_definition = _batch_definition()
    suite = gx.ExpectationSuite(name="validate")
    for number, check in enumerate(checks):
        column = {} if check.column is None else {"column": check.column}
        expectation = getattr(gxe, check.expectation)(
            **column, **check.kwargs, meta={"check": number}
        )
        suite.add_expectation(expectation)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df.rename_axis(io.ROW)})
    outcome = batch.validate(
        suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    )
    by_number = {r.expectation_config.meta["check"]: r for r in outcome.results}
    return [_rule(check, by_number[i]) for i, check in enumerate(checks)]


def _rule(check: Check, result: Any) -> dict[str, Any]:
    details = result.result or {}
    error = _exception_message(result.exception_info)
    if error is not None:
        observed: Any = error
    elif check.observed is not None:
        observed = check.observed
    elif "observed_value" in details:
        observed = details["observed_value"]
        mismatched = details.get("details", {}).get("mismatched")
        if mismatched:
            observed = {"columns": observed, **mismatched}
    else:
        observed = f"{details.get('unexpected_count', 0)} of {details.get('element_count', 0)} rows"
    examples = [
        {"row": int(item[io.ROW]), "value": item.get(check.column)}
        for item in details.get("partial_unexpected_index_list") or []
        if io.ROW in item
    ]
    unexpected = details.get("unexpected_count")
    if unexpected is None:
        mismatched = details.get("details", {}).get("mismatched") or {}
        unexpected = len(mismatched.get("unexpected", []))
    return {
        "rule": check.rule,
        "column": check.column,
        "severity": check.severity,
        "passed": bool(result.success),
        "observed": observed,
        "unexpected_count": int(unexpected),
        "examples": examples,
    }


def _exception_message(info: dict[str, Any] | None) -> str | None:
    """GX reports a check it could not run (e.g. a missing column) in exception_info."""
    if not info:
        return None
    entries = info.values() if "raised_exception" not in info else [info]
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message"))
    return None
