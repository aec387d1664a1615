"""Where each row goes: its split and (kfold) its fold, decided from the target (and group)
column alone, seeded; and random oversampling of the train split's smaller classes.

The per-row state is a byte (the split) and the target's small integer code; a class's row
positions are held as int32 while it is allocated. Nothing here depends on the batch size."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.params import SplitParams

# Independent random streams derived from the one seed, so e.g. turning oversampling on does not
# move any row to another split.
FOLDS_STREAM, OVERSAMPLE_STREAM, SHIFT_STREAM = 2, 1, 3
TRAIN, VAL, TEST = range(3)  # positions in io.SPLITS


FOLD = "_fold"


CHUNK_ROWS = 1 << 20  # rows per step of whole-column array work: small temporaries


def allocate(n: int, shares: list[float], totals: list[int], targets: list[float]) -> list[int]:
    """Split n rows by `shares` so each count is within one row of exact (largest remainder).

    Leftover rows go to the largest fractional parts; ties go to the split furthest below its
    overall target (`targets` minus `totals` given so far), which keeps split sizes on target.
    """
    exact = [n * share for share in shares]
    counts = [math.floor(e) for e in exact]
    order = sorted(
        range(len(shares)),
        key=lambda i: (-(exact[i] - counts[i]), -(targets[i] - totals[i]), i),
    )
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def class_codes(y: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Labels as integer codes into their names as text, sorted (codes keep the names' order)."""
    if isinstance(y.dtype, pd.CategoricalDtype):
        return np.asarray(y.cat.codes), [str(c) for c in y.cat.categories]
    names, codes = np.unique(y.astype(str).to_numpy(), return_inverse=True)
    return codes, [str(c) for c in names]


def _allocate_rows(
    y: pd.Series | None, shares: list[float], rng: np.random.Generator, n: int
) -> np.ndarray:
    """The share (index into `shares`, int8) of each of n rows, allocated within each class (or
    all rows) by largest remainder: a class's positions, in file order, are shuffled by the
    seeded generator and cut into consecutive runs, one per share. One class's positions (int32)
    are held at a time."""
    share = np.empty(n, dtype=np.int8)
    targets = [n * s for s in shares]
    totals = [0] * len(shares)
    for positions in _strata(y, n):
        counts = allocate(len(positions), shares, totals, targets)
        rng.shuffle(positions)  # the draws of rng.permutation(positions), without its copy
        bounds = np.cumsum([0, *counts])
        for i in range(len(shares)):
            for lo in range(bounds[i], bounds[i + 1], CHUNK_ROWS):  # small intp temporaries
                share[positions[lo : min(lo + CHUNK_ROWS, bounds[i + 1])]] = i
            totals[i] += counts[i]
    return share


def _allocate_groups(
    groups: np.ndarray, y: pd.Series | None, shares: list[float], rng: np.random.Generator
) -> np.ndarray:
    """The share (index into `shares`, int8) of each row, moving whole groups: groups in seeded
    random order, largest first, each to the share furthest below its target row count (per
    class of the group's majority label when stratified, so class shares stay close to, not
    within one row of, exact). The last groups go to shares still empty, so every share gets a
    group when there are enough."""
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if y is None:
        stratum = np.zeros(len(names), dtype=np.int64)
    else:  # the group's most common class; ties go to the first class in sorted order
        codes, classes = class_codes(y)
        k = len(classes)
        crosstab = np.bincount(inverse * k + codes, minlength=len(names) * k)
        stratum = crosstab.reshape(len(names), k).argmax(axis=1)
    order = rng.permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    rows_per_stratum = np.bincount(stratum, weights=sizes)
    target = rows_per_stratum[:, None] * np.asarray(shares)[None, :]
    given = np.zeros_like(target)
    where = np.empty(len(names), dtype=np.int8)
    for left, g in enumerate(order):
        s = stratum[g]
        empty = np.flatnonzero(given.sum(axis=0) == 0)
        if len(empty) >= len(order) - left:  # as many groups left as empty shares: fill them
            where[g] = int(empty[np.argmax(np.asarray(shares)[empty])])
        else:
            where[g] = int(np.argmax(target[s] - given[s]))
        given[s, where[g]] += sizes[g]
    return where[inverse]


def bincount(values: np.ndarray, minlength: int) -> np.ndarray:
    """np.bincount of small non-negative integers, a chunk at a time: bincount copies its input
    as int64, 8 bytes a row for the whole column at once."""
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, len(values), CHUNK_ROWS):
        counts += np.bincount(values[start : start + CHUNK_ROWS], minlength=minlength)
    return counts


def _present_counts(y: pd.Series) -> dict[str, int]:
    """Rows per class present in y, classes in sorted order."""
    codes, classes = class_codes(y)
    counts = bincount(codes, len(classes))
    return {c: int(n) for c, n in zip(classes, counts, strict=True) if n}


def class_counts(y: pd.Series, where: np.ndarray) -> dict[str, dict[str, int]]:
    """`_present_counts` of each split's rows (`where`: split per row), a chunk at a time."""
    codes, classes = class_codes(y)
    k = len(classes)
    table = np.zeros(len(io.SPLITS) * k, dtype=np.int64)
    for start in range(0, len(codes), CHUNK_ROWS):
        cell = where[start : start + CHUNK_ROWS].astype(np.intp) * k
        table += np.bincount(cell + codes[start : start + CHUNK_ROWS], minlength=len(table))
    return {
        name: {c: int(n) for c, n in zip(classes, counts, strict=True) if n}
        for name, counts in zip(io.SPLITS, table.reshape(len(io.SPLITS), k), strict=True)
    }


def _strata(y: pd.Series | None, n: int) -> Iterator[np.ndarray]:
    """The row positions (int32 when they fit) of each class present in y, classes in sorted
    order, one class at a time; all n rows as one stratum when y is None."""
    kind = _positions(n)
    if y is None:
        yield np.arange(n, dtype=kind)
        return
    codes, classes = class_codes(y)
    counts = bincount(codes, len(classes))
    too_small = {c: int(k) for c, k in zip(classes, counts, strict=True) if 0 < k < 2}
    if too_small:
        raise PipelineError(
            f"split: cannot stratify target {y.name!r}: class(es) with fewer than 2 rows "
            f"{too_small}; remove them, add rows, or set split.stratify: false"
        )
    for code in np.flatnonzero(counts):
        positions = np.empty(counts[code], dtype=kind)
        filled = 0
        for start in range(0, n, CHUNK_ROWS):  # a chunk at a time: no int64 copy of them all
            found = np.flatnonzero(codes[start : start + CHUNK_ROWS] == code)
            positions[filled : filled + len(found)] = found + start
            filled += len(found)
        yield positions


def _positions(n: int) -> type[np.signedinteger]:
    """Row positions as int32 when they fit: half the memory, the same seeded permutation."""
    return np.int32 if n < 2**31 else np.int64


def assign_folds(
    n: int, y: pd.Series | None, groups: np.ndarray | None, params: SplitParams, seed: int
) -> np.ndarray:
    """Fold 0..k-1 for each of n rows (the non-test rows) with scikit-learn's k-fold splitters."""
    k = params.folds
    if groups is not None and len(np.unique(groups)) < k:
        raise PipelineError(
            f"split: split.folds is {k} but only {len(np.unique(groups))} groups of "
            f"split.group {params.group!r} are outside the test split; lower split.folds"
        )
    if y is not None:
        small = {c: v for c, v in _present_counts(y).items() if v < k}
        if small:
            raise PipelineError(
                f"split: class(es) with fewer rows than split.folds ({k}) outside the test "
                f"split: {small}; lower split.folds, add rows, or set split.stratify: false"
            )
    state = int(np.random.default_rng([seed, FOLDS_STREAM]).integers(2**31 - 1))
    if groups is None:
        splitter = (StratifiedKFold if y is not None else KFold)(
            k, shuffle=True, random_state=state
        )
    else:
        splitter = (StratifiedGroupKFold if y is not None else GroupKFold)(
            k, shuffle=True, random_state=state
        )
    # codes sort as the names do, so the splitters see the same classes in the same order
    labels = None if y is None else class_codes(y)[0]
    fold = np.full(n, -1, dtype=np.int64)
    for f, (_, held) in enumerate(splitter.split(np.zeros((n, 1)), labels, groups)):
        fold[held] = f
    return fold


def assign_positions(
    n: int,
    y: pd.Series | None,
    params: SplitParams,
    seed: int,
    groups: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Where each of n rows goes: its split (index into io.SPLITS, int8) and, for kfold, its
    fold (-1 on test rows). Stratified by `y` when given; whole groups move together when
    `groups` is given. Needs only these columns, never the feature rows."""
    rng = np.random.default_rng(seed)
    if params.scheme == "kfold":
        shares = [1 - params.test, params.test]
    else:
        shares = list(params.shares().values())
    if groups is None:
        where = _allocate_rows(y, shares, rng, n)
    else:
        where = _allocate_groups(groups, y, shares, rng)
    fold = None
    if params.scheme == "kfold":  # shares: the rest (0), test (1)
        rest = np.flatnonzero(where == 0)
        where[where == 1] = TEST
        if len(rest) < params.folds:
            raise PipelineError(
                f"split: split.folds is {params.folds} but only {len(rest)} rows are outside "
                f"the test split; lower split.folds or use more data"
            )
        fold = np.full(n, -1, dtype=np.int64)
        fold[rest] = assign_folds(
            len(rest),
            None if y is None else y.iloc[rest],
            None if groups is None else groups[rest],
            params,
            seed,
        )
        where[rest] = np.where(fold[rest] == params.fold, VAL, TRAIN)
    sizes = bincount(where, len(io.SPLITS))
    for i, name in enumerate(io.SPLITS):
        if not sizes[i]:
            what = (
                f"{len(np.unique(groups))} groups of split.group {params.group!r}"
                if groups is not None
                else ""
            )
            raise PipelineError(
                f"split: the {name} split would be empty ({n} rows{', ' + what if what else ''}"
                f"; split.scheme {params.scheme}, share {params.shares()[name]:.3g} of the rows); "
                f"use more data or a larger share"
            )
    return where, fold


def oversample_copies(y: pd.Series, seed: int) -> np.ndarray:
    """How many extra copies of each row (of the train rows `y`) random oversampling adds: random
    rows of each smaller class, drawn with replacement until it matches the largest class."""
    rng = np.random.default_rng([seed, OVERSAMPLE_STREAM])
    codes, _ = class_codes(y)
    counts = np.bincount(codes)
    extra = [
        rng.choice(np.flatnonzero(codes == c), size=counts.max() - n, replace=True)
        for c, n in enumerate(counts)
        if 0 < n < counts.max()
    ]
    drawn = np.concatenate(extra) if extra else np.zeros(0, dtype=np.int64)
    return np.bincount(drawn, minlength=len(y)).astype(np.int32)


def oversample(train: pd.DataFrame, target: str, seed: int) -> pd.DataFrame:
    """Append copies of random rows of each smaller class until it matches the largest class;
    the copies follow the original rows, in file order."""
    copies = oversample_copies(train[target], seed)
    if not copies.any():
        return train
    return pd.concat([train, train.iloc[np.repeat(np.arange(len(train)), copies)]])


def read_labels(frames: Iterable[pd.DataFrame], column: str, rows: int) -> pd.Series:
    """A target column of `rows` rows, whole, as a categorical of its values as text (sorted
    categories): one small integer per row (int8 up to 127 classes), written batch by batch
    into one array, then renumbered in place to the sorted order."""
    ids: dict[str, int] = {}
    codes = np.empty(rows, dtype=np.int8)
    start = 0
    for frame in frames:
        batch = pd.Categorical(frame[column].astype(str))
        local = [ids.setdefault(str(c), len(ids)) for c in batch.categories]
        if len(ids) > np.iinfo(codes.dtype).max:
            codes = codes.astype(np.int32)
        codes[start : start + len(batch)] = np.asarray(local, dtype=codes.dtype)[batch.codes]
        start += len(batch)
    names = sorted(ids)
    order = np.empty(len(ids), dtype=codes.dtype)
    for new, name in enumerate(names):
        order[ids[name]] = new
    for start in range(0, rows, CHUNK_ROWS):  # in place, small intp temporaries
        codes[start : start + CHUNK_ROWS] = order[codes[start : start + CHUNK_ROWS]]
    return pd.Series(pd.Categorical.from_codes(codes, names), name=column)
