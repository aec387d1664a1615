"""split: cut the validated table into train/val/test, seeded, stratified by class by default.

`split.scheme` picks how:
- train_val_test: three shares of the rows;
- train_test: train and test shares; val (for early stopping) is carved from the train share;
- kfold: a test share is held out and every other row gets one of k folds (StratifiedKFold for
  classification); fold `split.fold` is val for the rest of the pipeline, and
  data/split/folds.parquet keeps the non-test rows with their `_fold` for cross-validation.

With `split.group`, rows of one group never straddle splits or folds; the group column is an
identifier, so it is removed from the split tables. After splitting: identical feature rows in
more than one split are counted (`split.duplicates: warn|fail`), each feature's train-vs-test
shift is tested, and with `split.oversample: random` minority classes of the train split (only)
are topped up with copies of random rows, appended after the original rows in file order (a copy
keeps its row number). Writes data/split/{train,val,test}.parquet, data/split/split.json (task
and sizes) and reports/split.{json,md}; the task is validate's (models/preprocess/task.json).

Streaming, in bounded memory: the assignment is decided from the target (and group) column only,
read whole as small integer codes; the rows are then streamed once (batches of data.batch_rows)
to the split files. Per row only the target's code and the split's are held (a byte each; while
assigning, one class's row positions as int32 too); 64-bit hashes of the feature values (for
the duplicate check) go to temporary files, and the shift tests use a seeded sample of
SHIFT_SAMPLE_ROWS rows of train and of test. The assignment does not depend on the batch size.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from pipeline import io
from pipeline.config import Params, SplitParams, load_params
from pipeline.drift import distribution_shift
from pipeline.errors import PipelineError
from pipeline.preprocess import Batches, frame_batches
from pipeline.row_hashes import SpilledHashes
from pipeline.task import read_task

FOLD = "_fold"
MAX_EXAMPLES = 5
# Independent random streams derived from the one seed, so e.g. turning oversampling on does not
# move any row to another split.
_FOLDS_STREAM, _OVERSAMPLE_STREAM, _SHIFT_STREAM = 2, 1, 3
_TRAIN, _VAL, _TEST = range(3)  # positions in io.SPLITS
# Rows of train and of test (a seeded sample when larger) compared by the shift tests.
SHIFT_SAMPLE_ROWS = 100_000
_CHUNK_ROWS = 1 << 20  # rows per step of whole-column array work: small temporaries


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


def _class_codes(y: pd.Series) -> tuple[np.ndarray, list[str]]:
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
            for lo in range(bounds[i], bounds[i + 1], _CHUNK_ROWS):  # small intp temporaries
                share[positions[lo : min(lo + _CHUNK_ROWS, bounds[i + 1])]] = i
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
        codes, classes = _class_codes(y)
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


def _bincount(values: np.ndarray, minlength: int) -> np.ndarray:
    """np.bincount of small non-negative integers, a chunk at a time: bincount copies its input
    as int64, 8 bytes a row for the whole column at once."""
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, len(values), _CHUNK_ROWS):
        counts += np.bincount(values[start : start + _CHUNK_ROWS], minlength=minlength)
    return counts


def _present_counts(y: pd.Series) -> dict[str, int]:
    """Rows per class present in y, classes in sorted order."""
    codes, classes = _class_codes(y)
    counts = _bincount(codes, len(classes))
    return {c: int(n) for c, n in zip(classes, counts, strict=True) if n}


def _class_counts(y: pd.Series, where: np.ndarray) -> dict[str, dict[str, int]]:
    """`_present_counts` of each split's rows (`where`: split per row), a chunk at a time."""
    codes, classes = _class_codes(y)
    k = len(classes)
    table = np.zeros(len(io.SPLITS) * k, dtype=np.int64)
    for start in range(0, len(codes), _CHUNK_ROWS):
        cell = where[start : start + _CHUNK_ROWS].astype(np.intp) * k
        table += np.bincount(cell + codes[start : start + _CHUNK_ROWS], minlength=len(table))
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
    codes, classes = _class_codes(y)
    counts = _bincount(codes, len(classes))
    too_small = {c: int(k) for c, k in zip(classes, counts, strict=True) if 0 < k < 2}
    if too_small:
        raise PipelineError(
            f"split: cannot stratify target {y.name!r}: class(es) with fewer than 2 rows "
            f"{too_small}; remove them, add rows, or set split.stratify: false"
        )
    for code in np.flatnonzero(counts):
        positions = np.empty(counts[code], dtype=kind)
        filled = 0
        for start in range(0, n, _CHUNK_ROWS):  # a chunk at a time: no int64 copy of them all
            found = np.flatnonzero(codes[start : start + _CHUNK_ROWS] == code)
            positions[filled : filled + len(found)] = found + start
            filled += len(found)
        yield positions


def _positions(n: int) -> type[np.signedinteger]:
    """Row positions as int32 when they fit: half the memory, the same seeded permutation."""
    return np.int32 if n < 2**31 else np.int64


def _assign_folds(
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
    state = int(np.random.default_rng([seed, _FOLDS_STREAM]).integers(2**31 - 1))
    if groups is None:
        splitter = (StratifiedKFold if y is not None else KFold)(
            k, shuffle=True, random_state=state
        )
    else:
        splitter = (StratifiedGroupKFold if y is not None else GroupKFold)(
            k, shuffle=True, random_state=state
        )
    # codes sort as the names do, so the splitters see the same classes in the same order
    labels = None if y is None else _class_codes(y)[0]
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
        where[where == 1] = _TEST
        if len(rest) < params.folds:
            raise PipelineError(
                f"split: split.folds is {params.folds} but only {len(rest)} rows are outside "
                f"the test split; lower split.folds or use more data"
            )
        fold = np.full(n, -1, dtype=np.int64)
        fold[rest] = _assign_folds(
            len(rest),
            None if y is None else y.iloc[rest],
            None if groups is None else groups[rest],
            params,
            seed,
        )
        where[rest] = np.where(fold[rest] == params.fold, _VAL, _TRAIN)
    sizes = _bincount(where, len(io.SPLITS))
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


def assign_splits(
    df: pd.DataFrame,
    y: pd.Series | None,
    params: SplitParams,
    seed: int,
    groups: np.ndarray | None = None,
) -> pd.DataFrame:
    """`assign_positions` for a frame: `split` (train/val/test) and, for kfold, `_fold`."""
    where, fold = assign_positions(len(df), y, params, seed, groups)
    out = pd.DataFrame({"split": np.asarray(io.SPLITS, dtype=object)[where]}, index=df.index)
    if fold is not None:
        out[FOLD] = fold
    return out


def split_table(
    df: pd.DataFrame,
    y: pd.Series | None,
    params: SplitParams,
    seed: int,
    groups: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """Seeded train/val/test split (see `assign_positions`); rows keep their file order."""
    where, _ = assign_positions(len(df), y, params, seed, groups)
    return {name: df[where == i] for i, name in enumerate(io.SPLITS)}


def oversample_copies(y: pd.Series, seed: int) -> np.ndarray:
    """How many extra copies of each row (of the train rows `y`) random oversampling adds: random
    rows of each smaller class, drawn with replacement until it matches the largest class."""
    rng = np.random.default_rng([seed, _OVERSAMPLE_STREAM])
    codes, _ = _class_codes(y)
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


def duplicate_report(
    hashes: dict[str, np.ndarray], row_numbers: Callable[[dict[str, np.ndarray]], dict]
) -> dict[str, Any]:
    """Rows whose feature hash (target left out) also occurs in another split: how many in all,
    and per pair of splits the rows of the later one, with a few row numbers (`row_numbers`
    maps {split: positions in it} to their row numbers). `hashes`: each split's, in order."""
    whole = {name: (values, np.arange(len(values))) for name, values in hashes.items()}
    return duplicate_report_parts([whole], row_numbers)


def duplicate_report_parts(
    parts: Iterable[dict[str, tuple[np.ndarray, np.ndarray]]],
    row_numbers: Callable[[dict[str, np.ndarray]], dict],
) -> dict[str, Any]:
    """`duplicate_report` over hashes cut into parts such that equal hashes share a part (e.g.
    by their top bits, spilled to disk): each part holds, per split, (hashes, their positions
    in the split). Memory is one part's, and the result is the same as over the whole."""
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
    for start in range(0, len(values), _CHUNK_ROWS):
        part = values[start : start + _CHUNK_ROWS]
        at = np.searchsorted(pool, part)
        np.minimum(at, len(pool) - 1, out=at)
        found[start : start + len(part)] = pool[at] == part
    return found


def _zip_parts(
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


def _row_hashes(frame: pd.DataFrame, features: list[str]) -> np.ndarray:
    """64-bit hash of each row's feature values (pandas' hash, the same whatever the batch)."""
    return pd.util.hash_pandas_object(frame[features], index=False).to_numpy()


def _check_group(column: str, columns: list[str], target: str) -> None:
    if column not in columns:
        raise PipelineError(
            f"split.group: column {column!r} is not in the validated table; columns: {columns}"
        )
    if column == target:
        raise PipelineError(f"split.group: {column!r} is the target (data.target)")


def _group_values(frames: Iterable[pd.DataFrame], column: str) -> np.ndarray:
    """The group column as text, whole (one value per row); a null is an error naming its row."""
    parts = []
    for frame in frames:
        nulls = frame[column].isna()
        if nulls.any():
            raise PipelineError(
                f"split.group: column {column!r} has null(s) (e.g. row "
                f"{frame.index[nulls.to_numpy()][0]}); every row needs a group"
            )
        parts.append(frame[column].astype(str).to_numpy(dtype=object))
    return np.concatenate(parts)


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
    for start in range(0, rows, _CHUNK_ROWS):  # in place, small intp temporaries
        codes[start : start + _CHUNK_ROWS] = order[codes[start : start + _CHUNK_ROWS]]
    return pd.Series(pd.Categorical.from_codes(codes, names), name=column)


@dataclass
class SplitResult:
    parts: dict[str, pd.DataFrame]
    folds: pd.DataFrame | None  # kfold: the non-test rows with their `_fold`
    report: dict[str, Any]


def split_rows(
    batches: Batches,
    rows: int,
    columns: list[str],
    target: str,
    task: str,
    params: SplitParams,
    seed: int,
    write: Callable[[str, pd.DataFrame], None],
) -> dict[str, Any]:
    """Split the table of `rows` rows that `batches` reads (columns -> frames, in table order):
    decide every row's place from the target (and group) column, then stream the rows once to
    `write(split, frame)` ("train", "val", "test", and "folds" for kfold), and once more for
    oversampled copies. Returns the report; holds per row only the target's code and the
    split's (a byte each); the rows' hashes go to disk."""
    if params.group is not None:
        _check_group(params.group, columns, target)
    stratify = params.stratify and task != "regression"
    if params.oversample != "none" and task == "regression":
        raise PipelineError(
            f"split.oversample: {params.oversample!r} needs a classification target, but "
            f"{target!r} is a regression target; set split.oversample: none"
        )
    classification = task != "regression"
    n = rows
    y = read_labels(batches([target]), target, n) if classification else None
    groups = _group_values(batches([params.group]), params.group) if params.group else None
    where, fold = assign_positions(n, y if stratify else None, params, seed, groups)

    features = [c for c in columns if c not in (target, params.group)]
    sizes = _bincount(where, len(io.SPLITS))
    rng = np.random.default_rng([seed, _SHIFT_STREAM])
    sampled = {
        name: np.sort(rng.choice(sizes[i], size=SHIFT_SAMPLE_ROWS, replace=False))
        if sizes[i] > SHIFT_SAMPLE_ROWS
        else np.arange(sizes[i])
        for i, name in enumerate(io.SPLITS)
        if name in ("train", "test")
    }
    samples: dict[str, list[pd.DataFrame]] = {name: [] for name in sampled}
    hashes = {name: SpilledHashes() for name in io.SPLITS}  # on disk: memory stays flat
    seen = dict.fromkeys(io.SPLITS, 0)
    start = 0
    for frame in batches(None):
        table = frame.drop(columns=[params.group]) if params.group else frame
        here = where[start : start + len(frame)]
        for i, name in enumerate(io.SPLITS):
            part = table[here == i]
            write(name, part)
            hashes[name].add(_row_hashes(part, features), seen[name] + np.arange(len(part)))
            if name in sampled:
                wanted = sampled[name]
                lo, hi = np.searchsorted(wanted, [seen[name], seen[name] + len(part)])
                samples[name].append(part.iloc[wanted[lo:hi] - seen[name]])
            seen[name] += len(part)
        if fold is not None:
            keep = here != _TEST
            write("folds", table[keep].assign(**{FOLD: fold[start : start + len(frame)][keep]}))
        start += len(frame)

    def row_numbers(wanted: dict[str, np.ndarray]) -> dict[str, dict[int, int]]:
        """Row numbers (the `_row` index) of some positions within splits: one index-only pass."""
        found: dict[str, dict[int, int]] = {name: {} for name in wanted}
        counts = dict.fromkeys(io.SPLITS, 0)
        offset = 0
        for frame in batches([]):
            here = where[offset : offset + len(frame)]
            for i, name in enumerate(io.SPLITS):
                index = frame.index[here == i]
                if name in wanted:
                    lo, hi = np.searchsorted(
                        wanted[name], [counts[name], counts[name] + len(index)]
                    )
                    for p in wanted[name][lo:hi]:
                        found[name][int(p)] = int(index[p - counts[name]])
                counts[name] += len(index)
            offset += len(frame)
        return found

    shift_rows = {name: pd.concat(parts) for name, parts in samples.items()}
    report: dict[str, Any] = {
        "scheme": params.scheme,
        "task": task,
        "seed": seed,
        "stratified": stratify,
        "group": params.group,
        "rows": {name: int(sizes[i]) for i, name in enumerate(io.SPLITS)},
        "duplicates": {
            "policy": params.duplicates,
            **duplicate_report_parts(_zip_parts(hashes), row_numbers),
        },
        "shift": {
            "alpha": params.shift_alpha,
            "sample_rows": SHIFT_SAMPLE_ROWS,
            "columns": distribution_shift(
                shift_rows["train"], shift_rows["test"], features, params.shift_alpha
            ),
        },
    }
    if groups is not None:
        report["groups"] = {
            name: len(np.unique(groups[where == i])) for i, name in enumerate(io.SPLITS)
        }
    if y is not None:
        report["class_counts"] = _class_counts(y, where)
    if params.scheme == "train_test":
        report["val_from_train"] = (
            f"val ({sizes[_VAL]} rows) is carved from the train share "
            f"(split.val = {params.val:g} of it) for early stopping; the model is fit on the "
            f"other {sizes[_TRAIN]} rows"
        )
    if fold is not None:
        report["folds"] = {
            "k": params.folds,
            "val_fold": params.fold,
            "rows": [int(v) for v in np.bincount(fold[fold >= 0], minlength=params.folds)],
            "file": str(io.FOLDS),
        }
    if params.oversample == "random" and y is not None:
        train_rows = np.flatnonzero(where == _TRAIN)
        copies = np.zeros(n, dtype=np.int32)
        copies[train_rows] = oversample_copies(y.iloc[train_rows], seed)
        start = 0
        for frame in batches(None):  # the copies follow the train rows, in file order
            table = frame.drop(columns=[params.group]) if params.group else frame
            repeat = copies[start : start + len(frame)]
            if repeat.any():
                write("train", table.iloc[np.repeat(np.arange(len(table)), repeat)])
            start += len(frame)
        before = report["class_counts"]["train"]
        report["oversampling"] = {
            "method": "random",
            "before": before,
            "after": dict.fromkeys(before, max(before.values())),
        }
        report["rows"]["train"] = int(sizes[_TRAIN] + copies.sum())
    return report


def split_dataset(
    df: pd.DataFrame, target: str, task: str, params: SplitParams, seed: int
) -> SplitResult:
    """Split, check, and (optionally) oversample an in-memory table (`split_rows` on one
    batch); the report says what happened."""
    written: dict[str, list[pd.DataFrame]] = {}
    report = split_rows(
        frame_batches(df),
        len(df),
        list(df.columns),
        target,
        task,
        params,
        seed,
        lambda name, frame: written.setdefault(name, []).append(frame),
    )
    parts = {name: pd.concat(written[name]) for name in io.SPLITS}
    folds = pd.concat(written["folds"]) if "folds" in written else None
    return SplitResult(parts, folds, report)


def render_markdown(report: dict[str, Any]) -> str:
    rows = report["rows"]
    lines = [
        "# Split",
        "",
        f"Scheme **{report['scheme']}** (seed {report['seed']}, "
        f"{'stratified by class' if report['stratified'] else 'not stratified'}"
        + (f", groups of `{report['group']}` kept whole" if report["group"] else "")
        + f"): train {rows['train']}, val {rows['val']}, test {rows['test']} rows.",
    ]
    if "val_from_train" in report:
        lines += ["", report["val_from_train"].capitalize() + "."]
    if "folds" in report:
        f = report["folds"]
        lines += [
            "",
            f"{f['k']} folds of the non-test rows ({', '.join(map(str, f['rows']))} rows); "
            f"fold {f['val_fold']} is val here, and `{f['file']}` keeps every fold for "
            f"cross-validation.",
        ]
    if "class_counts" in report:
        counts = report["class_counts"]
        classes = sorted({c for split in counts.values() for c in split})
        lines += ["", "| class | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
        for c in classes:
            lines.append(f"| {c} | " + " | ".join(str(counts[s].get(c, 0)) for s in counts) + " |")
    if "oversampling" in report:
        o = report["oversampling"]
        lines += [
            "",
            "Random oversampling of the train split only (val and test untouched):",
            "",
            "| class | train rows before | after |",
            "|---|---|---|",
        ]
        lines += [f"| {c} | {n} | {o['after'][c]} |" for c, n in o["before"].items()]
    dup = report["duplicates"]
    total = dup["rows"]
    lines += ["", f"## Identical feature rows across splits: {total}"]
    if total:
        lines += ["", f"Policy `split.duplicates: {dup['policy']}`."]
        lines += ["", "| splits | rows | e.g. rows |", "|---|---|---|"]
        for pair, found in dup["pairs"].items():
            lines.append(f"| {pair} | {found['rows']} | {found['examples']} |")
    shift = report["shift"]
    flagged = [r for r in shift["columns"] if r["shifted"]]
    lines += [
        "",
        f"## Train vs test shift: {len(flagged)} of {len(shift['columns'])} features "
        f"flagged (p < {shift['alpha']:g})",
        "",
        "KS test for numeric features, chi-squared for categorical ones, on the train and test "
        f"rows (a seeded sample of {shift['sample_rows']} rows of a larger split). A flag is a "
        "warning: look at the feature; with many features a few are flagged by chance.",
        "",
        "| feature | test | statistic | p-value | shifted |",
        "|---|---|---|---|---|",
    ]
    for r in shift["columns"]:
        lines.append(
            f"| {r['column']} | {r['test']} | {r['statistic']:.4g} | {r['p_value']:.4g} | "
            f"{'**yes**' if r['shifted'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def run(params: Params) -> None:
    first = next(iter(io.iter_table(io.VALIDATED, 1)), None)  # the columns (and a check)
    if first is None:
        raise PipelineError(f"split: {io.VALIDATED} has no rows; run `dvc repro validate`")
    target = params.data.target
    task = read_task(target)
    reason = io.read_json(io.TASK).get("reason")
    batch_rows = params.data.batch_rows

    def batches(columns: list[str] | None) -> Iterator[pd.DataFrame]:
        return io.iter_table(io.VALIDATED, batch_rows, columns)

    with io.atomic_dir(io.SPLIT_DIR) as out, contextlib.ExitStack() as stack:
        writers: dict[str, io.TableWriter] = {}

        def write(name: str, frame: pd.DataFrame) -> None:
            if name not in writers:
                path = out / (io.FOLDS.name if name == "folds" else f"{name}.parquet")
                writers[name] = stack.enter_context(io.TableWriter(path))
            writers[name].write(frame)

        report = split_rows(
            batches,
            io.table_rows(io.VALIDATED),
            list(first.columns),
            target,
            task,
            params.split,
            params.seed,
            write,
        )
        io.write_json(report, io.SPLIT_REPORT)
        io.write_text(render_markdown(report), io.SPLIT_REPORT.with_suffix(".md"))
        duplicates = report["duplicates"]["rows"]
        if duplicates and params.split.duplicates == "fail":
            pairs = ", ".join(
                f"{pair}: {found['rows']} (e.g. rows {found['examples']})"
                for pair, found in report["duplicates"]["pairs"].items()
                if found["rows"]
            )
            raise PipelineError(
                f"split: {duplicates} row(s) have feature values identical to a row of another "
                f"split ({pairs}); drop duplicates in validate, or set split.duplicates: warn "
                f"(details in {io.SPLIT_REPORT})"
            )
        io.write_json(
            {
                "task": task,
                "task_reason": reason,
                "scheme": params.split.scheme,
                "stratified": report["stratified"],
                "rows": report["rows"],
            },
            out / "split.json",
        )
    sizes = ", ".join(f"{name} {n}" for name, n in report["rows"].items())
    print(
        f"split: {sizes} rows ({params.split.scheme}, "
        f"{'stratified' if report['stratified'] else 'random'}, task {task})"
    )
    if duplicates:
        print(f"split: warning: {duplicates} row(s) repeat a row of another split's features")
    flagged = [r["column"] for r in report["shift"]["columns"] if r["shifted"]]
    if flagged:
        print(f"split: warning: train vs test shift in {flagged} (see {io.SPLIT_REPORT})")


if __name__ == "__main__":
    run(load_params())
