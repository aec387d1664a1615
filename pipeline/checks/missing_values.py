"""clean.missing: auto, decided before validate cleans a row; and why cleaning removed many rows.

Validate reads the table twice (`pipeline.checks.validation`). Under `auto`, pass 1 also counts
the rows with a target and, of them, those holding a null in a column the schema file keeps.
That is the count of the rows `drop` would remove unless the roles, decided after pass 1,
change it: a column they drop (an identifier, a date under clean.dates: drop) holds nulls, or a
date column becomes features (its cells that are not dates become null only in pass 2). Then a
null-only pass reads just the target, the kept columns with nulls and the date columns, types
them and puts the date features in place as pass 2 will, and counts the rows holding a null
among them: the rows `drop` will remove (text in a numeric column aside: it fails validate).
Either count is a sum over rows, the same for any data.batch_rows. Pass 2 cleans with the
choice: drop those rows when they are at most clean.max_drop_share of the rows with a target,
else keep them for fit_scaler to impute (the median or most frequent value of the train rows,
plus a 0/1 `<column>__missing` input for each column with nulls there). The choice and its
reason (naming the emptiest columns) head reports/validation.md and go to stderr; the resolved
value (drop or impute) goes to models/preprocess/cleaning.json, which fit_scaler, cv and
predict apply.

Whatever the setting, when cleaning removes more than BIG_DROP of the rows (or all of them),
`big_drop_rule` says why: the rows without a target, the emptiest columns with their null
shares (a date column by its name, not its features'), the duplicates, and the params that
change it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipeline.core.params import Params

BIG_DROP = 0.2  # share of the rows cleaning may remove before it is explained as a rule
SHOWN = 5  # emptiest columns named


class NullRows:
    """Pass 1's count: rows with a target, and of them the rows holding a null."""

    def __init__(
        self, target: str, ignored: Collection[str], sources: Mapping[str, str] | None = None
    ) -> None:
        """`ignored`: columns whose nulls do not count (the schema's drop columns); `sources`:
        date feature -> its date column, the name the counts are shown under."""
        self.target = target
        self.ignored = set(ignored)
        self.sources = dict(sources or {})
        self.rows = 0
        self.with_nulls = 0
        self.nulls: dict[str, int] = {}

    def add(self, frame: pd.DataFrame) -> None:
        if self.target in frame:
            frame = frame[frame[self.target].notna().to_numpy()]
        nulls = frame[[c for c in frame.columns if c not in self.ignored]].isna()
        self.rows += len(frame)
        self.with_nulls += int(nulls.any(axis=1).sum())
        for column, count in nulls.sum().items():
            self.nulls[str(column)] = self.nulls.get(str(column), 0) + int(count)

    def watch(self, batches: Iterable[pd.DataFrame], columns: list[str]) -> Iterator[pd.DataFrame]:
        """Count each batch, then hand on its `columns`."""
        for frame in batches:
            self.add(frame)
            yield frame[columns]


@dataclass(frozen=True)
class MissingChoice:
    """clean.missing as set, and as resolved for this table (drop or impute)."""

    setting: str
    chosen: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"setting": self.setting, "chosen": self.chosen, "reason": self.reason}


def missing_line(result: Mapping[str, Any]) -> str:
    """The choice in validate's report document as one sentence (stderr, validation.md)."""
    m = result["missing"]
    if m["setting"] != "auto":
        return f"clean.missing: {m['chosen']}, {m['reason']}"
    return f"clean.missing: auto chose {m['chosen']}: {m['reason']}"


def choose_missing(params: Params, counted: NullRows | None) -> MissingChoice:
    """The choice for clean.missing (`counted`: pass 1's count, needed for auto)."""
    setting, limit = params.clean.missing, params.clean.max_drop_share
    if setting != "auto":
        return MissingChoice(setting, setting, "as set in the params")
    assert counted is not None, "clean.missing: auto needs pass 1's count"
    rows, nulls = counted.rows, counted.with_nulls
    if not nulls:
        return MissingChoice(setting, "drop", f"none of the {rows} rows with a target holds a null")
    share = nulls / rows
    held = f"{nulls} of the {rows} rows with a target ({share:.1%}) hold a null"
    if share <= limit:
        return MissingChoice(
            setting,
            "drop",
            f"{held}, at most clean.max_drop_share ({limit:g}), so they are removed",
        )
    return MissingChoice(
        setting,
        "impute",
        f"{held}, more than clean.max_drop_share ({limit:g}), so they are kept: fit_scaler "
        f"fills each null from the train rows and adds a 0/1 <column>__missing input per column "
        f"with nulls (emptiest: {emptiest(counted.nulls, rows, counted.sources)}); "
        f"clean.missing: drop removes "
        f"them instead",
    )


def emptiest(nulls: Mapping[str, int], rows: int, sources: Mapping[str, str]) -> str:
    """The columns with the largest null shares, e.g. 'mpaa 92%, budget 91%'; a date feature
    is shown as its date column (`sources`; the features of a date are null in the same rows)."""
    by_column: dict[str, int] = {}
    for column, n in nulls.items():
        column = sources.get(column, column)
        by_column[column] = max(n, by_column.get(column, 0))
    ranked = sorted(((n, c) for c, n in by_column.items() if n), key=lambda x: (-x[0], x[1]))
    shown = ", ".join(f"{c} {n / max(rows, 1):.0%}" for n, c in ranked[:SHOWN])
    more = len(ranked) - SHOWN
    return shown + (f" and {more} more" if more > 0 else "") if ranked else "none"


def big_drop_rule(
    cleaning: Mapping[str, Any],
    choice: MissingChoice,
    rows_in: int,
    rows_out: int,
    params: Params,
    sources: Mapping[str, str],
) -> dict[str, Any] | None:
    """The rule 'cleaning removes at most BIG_DROP of the rows' (None for a table without rows):
    failed, it names each cause with the params or schema keys that change it (`sources`: date
    feature -> its date column). It fails the stage when nothing is left or when the rows left
    break validate.min_rows at its severity, and warns otherwise."""
    if not rows_in:
        return None
    removed = rows_in - rows_out
    passed = rows_out > 0 and removed <= BIG_DROP * rows_in
    observed = f"removed {removed} of {rows_in} rows ({removed / rows_in:.1%})"
    if not passed:
        observed += ": " + "; ".join(_causes(cleaning, choice, rows_in, params, sources))
    v = params.validate_
    severity = "warn" if rows_out >= v.min_rows else v.min_rows_severity
    return {
        "rule": f"cleaning removes at most {BIG_DROP:.0%} of the rows",
        "column": None,
        "severity": "fail" if rows_out == 0 else severity,
        "passed": passed,
        "observed": observed,
        "unexpected_count": 0,
        "examples": [],
    }


def _causes(
    cleaning: Mapping[str, Any],
    choice: MissingChoice,
    rows_in: int,
    params: Params,
    sources: Mapping[str, str],
) -> list[str]:
    causes = []
    no_target = cleaning.get("target_missing", {}).get("rows_removed", 0)
    if no_target:
        causes.append(
            f"{no_target} row(s) without a target {params.data.target!r} "
            f"({no_target / rows_in:.0%}; always removed: fill the target or pick another)"
        )
    m = cleaning["missing"]
    if m["rows_removed"]:
        limit = params.clean.max_drop_share
        change = (
            f"lower clean.max_drop_share ({limit:g}) below the share of rows with a null so "
            f"auto imputes, or set clean.missing: impute"
            if choice.setting == "auto"
            else "set clean.missing: auto (imputes when more than clean.max_drop_share "
            f"({limit:g}) of the rows hold a null) or impute"
        )
        causes.append(
            f"{m['rows_removed']} row(s) holding a null under clean.missing: {choice.chosen} "
            f"(emptiest columns: {emptiest(m['nulls_per_column'], rows_in - no_target, sources)}); "
            f"{change}, or drop the emptiest columns in the schema file (drop:)"
        )
    duplicates = cleaning["duplicates"]["rows_removed"]
    if duplicates:
        causes.append(f"{duplicates} duplicate row(s) (clean.duplicates: drop; keep keeps them)")
    return causes
