"""clean.missing: impute's fill values, learned from the train rows: the median of each numeric
column (exact: the column is read whole) and the most frequent value of each other one (ties: the
smallest). The filled values then join the statistics, as in scikit-learn's
Pipeline(SimpleImputer, scaler). A column with no value at all in the train rows has nothing to
fill with: it stops the fit, naming what the user can drop (a date column, not its features).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.tables import Batches
from pipeline.features.categories import indicated
from pipeline.features.scaling import column_values
from pipeline.features.statistics import Moments, TrainStats, plain


def fit_fill(batches: Batches, stats: TrainStats, dates: Mapping[str, list[str]]) -> dict[str, Any]:
    """Column -> its fill value; `stats` updated as if the nulls held it (`dates`: date column
    -> its feature columns, for the message)."""
    empty = [c for i, c in enumerate(stats.numeric) if stats.moments.n[i] == 0]
    empty += [c for c in stats.categorical if not stats.counts[c]]
    if empty:
        raise empty_columns_error(empty, stats.rows, dates)
    fill: dict[str, Any] = {}
    width = len(stats.numeric)
    for i, column in enumerate(stats.numeric):
        value = float(np.median(column_values(batches, column)))
        fill[column] = value
        nulls = stats.rows - stats.moments.n[i]
        if nulls:  # n copies of one value: mean = value, M2 = 0
            filled = Moments(width)
            filled.n[i], filled.mean[i] = nulls, value
            stats.moments.merge(filled.n, filled.mean, filled.m2)
            stats.low[i], stats.high[i] = min(stats.low[i], value), max(stats.high[i], value)
    for column in stats.categorical:
        counts = stats.counts[column]
        top = max(counts.values())
        value = min(v for v, c in counts.items() if c == top)  # ties: the smallest
        fill[column] = plain(value)
        counts[value] += stats.rows - sum(counts.values())
    return fill


def empty_columns_error(
    empty: list[str], rows: int, dates: Mapping[str, list[str]]
) -> PipelineError:
    """Columns without a value in the train rows, named as the schema file can drop them: a
    date's features by their date column."""
    groups = indicated(empty, dates)
    plain_columns = [c for c in groups if c not in dates]
    date_columns = [c for c in groups if c in dates]
    found = []
    if plain_columns:
        found.append(f"column(s) {plain_columns} have no values")
    if date_columns:
        features = [f for c in date_columns for f in groups[c]]
        found.append(f"date column(s) {date_columns} have no dates (features {features} all null)")
    fixes = f"drop: [{', '.join(groups)}] in the schema file"
    if date_columns:
        fixes += f", or clean.dates: drop{' for the dates' if plain_columns else ''}"
    return PipelineError(
        f"fit_scaler: {' and '.join(found)} in the {rows} train rows, so clean.missing: impute "
        f"has nothing to fill them with; {fixes}"
    )
