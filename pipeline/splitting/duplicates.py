"""Identical feature rows in more than one split: counted from 64-bit row hashes spilled to disk
(`pipeline.core.row_hashes`), with a few row numbers per pair of splits."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import combinations
from typing import Any

import numpy as np

from pipeline.core.row_hashes import SpilledHashes
from pipeline.splitting.assign import CHUNK_ROWS

MAX_EXAMPLES = 5


def duplicate_report_parts(
    parts: Iterable[dict[str, tuple[np.ndarray, np.ndarray]]],
    row_numbers: Callable[[dict[str, np.ndarray]], dict],
) -> dict[str, Any]:
    """Rows whose feature hash (target left out) also occurs in another split: how many in all,
    and per pair of splits the rows of the later one, with a few row numbers (`row_numbers`
    maps {split: positions in it} to their row numbers). The hashes come cut into parts such
    that equal hashes share a part (by their top bits, spilled to disk): each part holds, per
    split, (hashes, their positions in the split). Memory is one part's."""
    pairs: dict[str, int] = {}
    firsts: dict[str, tuple[str, np.ndarray]] = {}
    total = 0
    for part in parts:
        pools = {name: np.sort(values) for name, (values, _) in part.items()}
        for first, second in combinations(part, 2):
            values, positions = part[second]
            shared = np.sort(positions[_isin(values, pools[first])])
            key = f"{first}/{second}"
            pairs[key] = pairs.get(key, 0) + len(shared)
            known = firsts.get(key, (second, np.zeros(0, dtype=np.int64)))[1]
            firsts[key] = (second, np.union1d(known, shared[:MAX_EXAMPLES])[:MAX_EXAMPLES])
        for name, (values, _) in part.items():
            elsewhere = np.zeros(len(values), dtype=bool)
            for other in part:
                if other != name:
                    elsewhere |= _isin(values, pools[other])
            total += int(elsewhere.sum())
    wanted: dict[str, np.ndarray] = {}
    for name, positions in firsts.values():
        wanted[name] = np.union1d(wanted.get(name, np.zeros(0, dtype=np.int64)), positions)
    rows = row_numbers(wanted) if total else {}
    return {
        "rows": total,
        "pairs": {
            key: {"rows": count, "examples": [int(rows[name][p]) for p in firsts[key][1]]}
            for key, count in pairs.items()
            for name in [firsts[key][0]]
        },
    }


def _isin(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Which `values` occur in the sorted array `pool` (binary search, a slice of `values` at a
    time so the temporaries stay small; no hash table)."""
    found = np.zeros(len(values), dtype=bool)
    if not len(pool):
        return found
    for start in range(0, len(values), CHUNK_ROWS):
        part = values[start : start + CHUNK_ROWS]
        at = np.searchsorted(pool, part)
        np.minimum(at, len(pool) - 1, out=at)
        found[start : start + len(part)] = pool[at] == part
    return found


def zip_parts(
    hashes: dict[str, SpilledHashes],
) -> Iterator[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The splits' spilled hashes part by part: {split: (hashes, positions)} for each part."""
    readers = {name: spilled.parts() for name, spilled in hashes.items()}
    try:
        for _ in range(SpilledHashes.PARTS):
            yield {
                name: (records["hash"], records["row"])
                for name, reader in readers.items()
                for records in [next(reader)]
            }
    finally:
        for spilled in hashes.values():
            spilled.close()
