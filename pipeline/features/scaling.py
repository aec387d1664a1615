"""Numeric scaling fitted on train rows: center/scale (standard, minmax, robust), quantiles,
and the clip that bounds the scaled values.

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

from typing import Any

import numpy as np
from scipy.special import ndtri

from pipeline.core.sampling import sample_positions, take_positions
from pipeline.core.tables import Batches
from pipeline.features.statistics import TrainStats, is_constant, nonzero_scale

FLOAT32_MAX = float(np.finfo(np.float32).max)  # features are float32: scaled values saturate here


# scale.method: quantile — a value within the train range maps into (0, 1), then to the normal
# quantile, clipped where scikit-learn clips it: at ndtri(1e-7) = -5.1993 and ndtri(1 - 1e-7).
NORMAL_LOW = float(ndtri(1e-7 - np.spacing(1)))


NORMAL_HIGH = float(ndtri(1 - (1e-7 - np.spacing(1))))


def quantile_normal(x: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """One column's values -> standard-normal scores by its train quantiles (module doc)."""
    if quantiles[0] == quantiles[-1]:  # constant on the train rows: no information
        return np.zeros_like(x)
    levels = np.linspace(0.0, 1.0, len(quantiles))
    p = 0.5 * (np.interp(x, quantiles, levels) - np.interp(-x, -quantiles[::-1], -levels[::-1]))
    p = np.where(x < quantiles[0], 0.0, np.where(x > quantiles[-1], 1.0, p))
    return np.clip(ndtri(p), NORMAL_LOW, NORMAL_HIGH)


def clip_values(x: np.ndarray, clip: float, mode: str) -> np.ndarray:
    """scale.clip: smooth x / sqrt(1 + (x / clip)²) (RealMLP), or hard clipping to ±clip. The
    root is np.hypot's, which does not overflow: a value 1e160 times the clip still maps to
    about the clip (squaring it first gave inf, and the value 0)."""
    if mode == "smooth":
        return x / np.hypot(1.0, x / clip)
    return np.clip(x, -clip, clip)


def column_values(batches: Batches, column: str, fill: float | None = None) -> np.ndarray:
    """One numeric column of the train rows, whole, nulls dropped (or filled with `fill`)."""
    parts = [b[column].to_numpy(dtype=np.float64) for b in batches([column])]
    x = np.concatenate(parts) if parts else np.zeros(0)
    return x[~np.isnan(x)] if fill is None else np.where(np.isnan(x), fill, x)


def fit_center_scale(
    method: str, clip: float | None, batches: Batches, stats: TrainStats, fill: dict[str, Any]
) -> tuple[list[float], list[float]]:
    """(center, scale) per numeric column: x -> (x - center) / scale, as scikit-learn's
    StandardScaler / MinMaxScaler / RobustScaler (quartiles exact, one column at a time;
    with scale.clip, RealMLP's fallback for a zero quartile range). Quantile: identity."""
    width = len(stats.numeric)
    moments = stats.moments
    if method in ("none", "quantile") or not width:
        center, scale = np.zeros(width), np.ones(width)
    elif method == "standard":
        var = moments.var
        center = moments.mean
        scale = np.where(is_constant(var, moments.mean, moments.n), 1.0, np.sqrt(var))
    elif method == "minmax":
        center, scale = stats.low, nonzero_scale(stats.high - stats.low)
    elif method == "robust":
        quartiles = []
        for column in stats.numeric:
            x = column_values(batches, column, fill.get(column))
            x = x[~np.isnan(x)]
            quartiles.append(np.percentile(x, [25, 50, 75]))
        q = np.asarray(quartiles)
        spread = q[:, 2] - q[:, 0]
        if clip is not None:  # RealMLP: no quartile range -> half the range
            spread = np.where(spread == 0, 0.5 * (stats.high - stats.low), spread)
        center, scale = q[:, 1], nonzero_scale(spread)
    else:  # pipeline.core.params.ScaleParams forbids this
        raise ValueError(f"unknown scale.method {method!r}")
    return [float(v) for v in center], [float(v) for v in scale]


def fit_quantiles(
    numeric: list[str],
    batches: Batches,
    rows: int,
    fill: dict[str, Any],
    quantiles: int,
    sample_rows: int,
    seed: int,
) -> list[list[float]]:
    """scale.method: quantile — per numeric column, min(scale.quantiles, sampled rows)
    quantiles of a seeded sample of at most scale.sample_rows train rows (module doc);
    nulls filled first (clean.missing: impute), as in Pipeline(SimpleImputer, ...)."""
    if not numeric:
        return []
    positions = sample_positions(rows, sample_rows, seed)
    sample = take_positions(batches(numeric), positions)
    levels = 100.0 * np.linspace(0.0, 1.0, min(quantiles, len(positions)))
    found = []
    for column in numeric:
        x = sample[column].to_numpy(dtype=np.float64)
        if column in fill:
            x = np.where(np.isnan(x), fill[column], x)
        q = np.maximum.accumulate(np.percentile(x[~np.isnan(x)], levels))
        found.append([float(v) for v in q])
    return found
