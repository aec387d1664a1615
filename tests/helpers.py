"""In-memory adapters over the pipeline's streaming cores, for tests only: a table in memory read
as the stages read files (batches), split or validated whole, baselines scored on frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.column_types import apply_types
from pipeline.checks.rawfile import RawFile
from pipeline.checks.validation import column_types, validate_batches
from pipeline.checks.validation_report import Report
from pipeline.core import io
from pipeline.core.params import EvaluateParams, Params, SplitParams
from pipeline.core.schema import TableSchema
from pipeline.core.tables import LABEL, frame_batches
from pipeline.evaluation.baselines import baseline_predict, fit_baselines
from pipeline.evaluation.metrics import EVAL_SPLITS, score
from pipeline.model.inference import actual, features
from pipeline.splitting.assign import FOLD, assign_positions
from pipeline.splitting.duplicates import duplicate_report_parts
from pipeline.splitting.rows import split_rows


def read_raw(path: str | Path, batch_rows: int = 1 << 20) -> pd.DataFrame:
    """The user's table read and typed as validate reads and types it (`RawFile`, pass 1's
    column types), whole; the index is the data-row number."""
    source = RawFile(Path(path), batch_rows)
    types = column_types(source, TableSchema(), Report())
    assert types is not None, f"{path} is not a table"
    return pd.concat(apply_types(batch, types).frame for batch in source.batches())


class FrameSource:
    """A table already in memory, read like a file: batches of `batch_rows` rows."""

    is_csv = False
    ragged = 0

    def __init__(self, df: pd.DataFrame, batch_rows: int) -> None:
        self.df = df.reset_index(drop=True).rename_axis(io.ROW)
        self.columns = list(self.df.columns)
        self.batch_rows = batch_rows

    def float_columns(self) -> list[str]:
        return []

    def batches(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        df = self.df if columns is None else self.df[columns]
        for start in range(0, max(len(df), 1), self.batch_rows):
            yield df.iloc[start : start + self.batch_rows]


def validate_table(
    raw: pd.DataFrame | None,
    schema: TableSchema,
    params: Params,
    report: Report | None = None,
    batch_rows: int | None = None,
) -> tuple[pd.DataFrame | None, dict[str, Any]]:
    """`validate_batches` on a table in memory: (the clean table, or None when a `fail` rule
    failed; the report document)."""
    report = Report() if report is None else report
    source = None if raw is None else FrameSource(raw, batch_rows or params.data.batch_rows)
    parts: list[pd.DataFrame] = []
    result = validate_batches(source, schema, params, report, parts.append)
    if not result["passed"] or not parts:
        return None, result
    return pd.concat(parts), result


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


@dataclass
class SplitResult:
    parts: dict[str, pd.DataFrame]
    folds: pd.DataFrame | None  # kfold: the non-test rows with their `_fold`
    report: dict[str, Any]


def split_dataset(
    df: pd.DataFrame, target: str, task: str, params: SplitParams, seed: int
) -> SplitResult:
    """`split_rows` on an in-memory table (one batch): the parts and the report."""
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


def duplicate_report(
    hashes: dict[str, np.ndarray], row_numbers: Callable[[dict[str, np.ndarray]], dict]
) -> dict[str, Any]:
    """`duplicate_report_parts` over whole arrays of hashes (one part)."""
    whole = {name: (values, np.arange(len(values))) for name, values in hashes.items()}
    return duplicate_report_parts([whole], row_numbers)


def run_baselines(
    tables: dict[str, pd.DataFrame], card: dict[str, Any], params: EvaluateParams, seed: int
) -> dict[str, dict[str, dict[str, float | None]]]:
    """Fit each baseline on the encoded train rows; score it on val and test like the MLP."""
    task = card["task"]
    models = fit_baselines(
        features(tables["train"]), tables["train"][LABEL].to_numpy(), task, params, seed
    )
    return {
        name: {
            split: score(
                actual(tables[split], card),
                baseline_predict(model, features(tables[split]), card),
                task,
            )
            for split in EVAL_SPLITS
        }
        for name, model in models.items()
    }
