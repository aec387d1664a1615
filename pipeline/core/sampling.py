"""Seeded row samples of a table read in batches: which rows is decided by the row count, the
cap and the seed alone, so the sample does not depend on the batch size."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd


def sample_positions(rows: int, cap: int, seed: int) -> np.ndarray:
    """Sorted positions of a seeded sample of `cap` of `rows` rows (all of them if they fit)."""
    if rows <= cap:
        return np.arange(rows)
    return np.sort(np.random.default_rng(seed).choice(rows, size=cap, replace=False))


def take_positions(frames: Iterable[pd.DataFrame], positions: np.ndarray) -> pd.DataFrame:
    """The rows at `positions` (sorted, 0-based over all frames in order), frame by frame."""
    parts, start = [], 0
    for frame in frames:
        stop = start + len(frame)
        lo, hi = np.searchsorted(positions, [start, stop])
        parts.append(frame.iloc[positions[lo:hi] - start])
        start = stop
    return pd.concat(parts)
