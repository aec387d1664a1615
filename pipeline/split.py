"""split: cut the validated table into train/val/test, stratified by class, seeded.

Writes data/split/{train,val,test}.parquet and data/split/split.json (the resolved task and the
row counts), which `encode` reads to learn the task.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import Params, SplitParams, load_params
from pipeline.errors import PipelineError
from pipeline.task import resolve_task


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


def split_table(
    df: pd.DataFrame, y: pd.Series | None, params: SplitParams, seed: int
) -> dict[str, pd.DataFrame]:
    """Seeded train/val/test split, stratified by `y` when given; rows keep their file order."""
    shares = [getattr(params, name) for name in io.SPLITS]
    groups = {"all": np.arange(len(df))} if y is None else _positions_by_class(y)
    rng = np.random.default_rng(seed)
    targets = [len(df) * share for share in shares]
    totals = [0] * len(shares)
    picked: list[list[np.ndarray]] = [[] for _ in shares]
    for positions in groups.values():
        counts = allocate(len(positions), shares, totals, targets)
        cuts = np.cumsum(counts)[:-1]
        for i, part in enumerate(np.split(rng.permutation(positions), cuts)):
            picked[i].append(part)
            totals[i] += len(part)
    for name, total in zip(io.SPLITS, totals, strict=True):
        if total == 0:
            raise PipelineError(
                f"split: the {name} split would be empty ({len(df)} rows x "
                f"split.{name} {getattr(params, name):g} < 1 row); use more data or a larger share"
            )
    return {
        name: df.iloc[np.sort(np.concatenate(parts))]
        for name, parts in zip(io.SPLITS, picked, strict=True)
    }


def _positions_by_class(y: pd.Series) -> dict[str, np.ndarray]:
    labels = y.astype(str).to_numpy()
    classes, counts = np.unique(labels, return_counts=True)
    too_small = {c: int(n) for c, n in zip(classes, counts, strict=True) if n < 2}
    if too_small:
        raise PipelineError(
            f"split: cannot stratify target {y.name!r}: class(es) with fewer than 2 rows "
            f"{too_small}; remove them, add rows, or set split.stratify: false"
        )
    return {c: np.flatnonzero(labels == c) for c in classes}


def run(params: Params) -> None:
    df = io.read_table(io.VALIDATED)
    target = params.data.target
    task, reason = resolve_task(params.data.task, df[target])
    stratify = params.split.stratify and task != "regression"
    parts = split_table(df, df[target] if stratify else None, params.split, params.seed)
    with io.atomic_dir(io.SPLIT_DIR) as out:
        for name, part in parts.items():
            io.write_table(part, out / f"{name}.parquet")
        io.write_json(
            {
                "task": task,
                "task_reason": reason,
                "stratified": stratify,
                "rows": {name: len(part) for name, part in parts.items()},
            },
            out / "split.json",
        )
    sizes = ", ".join(f"{name} {len(part)}" for name, part in parts.items())
    print(f"split: {sizes} rows ({'stratified' if stratify else 'random'}, task {task})")


if __name__ == "__main__":
    run(load_params())
