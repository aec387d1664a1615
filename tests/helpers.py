"""Helpers shared by several test modules: in-memory adapters over the pipeline's streaming cores
(a table in memory read as the stages read files, split or validated whole, baselines scored on
frames), penguins run through the first stages, training data and runs, their outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.checks.column_types import apply_types
from pipeline.checks.rawfile import RawFile
from pipeline.checks.validation import column_types, validate_batches
from pipeline.checks.validation_report import Report
from pipeline.core import io, stopping
from pipeline.core.config import parse_params
from pipeline.core.params import EvaluateParams, Params, SplitParams, TrainParams
from pipeline.core.schema import TableSchema
from pipeline.core.tables import LABEL, frame_batches
from pipeline.evaluation.baselines import baseline_predict, fit_baselines
from pipeline.evaluation.metrics import EVAL_SPLITS, score
from pipeline.model import inference
from pipeline.model.inference import actual, features
from pipeline.splitting.assign import FOLD, assign_positions
from pipeline.splitting.duplicates import duplicate_report_parts
from pipeline.splitting.rows import split_rows
from pipeline.stages import encode, split, train, validate
from pipeline.stages import fit_preprocessor as scale
from pipeline.training import epoch_log as train_log
from pipeline.training.data import Tensors

from .conftest import BIN, ROOT, SMALL_TRAIN, small_params


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

    def nested_columns(self) -> dict[str, str]:
        return {}

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


# Training that learns penguins in seconds (with the small net of conftest.SMALL_*).
FAST_TRAIN = {"epochs": 30, "patience": 10, "progress": False}


def penguins_encoded(root: Path, monkeypatch, sections: dict | None = None) -> Path:
    """`root` becomes the working folder, with penguins run through validate..encode."""
    (root / "data/raw").mkdir(parents=True)
    for name in ("penguins.csv", "penguins.schema.yaml"):
        (root / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    monkeypatch.chdir(root)
    params = small_params(sections)
    for stage in (validate, split, scale, encode):
        stage.run(params)
    return root


def outputs(root: Path) -> dict[str, bytes]:
    """What train writes in `root`, file by file, as bytes."""
    files = [root / io.MODEL_WEIGHTS, root / io.MODEL_CARD, *(root / io.TRAIN_LOG_DIR).rglob("*")]
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(files) if p.is_file()}


def kill_then_resume(params, monkeypatch, root: Path, restart: int, epoch: int) -> None:
    """Train cleanly; train again but stop it by SIGTERM (as `kill <pid>` or a stopped dvc
    does, handled as `python -m pipeline` handles it) after `epoch` of `restart` (the
    checkpoint is on disk, no model yet, no temporary file); rerun: the outputs must equal the
    clean run's, byte for byte."""
    train.run(params)
    clean = outputs(root)
    for path in (io.MODEL_WEIGHTS, io.MODEL_CARD):
        path.unlink()
    original = train_log.EpochLogger.log

    def killed(self, at_restart, row, seconds):
        original(self, at_restart, row, seconds)
        if at_restart == restart and row["epoch"] == epoch:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(train_log.EpochLogger, "log", killed)
    replaced = stopping.install()
    try:
        with pytest.raises(stopping.Stopped):
            train.run(params)
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)
    assert io.TRAIN_CHECKPOINT.exists() and not io.MODEL_WEIGHTS.exists()
    assert not list(root.rglob("*.tmp"))

    monkeypatch.setattr(train_log.EpochLogger, "log", original)
    torch.manual_seed(2024)  # the next process starts from unrelated RNG state
    train.run(params)
    assert outputs(root) == clean


def accuracy_on_test(root: Path) -> float:
    """Test accuracy of the model trained in `root`."""
    card = io.read_json(root / io.MODEL_CARD)
    table = io.read_table(root / io.ENCODED_DIR / "test.parquet")
    model = inference.load_model(card)
    proba = inference.predict(model, table, card)
    return score(inference.actual(table, card), proba, card["task"])["accuracy"]


def start(root: Path, *launcher: str) -> subprocess.Popen:
    """`python -m pipeline train` in `root`, optionally under a launcher (python -m <it>)."""
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT)}  # this checkout's pipeline
    return subprocess.Popen(
        [sys.executable, *launcher, "-m", "pipeline", "train"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def build(root: Path, raw: dict[str, bytes], params: dict) -> None:
    """Run validate..train in `root` (the current directory is restored afterwards)."""
    (root / "data/raw").mkdir(parents=True)
    for name, content in raw.items():
        (root / "data/raw" / name).write_bytes(content)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        parsed = parse_params({"train": FAST_TRAIN, **params})
        for stage in (validate, split, scale, encode, train):
            stage.run(parsed)


def build_penguins(root: Path) -> Path:
    """`build` on the penguins table and its schema file (default params): `root`."""
    raw = {
        n: (ROOT / "data/raw" / n).read_bytes() for n in ("penguins.csv", "penguins.schema.yaml")
    }
    build(root, raw, {})
    return root


def read_output(path: Path) -> pd.DataFrame:
    """The output CSV as a frame: one row per input row, `skipped` "" where predicted."""
    out = pd.read_csv(path, dtype={"skipped": str})
    out["skipped"] = out["skipped"].fillna("")
    return out


def blobs(task: str, n: int = 200, seed: int = 0) -> tuple[Tensors, Tensors]:
    """Separable groups (or a linear target) in 4 features, split 150/50."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    if task == "regression":
        y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    elif task == "binary":
        y = (x[:, 0] + x[:, 1] > 0).float()
    else:
        y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return Tensors(x[:150], y[:150]), Tensors(x[150:], y[150:])


def quick(**overrides) -> TrainParams:
    """Small-net training for a fixed number of epochs (no early stopping)."""
    return small_train(**{"epochs": 15, "early_stopping": False, **overrides})


def small_train(**settings) -> TrainParams:
    """TrainParams over the small-net settings (SMALL_TRAIN), `settings` winning."""
    return TrainParams(**{**SMALL_TRAIN, **settings})
