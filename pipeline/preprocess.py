"""The preprocessing core: impute → scale → encode categories → encode the target, as one object.

`Preprocessor` follows scikit-learn's shape: constructor arguments are the settings; `fit` learns
from train rows only and sets trailing-underscore attributes; `transform` applies them to any
frame, one batch at a time; `to_json` / `from_json` save and rebuild it (readable JSON, no
pickle). The fit_scaler stage fits it, encode, cv and predict apply it.

Fitting reads the train rows in batches (`fit(batches)` takes a function `columns -> frames`):
- numeric moments (standard scaling, the regression target) are merged chunk by chunk with
  Chan et al.'s pairwise update over fixed chunks of CHUNK_ROWS rows, so the result does not
  depend on the batch size; min/max and category/class counts are exact;
- medians (clean.missing: impute) and quartiles (scale.method: robust) are exact: they read the
  one numeric column they need whole (8 bytes per train row), one column at a time;
- the quantiles of scale.method: quantile are exact on a seeded sample of at most
  scale.sample_rows train rows (all of them when they fit), chosen by position from the row
  count and `seed` alone (`pipeline.sampling`), so neither depends on the batch size.
Imputed values take part in the scaler's statistics, as in scikit-learn's
Pipeline(SimpleImputer, scaler).

scale.method: quantile is scikit-learn's QuantileTransformer(output_distribution="normal"), as
the RTDL / TabM papers use it: per column, `n = min(scale.quantiles, sampled rows)` quantiles
q at levels r = linspace(0, 1, n) (numpy's linear percentiles, made non-decreasing); a value x
maps to p = (interp(x, q, r) - interp(-x, -q[::-1], -r[::-1])) / 2 (the mean of the two
directions, so a value repeated in train rows lands mid-way through its quantile levels),
p = 0 below q[0] and 1 above q[-1] (outside the train range: the ends), then to ndtri(p)
clipped to ±5.1993 (ndtri(1e-7)). Unlike scikit-learn, the ends are exact comparisons (it
widens them by an absolute 1e-7), and a column constant on the train rows maps to 0.
scale.clip c then bounds every scaled numeric value: smooth (RealMLP, Holzmüller et al. 2024)
x / sqrt(1 + (x / c)²), or hard min(max(x, -c), c). With a clip, robust scaling is RealMLP's
(pytabkit's RobustScaleSmoothClipTransform): a zero interquartile range falls back to half the
range (max - min) / 2; a column constant on the train rows keeps scale 1 (RealMLP zeroes it).
Features are stored as float32: a scaled value beyond its range (a column whose train spread is
vanishingly small, read far from it) saturates at ±FLOAT32_MAX instead of becoming infinite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api import types as ptypes
from scipy.special import ndtri

from pipeline.errors import PipelineError
from pipeline.sampling import sample_positions, take_positions
from pipeline.schema import EncodeRule

LABEL = "_target"  # encoded target column: class index, or the (standardized) regression value
UNSEEN_CODE = -1.0  # ordinal code of a category not seen in train rows
CHUNK_ROWS = 65_536  # rows per moment update: fixed, so statistics do not depend on data.batch_rows
FLOAT32_MAX = float(np.finfo(np.float32).max)  # features are float32: scaled values saturate here
# scale.method: quantile — a value within the train range maps into (0, 1), then to the normal
# quantile, clipped where scikit-learn clips it: at ndtri(1e-7) = -5.1993 and ndtri(1 - 1e-7).
NORMAL_LOW = float(ndtri(1e-7 - np.spacing(1)))
NORMAL_HIGH = float(ndtri(1 - (1e-7 - np.spacing(1))))

# Reads the train rows: columns (None = all) -> frames, in table order.
Batches = Callable[[list[str] | None], Iterable[pd.DataFrame]]


def frame_batches(df: pd.DataFrame) -> Batches:
    """A whole in-memory frame as a one-batch source for `Preprocessor.fit`."""
    return lambda columns: [df if columns is None else df[columns]]


def is_numeric(values: pd.Series) -> bool:
    """Numeric columns are scaled as numbers; everything else (booleans too) is a category."""
    return ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values)


def numeric_features(df: pd.DataFrame, target: str) -> list[str]:
    """Numeric feature columns in table order (booleans count as categories)."""
    return [c for c in df.columns if c != target and is_numeric(df[c])]


def fixed_chunks(frames: Iterable[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Re-cut frames into chunks of exactly `rows` rows (the last may be shorter)."""
    pending: list[pd.DataFrame] = []
    held = 0
    for frame in frames:
        while len(frame):
            piece = frame.iloc[: rows - held]
            frame = frame.iloc[len(piece) :]
            pending.append(piece)
            held += len(piece)
            if held == rows:
                yield pending[0] if len(pending) == 1 else pd.concat(pending)
                pending, held = [], 0
    if held:
        yield pending[0] if len(pending) == 1 else pd.concat(pending)


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


def _constant(var: np.ndarray, mean: np.ndarray, n: np.ndarray) -> np.ndarray:
    """scikit-learn's test for a constant feature (its variance is rounding error)."""
    eps = np.finfo(np.float64).eps
    return var <= n * eps * var + (n * mean * eps) ** 2


def _nonzero(scale: np.ndarray) -> np.ndarray:
    """A zero (or rounding-error) scale becomes 1, as scikit-learn's `_handle_zeros_in_scale`."""
    return np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)


def quantile_normal(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """One column's values -> standard-normal scores by its train quantiles (module doc)."""
    if quantiles[0] == quantiles[-1]:  # constant on the train rows: no information
        return np.zeros_like(x)
    levels = np.linspace(0.0, 1.0, len(quantiles))
    p = 0.5 * (np.interp(x, quantiles, levels) - np.interp(-x, -quantiles[::-1], -levels[::-1]))
    p = np.where(x < quantiles[0], 0.0, np.where(x > quantiles[-1], 1.0, p))
    return np.clip(ndtri(p), NORMAL_LOW, NORMAL_HIGH)


def clip_values(x: np.ndarray, clip: float, mode: str) -> np.ndarray:
    """scale.clip: smooth x / sqrt(1 + (x / clip)²) (RealMLP), or hard clipping to ±clip."""
    if mode == "smooth":
        return x / np.sqrt(1.0 + (x / clip) ** 2)
    return np.clip(x, -clip, clip)


def _add_counts(into: dict[Any, int], values: pd.Series) -> None:
    for value, count in values.value_counts(dropna=True, sort=False).items():
        into[value] = into.get(value, 0) + int(count)


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar (JSON-able)."""
    return value.item() if hasattr(value, "item") else value


def _as_text(values: pd.Series) -> pd.Series:
    """Category values as text (how categories are named and matched)."""
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype(str)


def _codes(values: pd.Series, known: list[str]) -> np.ndarray:
    """Position of each text value in `known`, -1 where absent (a hash lookup in Arrow)."""
    found = pc.index_in(pa.array(values, type=pa.large_string()), value_set=pa.array(known))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclass
class Encoded:
    """One transformed batch: the features (+ LABEL), nulls filled and unseen categories, per
    column."""

    table: pd.DataFrame
    imputed: dict[str, int] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for key, count in more.items():
        total[key] = total.get(key, 0) + count


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
            _add_counts(self.classes, _as_text(y.dropna()))


class Preprocessor:
    """Impute (clean.missing), scale numeric columns (scale.method), encode categorical ones
    (encode.method, per-column schema rules), encode the target; fitted on train rows only."""

    def __init__(
        self,
        target: str,
        task: str,
        missing: str = "drop",
        scale: str = "standard",
        encode: str = "onehot",
        unknown: str = "ignore",
        scale_target: bool = False,
        rules: Mapping[str, EncodeRule] | None = None,
        quantiles: int = 1000,
        sample_rows: int = 100_000,
        clip: float | None = None,
        clip_mode: str = "smooth",
        seed: int = 0,
    ) -> None:
        self.target = target
        self.task = task
        self.missing = missing
        self.scale = scale
        self.encode = encode
        self.unknown = unknown
        self.scale_target = scale_target
        self.rules = dict(rules or {})
        self.quantiles = quantiles
        self.sample_rows = sample_rows
        self.clip = clip
        self.clip_mode = clip_mode
        self.seed = seed

    @classmethod
    def from_params(cls, params: Any, task: str, rules: Mapping[str, EncodeRule]) -> Self:
        """Settings from the pipeline's params (clean, scale, encode, seed) and the schema's
        rules."""
        return cls(
            params.data.target,
            task,
            missing=params.clean.missing,
            scale=params.scale.method,
            encode=params.encode.method,
            unknown=params.encode.unknown,
            scale_target=params.encode.scale_target,
            rules=rules,
            quantiles=params.scale.quantiles,
            sample_rows=params.scale.sample_rows,
            clip=params.scale.clip,
            clip_mode=params.scale.clip_mode,
            seed=params.seed,
        )

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, batches: Batches) -> Self:
        """Learn every statistic from the train rows that `batches` yields (see module doc)."""
        stats: TrainStats | None = None
        for chunk in fixed_chunks(batches(None), CHUNK_ROWS):
            if stats is None:
                stats = TrainStats.for_columns(chunk, self.target, self.task)
                self._check_rules(stats.categorical)
            stats.update(chunk)
        if stats is None:
            raise PipelineError("fit_scaler: the train split has no rows")
        fill = self._fit_fill(batches, stats) if self.missing == "impute" else {}
        self.columns_ = stats.columns
        self.numeric_ = stats.numeric
        self.fill_ = fill
        self.center_, self.scale_ = self._fit_scaler(batches, stats, fill)
        self.quantiles_ = (
            self._fit_quantiles(batches, stats.rows, fill) if self.scale == "quantile" else None
        )
        self._fit_categories(stats.counts)
        self.classes_ = None if self.task == "regression" else sorted(map(str, stats.classes))
        self.target_scaling_ = None
        if self.task == "regression" and self.scale_target:
            std = float(np.sqrt(stats.target.var[0]))
            self.target_scaling_ = {
                "center": float(stats.target.mean[0]),
                "scale": std if std > 0 else 1.0,
            }
        self.n_rows_ = stats.rows
        return self

    def _fit_fill(self, batches: Batches, stats: TrainStats) -> dict[str, Any]:
        """clean.missing: impute — the median of each numeric column (exact: the column is read
        whole) and the most frequent value of each other one; the filled values then join the
        statistics, as in scikit-learn's Pipeline(SimpleImputer, scaler)."""
        empty = [c for i, c in enumerate(stats.numeric) if stats.moments.n[i] == 0]
        empty += [c for c in stats.categorical if not stats.counts[c]]
        if empty:
            raise PipelineError(
                f"fit_scaler: column(s) {empty} have no values in the {stats.rows} train rows, "
                f"so clean.missing: impute has nothing to fill them with; drop them in the "
                f"schema file"
            )
        fill: dict[str, Any] = {}
        width = len(stats.numeric)
        for i, column in enumerate(stats.numeric):
            value = float(np.median(self._column(batches, column)))
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
            fill[column] = _plain(value)
            counts[value] += stats.rows - sum(counts.values())
        return fill

    def fit_frame(self, df: pd.DataFrame) -> Self:
        """Fit on one in-memory frame of train rows."""
        return self.fit(frame_batches(df))

    @staticmethod
    def _column(batches: Batches, column: str, fill: float | None = None) -> np.ndarray:
        """One numeric column of the train rows, whole, nulls dropped (or filled with `fill`)."""
        parts = [b[column].to_numpy(dtype=np.float64) for b in batches([column])]
        x = np.concatenate(parts) if parts else np.zeros(0)
        return x[~np.isnan(x)] if fill is None else np.where(np.isnan(x), fill, x)

    def _fit_scaler(
        self, batches: Batches, stats: TrainStats, fill: dict[str, Any]
    ) -> tuple[list[float], list[float]]:
        """(center, scale) per numeric column: x -> (x - center) / scale, as scikit-learn's
        StandardScaler / MinMaxScaler / RobustScaler (quartiles exact, one column at a time;
        with scale.clip, RealMLP's fallback for a zero quartile range). Quantile: identity."""
        width = len(self.numeric_)
        moments = stats.moments
        if self.scale in ("none", "quantile") or not width:
            center, scale = np.zeros(width), np.ones(width)
        elif self.scale == "standard":
            var = moments.var
            center = moments.mean
            scale = np.where(_constant(var, moments.mean, moments.n), 1.0, np.sqrt(var))
        elif self.scale == "minmax":
            center, scale = stats.low, _nonzero(stats.high - stats.low)
        elif self.scale == "robust":
            quartiles = []
            for column in self.numeric_:
                x = self._column(batches, column, fill.get(column))
                x = x[~np.isnan(x)]
                quartiles.append(np.percentile(x, [25, 50, 75]))
            q = np.asarray(quartiles)
            spread = q[:, 2] - q[:, 0]
            if self.clip is not None:  # RealMLP: no quartile range -> half the range
                spread = np.where(spread == 0, 0.5 * (stats.high - stats.low), spread)
            center, scale = q[:, 1], _nonzero(spread)
        else:  # config.ScaleParams forbids this
            raise ValueError(f"unknown scale.method {self.scale!r}")
        return [float(v) for v in center], [float(v) for v in scale]

    def _fit_quantiles(
        self, batches: Batches, rows: int, fill: dict[str, Any]
    ) -> list[list[float]]:
        """scale.method: quantile — per numeric column, min(scale.quantiles, sampled rows)
        quantiles of a seeded sample of at most scale.sample_rows train rows (module doc);
        nulls filled first (clean.missing: impute), as in Pipeline(SimpleImputer, ...)."""
        if not self.numeric_:
            return []
        positions = sample_positions(rows, self.sample_rows, self.seed)
        sample = take_positions(batches(self.numeric_), positions)
        levels = 100.0 * np.linspace(0.0, 1.0, min(self.quantiles, len(positions)))
        found = []
        for column in self.numeric_:
            x = sample[column].to_numpy(dtype=np.float64)
            if column in fill:
                x = np.where(np.isnan(x), fill[column], x)
            q = np.maximum.accumulate(np.percentile(x[~np.isnan(x)], levels))
            found.append([float(v) for v in q])
        return found

    def _check_rules(self, categorical: list[str]) -> None:
        stray = [c for c in self.rules if c not in categorical]
        if stray:
            raise PipelineError(
                f"schema encode: {stray} are not categorical feature columns of the table "
                f"(categorical: {categorical}; a numeric column needs type: categorical in the "
                f"schema's columns to be encoded as categories)"
            )

    def _fit_categories(self, counts: dict[str, dict[Any, int]]) -> None:
        categories: dict[str, list[str]] = {}
        encoding: dict[str, str] = {}
        for column, seen_counts in counts.items():
            seen = sorted({str(v) for v in seen_counts})
            rule = self.rules.get(column)
            encoding[column] = rule.method if rule else self.encode
            if rule is not None and rule.order is not None:
                order = [str(v) for v in rule.order]
                missing = [v for v in seen if v not in order]
                if missing:
                    raise PipelineError(
                        f"schema encode.{column}.order: train rows hold {missing}, which the "
                        f"declared order {order} lacks; add them to the order"
                    )
                categories[column] = order
            else:
                categories[column] = seen
        features: list[str] = []
        for column in self.columns_:
            if column in self.numeric_ or encoding.get(column) == "ordinal":
                features.append(column)
            elif column in categories:
                features += [f"{column}={cat}" for cat in categories[column]]
        self.categories_ = categories
        self.encoding_ = encoding
        self.features_ = features

    # ---- transform ---------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise RuntimeError("Preprocessor is not fitted: call fit() or from_json() first")

    def impute(self, df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Copy of `df` with nulls filled from the train rows, and how many per column."""
        self._check_fitted()
        counts = {c: int(df[c].isna().sum()) for c in self.fill_ if c in df.columns}
        counts = {c: n for c, n in counts.items() if n}
        if not counts:
            return df, {}
        out = df.copy()
        for column in counts:
            out[column] = out[column].fillna(self.fill_[column])
        return out, counts

    def transform(self, df: pd.DataFrame, split: str = "input", target: bool = True) -> Encoded:
        """Impute, check nulls, scale and encode one batch: float32 features in `features_`
        order, plus LABEL when `target` (the encoded target)."""
        df, imputed = self.impute(df)
        categorical = list(self.categories_)
        check_no_nulls(
            df, [*self.numeric_, *categorical, *([self.target] if target else [])], split
        )
        n = len(df)
        slot = {name: i for i, name in enumerate(self.features_)}
        # column-major: each feature column is contiguous, so Arrow takes it without a copy
        matrix = np.zeros((n, len(self.features_)), dtype=np.float32, order="F")
        if self.numeric_:
            x = df[self.numeric_].to_numpy(dtype=np.float64)
            matrix[:, [slot[c] for c in self.numeric_]] = self.scale_numeric(x)
        unseen: dict[str, int] = {}
        for column in categorical:
            known = self.categories_[column]
            values = _as_text(df[column])
            codes = _codes(values, known)
            if (codes < 0).any():
                unseen[column] = int((codes < 0).sum())
                if self.unknown == "error":
                    examples = values[codes < 0].head(3).to_dict()
                    raise PipelineError(
                        f"encode: column {column!r} has categories not seen in train rows "
                        f"({split} split, {unseen[column]} row(s); row: value {examples}); "
                        f"known: {known}. Set encode.unknown: ignore to encode them as "
                        f"all-zero one-hot rows (ordinal: code {UNSEEN_CODE:g})"
                    )
            if self.encoding_[column] == "ordinal":
                matrix[:, slot[column]] = np.where(codes < 0, UNSEEN_CODE, codes)
            elif known:
                rows = np.flatnonzero(codes >= 0)
                matrix[rows, slot[f"{column}={known[0]}"] + codes[rows]] = 1.0
        table = pd.DataFrame(matrix, index=df.index, columns=self.features_, copy=False)
        if target:
            table[LABEL] = self.transform_target(df[self.target], split)
        return Encoded(table, imputed, unseen)

    def scale_numeric(self, x: np.ndarray) -> np.ndarray:
        """Numeric columns (rows by `numeric_`, float64, no nulls) -> scaled, then clipped."""
        if self.quantiles_ is None:
            scaled = (x - np.asarray(self.center_)) / np.asarray(self.scale_)
        else:
            scaled = np.empty_like(x)
            for i, quantiles in enumerate(self.quantiles_):
                scaled[:, i] = quantile_normal(x[:, i], np.asarray(quantiles))
        if self.clip is not None:
            scaled = clip_values(scaled, self.clip, self.clip_mode)
        return np.clip(scaled, -FLOAT32_MAX, FLOAT32_MAX, out=scaled)

    def transform_target(self, y: pd.Series, split: str) -> np.ndarray:
        """Class index, or the (standardized) regression value as float64 so it inverts exactly."""
        self._check_fitted()
        if self.classes_ is None:
            values = y.to_numpy(dtype=np.float64)
            s = self.target_scaling_
            return values if s is None else (values - s["center"]) / s["scale"]
        codes = _codes(_as_text(y), self.classes_)
        if (codes < 0).any():
            bad = y[codes < 0]
            raise PipelineError(
                f"encode: target {y.name!r} in the {split} split has classes absent from train "
                f"rows: {sorted(bad.astype(str).unique())} (e.g. row {bad.index[0]}); "
                f"use split.stratify: true or more data"
            )
        return codes.astype(np.int64)

    # ---- JSON --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The fitted state as plain JSON values (task, target, features, classes and
        target_scaling are the keys the model card copies)."""
        self._check_fitted()
        scaler: dict[str, Any] = {
            "method": self.scale,
            "columns": self.numeric_,
            "center": self.center_,
            "scale": self.scale_,
        }
        if self.quantiles_ is not None:  # keys only when used: the default JSON is unchanged
            scaler["quantiles"] = self.quantiles_
        if self.clip is not None:
            scaler["clip"], scaler["clip_mode"] = self.clip, self.clip_mode
        return {
            "task": self.task,
            "target": self.target,
            "columns": self.columns_,
            "fitted_rows": self.n_rows_,
            "missing": self.missing,
            "imputer": self.fill_,
            "scaler": scaler,
            "categorical": self.categories_,
            "encoding": self.encoding_,
            "unknown": self.unknown,
            "features": self.features_,
            "classes": self.classes_,
            "target_scaling": self.target_scaling_,
        }

    @classmethod
    def from_json(cls, saved: Mapping[str, Any]) -> Self:
        """Rebuild a fitted Preprocessor from `to_json()`'s output."""
        scaler = saved["scaler"]
        pre = cls(
            saved["target"],
            saved["task"],
            missing=saved["missing"],
            scale=scaler["method"],
            unknown=saved["unknown"],
            scale_target=saved["target_scaling"] is not None,
            clip=scaler.get("clip"),
            clip_mode=scaler.get("clip_mode", "smooth"),
        )
        pre.columns_ = list(saved["columns"])
        pre.n_rows_ = int(saved["fitted_rows"])
        pre.fill_ = dict(saved["imputer"])
        pre.numeric_ = list(scaler["columns"])
        pre.center_ = list(scaler["center"])
        pre.scale_ = list(scaler["scale"])
        quantiles = scaler.get("quantiles")
        pre.quantiles_ = None if quantiles is None else [list(q) for q in quantiles]
        pre.categories_ = {c: list(v) for c, v in saved["categorical"].items()}
        pre.encoding_ = dict(saved["encoding"])
        pre.features_ = list(saved["features"])
        pre.classes_ = None if saved["classes"] is None else list(saved["classes"])
        pre.target_scaling_ = saved["target_scaling"]
        return pre


def check_no_nulls(df: pd.DataFrame, columns: list[str], split: str) -> None:
    """Nulls left after imputation (clean.missing: drop should have removed them) stop here."""
    nulls = df[columns].isna().sum()
    nulls = nulls[nulls > 0]
    if len(nulls):
        column = nulls.index[0]
        row = df.index[df[column].isna().to_numpy()][0]
        raise PipelineError(
            f"encode: the {split} split has nulls in {nulls.to_dict()} (e.g. column {column!r}, "
            f"row {row}); set clean.missing: impute, or drop those rows in validate"
        )


def target_scale(saved: Mapping[str, Any]) -> float:
    """Factor from standardized regression errors back to the target's units (1 if unscaled);
    `saved` is the preprocessor's JSON or the model card."""
    scaling = saved.get("target_scaling")
    return scaling["scale"] if scaling else 1.0


def decode_values(values: np.ndarray, saved: Mapping[str, Any]) -> np.ndarray:
    """Regression values back in the target's original units."""
    scaling = saved.get("target_scaling")
    return values if scaling is None else values * scaling["scale"] + scaling["center"]
