"""The Great Expectations side of `validate`: checks become a GX 1.x suite, run on each batch of
the table, and come back merged as report rules.

GX is imported on first use (about 3 s), only by this stage, with its progress bars, analytics
and info logging off; one ephemeral context serves the whole process, and a suite is built once
and run on every batch (each run costs GX about 0.2 s besides the rows: a reason not to make
batches tiny). GX returns results in no fixed order, so each expectation carries its position in
`meta` and is matched back by it.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipeline.core import io

EXAMPLES = 5  # offending values (with their rows) kept per rule


class BadCells:
    """Per column, batch after batch: how many offending cells, and the first EXAMPLES of them
    with their rows (what a report rule shows)."""

    def __init__(self, columns: list[str]) -> None:
        self.counts = dict.fromkeys(columns, 0)
        self.shown = {c: pd.Series([], dtype=object) for c in columns}

    def add(self, column: str, cells: pd.Series) -> None:
        self.counts[column] += len(cells)
        shown = self.shown[column]
        if len(shown) < EXAMPLES:
            more = cells.head(EXAMPLES - len(shown)).astype(object)
            self.shown[column] = pd.concat([shown, more]) if len(shown) else more


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


class Suite:
    """`checks` as GX suites, built once and run on each batch (`validate`); `rules()` merges
    the batches' results: a rule passed if it passed on every batch, unexpected counts are
    summed, and the first EXAMPLES offending values (batches come in file order) are kept.

    The checks are cut by column into suites of at most GROUP_COLUMNS columns, each run on
    those columns of the batch alone (checks of the whole table, column None, on all of it): GX
    looks each check's column up among all the batch's columns and filters the whole frame per
    check, so one suite over a wide table costs the square of its columns (1,500 columns: 100 s);
    groups keep it linear, for a small fixed cost per group and batch (benchmarks/RESULTS.md)."""

    def __init__(self, checks: list[Check]) -> None:
        self.checks = checks
        self._batch_definition = _batch_definition() if checks else None
        self._groups = [
            (columns, _gx_suite(checks, numbers)) for columns, numbers in _groups(checks)
        ]
        self._tallies = [_Tally() for _ in checks]

    def validate(self, df: pd.DataFrame) -> None:
        """Run the suites on one batch (index = input row numbers) and add up their results."""
        df = df.rename_axis(io.ROW)
        for columns, suite in self._groups:
            frame = df if columns is None else df[[c for c in columns if c in df.columns]]
            batch = self._batch_definition.get_batch(batch_parameters={"dataframe": frame})
            outcome = batch.validate(suite, result_format=_RESULT_FORMAT)
            for result in outcome.results:
                number = result.expectation_config.meta["check"]
                self._tallies[number].add(self.checks[number], result)

    def rules(self, observed: dict[int, Any] | None = None) -> list[dict[str, Any]]:
        """One rule dict per check, in the order given: {rule, column, severity, passed,
        observed, unexpected_count, examples}; `observed` replaces what a check shows, by
        position (e.g. a column's minimum over the whole table)."""
        observed = observed or {}
        return [
            tally.rule(check, observed.get(number, check.observed))
            for number, (check, tally) in enumerate(zip(self.checks, self._tallies, strict=True))
        ]


def run_checks(df: pd.DataFrame, checks: list[Check]) -> list[dict[str, Any]]:
    """Run `checks` on one table `df` (index = input row numbers): see `Suite`."""
    if not checks:
        return []
    suite = Suite(checks)
    suite.validate(df)
    return suite.rules()


GROUP_COLUMNS = 64  # columns per GX suite (see `Suite`)
_RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "partial_unexpected_count": EXAMPLES,
    "return_unexpected_index_query": False,  # a second pass over the rows that nothing reads
}


def _groups(checks: list[Check]) -> list[tuple[list[str] | None, list[int]]]:
    """(columns, check numbers) per suite: checks of the whole table together (columns None),
    then the others by column, GROUP_COLUMNS columns at a time, in the checks' order."""
    whole = [n for n, check in enumerate(checks) if check.column is None]
    by_column: dict[str, list[int]] = {}
    for number, check in enumerate(checks):
        if check.column is not None:
            by_column.setdefault(check.column, []).append(number)
    columns = list(by_column)
    groups: list[tuple[list[str] | None, list[int]]] = [(None, whole)] if whole else []
    for start in range(0, len(columns), GROUP_COLUMNS):
        part = columns[start : start + GROUP_COLUMNS]
        groups.append((part, [n for column in part for n in by_column[column]]))
    return groups


def _gx_suite(checks: list[Check], numbers: list[int]) -> Any:
    """The GX suite of `checks[numbers]`, each expectation carrying its number in `meta`. Built
    all at once: `add_expectation` compares each new one with every one before it."""
    import great_expectations as gx
    from great_expectations import expectations as gxe

    expectations = []
    for number in numbers:
        check = checks[number]
        column = {} if check.column is None else {"column": check.column}
        expectations.append(
            getattr(gxe, check.expectation)(**column, **check.kwargs, meta={"check": number})
        )
    return gx.ExpectationSuite(name=f"validate {numbers[0]}", expectations=expectations)


@dataclass
class _Tally:
    """One check's results over the batches so far."""

    passed: bool = True
    unexpected: int = 0
    elements: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    observed: Any = None
    mismatched: Any = None

    def add(self, check: Check, result: Any) -> None:
        details = result.result or {}
        self.passed = self.passed and bool(result.success)
        if self.error is None:
            self.error = _exception_message(result.exception_info)
        if self.observed is None and "observed_value" in details:
            self.observed = details["observed_value"]
            self.mismatched = details.get("details", {}).get("mismatched")
        unexpected = details.get("unexpected_count")
        if unexpected is None:
            mismatched = details.get("details", {}).get("mismatched") or {}
            unexpected = len(mismatched.get("unexpected", []))
        self.unexpected += int(unexpected)
        self.elements += int(details.get("element_count", 0))
        for item in details.get("partial_unexpected_index_list") or []:
            if io.ROW in item and len(self.examples) < EXAMPLES:
                self.examples.append({"row": int(item[io.ROW]), "value": item.get(check.column)})

    def rule(self, check: Check, shown: Any) -> dict[str, Any]:
        if self.error is not None:
            observed: Any = self.error
        elif shown is not None:
            observed = shown
        elif self.observed is not None:
            observed = self.observed
            if self.mismatched:
                observed = {"columns": observed, **self.mismatched}
        else:
            observed = f"{self.unexpected} of {self.elements} rows"
        return {
            "rule": check.rule,
            "column": check.column,
            "severity": check.severity,
            "passed": self.passed,
            "observed": observed,
            "unexpected_count": self.unexpected,
            "examples": self.examples,
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
