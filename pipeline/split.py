"""split: cut the validated table into train/val/test, stratified by class, seeded.

Writes data/split/{train,val,test}.parquet and data/split/split.json (the resolved task and the
row counts), which `encode` reads to learn the task.
"""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline import io
from pipeline.config import Params, SplitParams, load_params
from pipeline.errors import PipelineError
from pipeline.task import resolve_task


def split_table(
    df: pd.DataFrame, y: pd.Series | None, params: SplitParams, seed: int
) -> dict[str, pd.DataFrame]:
    """Seeded train/val/test split; stratified by `y` when given."""
    try:
        rest, test = train_test_split(df, test_size=params.test, random_state=seed, stratify=y)
        val_share = params.val / (params.train + params.val)
        train, val = train_test_split(
            rest,
            test_size=val_share,
            random_state=seed,
            stratify=None if y is None else y.loc[rest.index],
        )
    except ValueError as exc:  # too few rows (per class) for the requested fractions
        detail = ""
        if y is not None:
            counts = y.value_counts()
            detail = f"; smallest class {counts.idxmin()!r} has {counts.min()} rows"
        raise PipelineError(
            f"split: cannot split {len(df)} rows into train/val/test "
            f"{params.train:g}/{params.val:g}/{params.test:g}{detail} ({exc})"
        ) from None
    return {"train": train, "val": val, "test": test}


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
