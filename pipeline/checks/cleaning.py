"""The cleaning `validate` applies, one batch at a time, counting what it did for the report.

In order, as the `clean` params and the schema file say: drop the schema's `drop` columns, drop
rows without a target (always: they teach nothing), handle missing values (`clean.missing`: drop
rows holding a null, or keep them for `fit_scaler` to impute from train rows), bring declared
units to one (e.g. grams to kilograms, renaming the column if asked), and find exact duplicate
rows (`clean.duplicates`: keep or drop). A duplicate is a row equal in every kept column to an
earlier row of the file, in any batch: rows are hashed (see `pipeline.core.row_hashes`). To keep
them, the hashes go to temporary files and are counted after the last batch (memory flat); to
drop them, each batch is checked against the hashes of the rows before it, held in memory (8
bytes a distinct row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.expectations import EXAMPLES
from pipeline.core.params import Params
from pipeline.core.row_hashes import HashIndex, SpilledHashes, hash_rows
from pipeline.core.schema import TableSchema, UnitRule
from pipeline.core.tables import is_numeric


class Cleaner:
    """`clean(batch)` per batch, in file order; `summary()` is the report's `cleaning` section.
    `problems` lists rules broken by the schema's cleaning itself (a unit on a text column)."""

    def __init__(
        self, schema: TableSchema, params: Params, prototype: pd.DataFrame, missing: str
    ) -> None:
        """`prototype`: a typed batch (any rows), for the columns and their types; `missing`:
        clean.missing resolved (drop or impute; see `pipeline.checks.missing_values`)."""
        self.schema = schema
        self.target = params.data.target
        self.missing = missing
        self.duplicates = params.clean.duplicates
        self.problems: list[dict[str, Any]] = []
        self._drop = [c for c in schema.drop if c in prototype]
        kept = prototype.drop(columns=self._drop)
        self._units = {}
        for column, unit in schema.units.items():
            if column not in kept:
                continue
            if not is_numeric(kept[column]):
                self.problems.append(
                    {
                        "rule": f"units: scale {unit.scale:g}",
                        "column": column,
                        "severity": "fail",
                        "passed": False,
                        "observed": f"column holds {kept[column].dtype} values, not numbers; "
                        f"declare type: numeric",
                        "unexpected_count": 0,
                        "examples": [],
                    }
                )
                continue
            self._units[column] = unit
        self._has_target = self.target in kept
        self._target_missing = _Rows()
        self._null_rows = _Rows()
        self._removed_missing = 0
        self._nulls = dict.fromkeys(kept.columns, 0)
        self._duplicate_rows = _Rows()
        if self.duplicates == "drop":
            self._seen = HashIndex(keep_rows=False)
        else:
            self._spilled = SpilledHashes()

    def clean(self, df: pd.DataFrame) -> pd.DataFrame:
        df = df.drop(columns=self._drop)
        if self._has_target:
            null = df[self.target].isna().to_numpy()
            self._target_missing.add(df.index[null])
            df = _without(df, null)
        nulls = df.isna()
        for column, count in nulls.sum().items():
            self._nulls[column] += int(count)
        null_rows = nulls.any(axis=1).to_numpy()
        self._null_rows.add(df.index[null_rows])
        if self.missing == "drop":
            self._removed_missing += int(null_rows.sum())
            df = _without(df, null_rows)
        df = convert_units(df, self._units)
        rows = df.index.to_numpy()
        if self.duplicates == "keep":
            self._spilled.add(hash_rows(df), rows)
            return df
        duplicated = self._seen.seen(hash_rows(df), rows) >= 0
        self._duplicate_rows.add(df.index[duplicated])
        return _without(df, duplicated)

    def summary(self) -> dict[str, Any]:
        """The counts (call once, after the last batch)."""
        if self.duplicates == "keep":
            count, examples = self._spilled.repeats(EXAMPLES)
            self._duplicate_rows.count, self._duplicate_rows.examples = count, examples
        cleaning: dict[str, Any] = {"columns_dropped": list(self.schema.drop)}
        if self._has_target:
            cleaning["target_missing"] = {
                "rows_removed": self._target_missing.count,
                "example_rows": self._target_missing.examples,
            }
        cleaning["missing"] = {
            "rule": self.missing,
            "rows_removed": self._removed_missing,
            "rows_with_nulls": self._null_rows.count,
            "nulls_per_column": {str(c): n for c, n in self._nulls.items() if n},
            "example_rows": self._null_rows.examples,
        }
        cleaning["units"] = {
            column: {"scale": unit.scale, "renamed_to": unit.rename}
            for column, unit in self._units.items()
        }
        duplicates = self._duplicate_rows.count
        cleaning["duplicates"] = {
            "rule": self.duplicates,
            "duplicate_rows": duplicates,
            "rows_removed": duplicates if self.duplicates == "drop" else 0,
            "example_rows": self._duplicate_rows.examples,
        }
        return cleaning


def convert_units(df: pd.DataFrame, units: Mapping[str, UnitRule]) -> pd.DataFrame:
    """The schema's units brought to one: each listed column of `df` times its scale, renamed
    where the rule says (validate's cleaning, and predict's for new rows)."""
    for column, unit in units.items():
        if column in df:
            df[column] = df[column] * unit.scale
    return df.rename(columns={c: u.rename for c, u in units.items() if u.rename and c in df})


def _without(df: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """`df` less the rows marked (no copy when none is)."""
    return df[~rows] if rows.any() else df


class _Rows:
    """How many rows, and the first EXAMPLES of them (rows come in file order)."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[int] = []

    def add(self, index: pd.Index | np.ndarray) -> None:
        self.count += len(index)
        if len(self.examples) < EXAMPLES:
            self.examples += [int(i) for i in index[: EXAMPLES - len(self.examples)]]
