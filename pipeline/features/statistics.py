"""What one pass over the train rows learns, in batches that do not change the result.

Fitting reads the train rows in batches (`fit(batches)` takes a function `columns -> frames`):
- numeric moments (standard scaling, the regression target) are merged chunk by chunk with
  Chan et al.'s pairwise update over fixed chunks of CHUNK_ROWS rows, so the result does not
  depend on the batch size; min/max and category/class counts are exact;
- medians (clean.missing: impute) and quartiles (scale.method: robust) are exact: they read the
  one numeric column they need whole (8 bytes per train row), one column at a time;
- the quantiles of scale.method: quantile are exact on a seeded sample of at most
  scale.sample_rows train rows (all of them when they fit), chosen by position from the row
  count and `seed` alone (`pipeline.core.sampling`), so neither depends on the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.tables import numeric_features

CHUNK_ROWS = 65_536  # rows per moment update: fixed, so statistics do not depend on data.batch_rows


class Moments:
    """Count, mean and sum of squared deviations (M2) per column, nulls (NaN) left out, merged
    chunk by chunk with Chan, Golub & LeVeque's update (numerically sound, unlike sum/sum²)."""

    def __init__(self, width: int) -> None:
        self.n = np.zeros(width)
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)

    def update(self, x: np.ndarray) -> None:
        """Merge a chunk (rows by columns, float64, NaN = null)."""
        xt = np.ascontiguousarray(x.T)  # contiguous rows: numpy sums them pairwise
        valid = ~np.isnan(xt)
        n = valid.sum(axis=1).astype(np.float64)
        mean = np.where(n > 0, np.where(valid, xt, 0.0).sum(axis=1) / np.maximum(n, 1), 0.0)
        m2 = np.where(valid, (xt - mean[:, None]) ** 2, 0.0).sum(axis=1)
        self.merge(n, mean, m2)

    def merge(self, n: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        total = self.n + n
        safe = np.maximum(total, 1)
        delta = mean - self.mean
        self.mean = np.where(total > 0, self.mean + delta * n / safe, 0.0)
        self.m2 = self.m2 + m2 + delta**2 * self.n * n / safe
        self.n = total

    @property
    def var(self) -> np.ndarray:
        """Population variance (ddof=0), as scikit-learn's StandardScaler."""
        return np.where(self.n > 0, self.m2 / np.maximum(self.n, 1), 0.0)


def is_constant(var: np.ndarray, mean: np.ndarray, n: np.ndarray) -> np.ndarray:
    """scikit-learn's test for a constant feature (its variance is rounding error)."""
    eps = np.finfo(np.float64).eps
    return var <= n * eps * var + (n * mean * eps) ** 2


def nonzero_scale(scale: np.ndarray) -> np.ndarray:
    """A zero (or rounding-error) scale becomes 1, as scikit-learn's `_handle_zeros_in_scale`."""
    return np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)


def _add_counts(into: dict[Any, int], values: pd.Series) -> None:
    for value, count in values.value_counts(dropna=True, sort=False).items():
        into[value] = into.get(value, 0) + int(count)


def plain(value: Any) -> Any:
    """numpy scalar -> Python scalar (JSON-able)."""
    return value.item() if hasattr(value, "item") else value


@dataclass
class TrainStats:
    """What one pass over the train rows learns: column kinds, row count, numeric moments and
    range, category counts, class counts (classification) or target moments (regression)."""

    columns: list[str]
    numeric: list[str]
    categorical: list[str]
    target_column: str
    regression: bool
    rows: int = 0
    moments: Moments = field(default_factory=lambda: Moments(0))
    low: np.ndarray = field(default_factory=lambda: np.zeros(0))
    high: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: dict[str, dict[Any, int]] = field(default_factory=dict)
    classes: dict[Any, int] = field(default_factory=dict)
    target: Moments = field(default_factory=lambda: Moments(1))

    @classmethod
    def for_columns(cls, first: pd.DataFrame, target: str, task: str) -> TrainStats:
        """Empty statistics for the columns (and their kinds) of the first chunk."""
        columns = list(first.columns)
        if target not in columns:
            raise PipelineError(
                f"data.target: column {target!r} is not in the train rows; columns: {columns}"
            )
        numeric = numeric_features(first, target)
        categorical = [c for c in columns if c != target and c not in numeric]
        width = len(numeric)
        return cls(
            columns,
            numeric,
            categorical,
            target,
            task == "regression",
            moments=Moments(width),
            low=np.full(width, np.inf),
            high=np.full(width, -np.inf),
            counts={c: {} for c in categorical},
        )

    def update(self, chunk: pd.DataFrame) -> None:
        self.rows += len(chunk)
        if self.numeric:
            x = chunk[self.numeric].to_numpy(dtype=np.float64)
            self.moments.update(x)
            self.low = np.fmin(self.low, np.nanmin(x, axis=0, initial=np.inf))
            self.high = np.fmax(self.high, np.nanmax(x, axis=0, initial=-np.inf))
        for column in self.categorical:
            _add_counts(self.counts[column], chunk[column])
        y = chunk[self.target_column]
        if self.regression:
            self.target.update(y.to_numpy(dtype=np.float64)[:, None])
        else:
            _add_counts(self.classes, as_text(y.dropna()))

    def null_columns(self) -> list[str]:
        """Feature columns with a null in some train row, in column order (before filling)."""
        nulls = {c: self.rows > n for c, n in zip(self.numeric, self.moments.n, strict=True)}
        nulls |= {c: self.rows > sum(self.counts[c].values()) for c in self.categorical}
        return [c for c in self.columns if nulls.get(c)]


def as_text(values: pd.Series) -> pd.Series:
    """Category values as text (how categories are named and matched)."""
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype(str)
