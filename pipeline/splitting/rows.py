"""The split's streaming core: decide every row's place (`pipeline.splitting.assign`), stream the
rows once to their split files, hash them for the duplicate check and sample them for the shift
tests, then stream the oversampled copies; returns the split report."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.params import SplitParams
from pipeline.core.row_hashes import SpilledHashes, hash_rows
from pipeline.core.tables import Batches
from pipeline.splitting.assign import (
    FOLD,
    SHIFT_STREAM,
    TEST,
    TRAIN,
    VAL,
    assign_positions,
    bincount,
    class_counts,
    oversample_copies,
    read_labels,
)
from pipeline.splitting.drift import distribution_shift
from pipeline.splitting.duplicates import duplicate_report_parts, zip_parts

# Rows of train and of test (a seeded sample when larger) compared by the shift tests.
SHIFT_SAMPLE_ROWS = 100_000


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
    sizes = bincount(where, len(io.SPLITS))
    rng = np.random.default_rng([seed, SHIFT_STREAM])
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
            hashes[name].add(hash_rows(part[features]), seen[name] + np.arange(len(part)))
            if name in sampled:
                wanted = sampled[name]
                lo, hi = np.searchsorted(wanted, [seen[name], seen[name] + len(part)])
                samples[name].append(part.iloc[wanted[lo:hi] - seen[name]])
            seen[name] += len(part)
        if fold is not None:
            keep = here != TEST
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
            **duplicate_report_parts(zip_parts(hashes), row_numbers),
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
        report["class_counts"] = class_counts(y, where)
    if params.scheme == "train_test":
        report["val_from_train"] = (
            f"val ({sizes[VAL]} rows) is carved from the train share "
            f"(split.val = {params.val:g} of it) for early stopping; the model is fit on the "
            f"other {sizes[TRAIN]} rows"
        )
    if fold is not None:
        report["folds"] = {
            "k": params.folds,
            "val_fold": params.fold,
            "rows": [int(v) for v in np.bincount(fold[fold >= 0], minlength=params.folds)],
            "file": str(io.FOLDS),
        }
    if params.oversample == "random" and y is not None:
        train_rows = np.flatnonzero(where == TRAIN)
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
        report["rows"]["train"] = int(sizes[TRAIN] + copies.sum())
    return report
