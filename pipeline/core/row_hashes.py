"""Seen-before checks across batches, on 64-bit hashes of rows (or values).

Two ways, by what the caller must know when:
- `HashIndex` answers per batch, while reading (needed to drop a duplicate before it is
  written): 8 bytes of memory per distinct row (16 with the row of the first occurrence), in
  sorted numpy chunks merged as they grow: 80 MB at 10M rows, far below the rows themselves,
  but growing with the table.
- `SpilledHashes` answers after the last batch (enough to count duplicates and name the first
  few): hashes and rows go to temporary files split by the hashes' top bits, and are read back
  one part at a time, so memory is 1/PARTS of them: flat as the table grows. Two different rows
share a 64-bit hash with probability about n² / 2⁶⁵ (3·10⁻⁶ at 10M rows): such a row would be
counted as a duplicate of the other. That is the price of not holding the table.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

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


class _Sorted:
    """Hashes (and rows) in sorted chunks, merged as they grow: adding n hashes costs
    O(n log n) in all, a lookup one binary search per chunk."""

    def __init__(self, keep_rows: bool) -> None:
        self.keep_rows = keep_rows
        self.keys: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []

    def first_rows(self, hashes: np.ndarray) -> np.ndarray:
        found = np.full(len(hashes), -1, dtype=np.int64)
        for number, keys in enumerate(self.keys):
            at = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = keys[at] == hashes
            found[hit] = self.rows[number][at[hit]] if self.keep_rows else 0
        return found

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        self.keys.append(hashes[order])
        if self.keep_rows:
            self.rows.append(rows[order])
        while len(self.keys) > 1 and len(self.keys[-2]) <= 2 * len(self.keys[-1]):
            keys = np.concatenate(self.keys[-2:])
            order = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
            del self.keys[-2:]
            self.keys.append(keys[order])
            if self.keep_rows:
                merged = np.concatenate(self.rows[-2:])[order]
                del self.rows[-2:]
                self.rows.append(merged)


class HashIndex:
    """A set of uint64 hashes, each with the row it was first added with (`keep_rows`; without,
    a hash found reads as row 0). Split by the hashes' top bits into PARTS sets, so merging
    chunks needs spare memory for 1/PARTS of them at a time, not for all."""

    PARTS = 256

    def __init__(self, keep_rows: bool = True) -> None:
        self._parts = [_Sorted(keep_rows) for _ in range(self.PARTS)]
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _split(self, hashes: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(part, positions of the hashes that belong to it) for each part holding some."""
        part = (hashes >> np.uint64(56)).astype(np.intp)  # top 8 bits: PARTS = 256
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.PARTS + 1))
        return [
            (p, order[bounds[p] : bounds[p + 1]])
            for p in range(self.PARTS)
            if bounds[p] < bounds[p + 1]
        ]

    def first_rows(self, hashes: np.ndarray) -> np.ndarray:
        """For each hash: the row it was added with, or -1 if it was never added."""
        found = np.full(len(hashes), -1, dtype=np.int64)
        for part, positions in self._split(hashes):
            if self._parts[part].keys:
                found[positions] = self._parts[part].first_rows(hashes[positions])
        return found

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Add hashes not yet in the set (distinct among themselves) with their rows."""
        rows = np.asarray(rows, dtype=np.int64)
        for part, positions in self._split(hashes):
            self._parts[part].add(hashes[positions], rows[positions])
        self._size += len(hashes)

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


class SpilledHashes:
    """Row hashes on disk (16 bytes a row, in a temporary folder removed by `close`); after the
    last `add`, `repeats()` finds the rows equal to an earlier row."""

    PARTS = 64
    _ROW = np.dtype([("hash", "<u8"), ("row", "<i8")])

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="pipeline-hashes-")
        self._files = [
            open(Path(self._folder.name) / f"{part}.bin", "wb")  # noqa: SIM115 (closed in close)
            for part in range(self.PARTS)
        ]

    def add(self, hashes: np.ndarray, rows: np.ndarray) -> None:
        """Hashes of rows, in file order (each call after the rows of the one before)."""
        records = np.empty(len(hashes), dtype=self._ROW)
        records["hash"], records["row"] = hashes, rows
        part = (hashes >> np.uint64(58)).astype(np.intp)  # top 6 bits: PARTS = 64
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.PARTS + 1))
        for p in range(self.PARTS):
            if bounds[p] < bounds[p + 1]:
                records[order[bounds[p] : bounds[p + 1]]].tofile(self._files[p])

    def parts(self) -> Iterator[np.ndarray]:
        """After the last `add`: the records (fields `hash`, `row`) one part at a time, each
        part's rows in the order they were added. Equal hashes always share a part."""
        for file in self._files:
            file.close()
            yield np.fromfile(file.name, dtype=self._ROW)

    def repeats(self, examples: int) -> tuple[int, list[int]]:
        """(how many rows repeat an earlier row, the first `examples` of them in file order)."""
        count = 0
        first: list[int] = []
        for records in self.parts():
            records = records[np.argsort(records["hash"], kind="stable")]  # rows stay in order
            repeat = np.zeros(len(records), dtype=bool)
            repeat[1:] = records["hash"][1:] == records["hash"][:-1]
            count += int(repeat.sum())
            first = sorted([*first, *np.sort(records["row"][repeat])[:examples].tolist()])
            first = first[:examples]
        self.close()
        return count, first

    def close(self) -> None:
        for file in self._files:
            file.close()
        self._folder.cleanup()
