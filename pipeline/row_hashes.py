"""Seen-before checks across batches: 64-bit hashes of rows (or values) with the row each was
first seen at.

Memory is 16 bytes per distinct row seen (hash + row number), in sorted numpy chunks merged
as they grow (a log-structured set: adding n rows costs O(n log n) in all, a lookup one binary
search per chunk); about 160 MB at 10M rows, far below the rows themselves. Two different rows
share a 64-bit hash with probability about n² / 2⁶⁵ (3·10⁻⁶ at 10M rows): such a row would be
counted as a duplicate of the other. That is the price of not holding the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes


def hash_rows(df: pd.DataFrame) -> np.ndarray:
    """One uint64 per row from every column's value (0.0 and -0.0 hash alike, as they compare)."""
    if not len(df.columns):
        return np.zeros(len(df), dtype=np.uint64)
    normal = df.copy(deep=False)
    for column in df.columns:
        if ptypes.is_float_dtype(df[column]):
            normal[column] = df[column] + 0.0
    return pd.util.hash_pandas_object(normal, index=False).to_numpy()


class HashIndex:
    """A set of uint64 hashes, each with the row it was first added with."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(k) for k in self._keys)

    def first_rows(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash: the row it was added with, or -1 if it was never added."""
        found = np.full(len(hashes), -1, dtype=np.int64)
        for keys, rows in zip(self._keys, self._rows, strict=True):
            at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = keys[at] == hashes
            found[hit] = rows[at[hit]]
        return found

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Add hashes not yet in the set (distinct among themselves) with their rows."""
        if not len(hashes):
            return
        order = np.argsort(hashes, kind="stable")
        self._keys.append(hashes[order])
        self._rows.append(np.asarray(rows, dtype=np.int64)[order])
        while len(self._keys) > 1 and len(self._keys[-2]) <= 2 * len(self._keys[-1]):
            keys = np.concatenate(self._keys[-2:])
            order = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
            rows = np.concatenate(self._rows[-2:])[order]
            del self._keys[-2:], self._rows[-2:]
            self._keys.append(keys[order])
            self._rows.append(rows)

    def seen(self, hashes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Whether each row repeats an earlier one (in this call or any before); the rows that
        do not are added. Returns, per row, the first row it repeats, or -1."""
        first = self.first_rows(hashes)
        within = pd.Series(hashes).duplicated().to_numpy()
        new = (first < 0) & ~within
        self.add(hashes[new], rows[new])
        if within.any():  # repeats of a row first seen in this same call
            first[within] = self.first_rows(hashes[within])
        return first
