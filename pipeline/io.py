"""Artifact paths in one place, atomic writes, and table/JSON readers.

Every write goes to a temporary sibling first and is renamed into place, so a failed or killed
stage never leaves a half-written file (or folder) that DVC could cache.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import PipelineError

# Artifacts, relative to the project root (DVC runs stages there). dvc.yaml names the same paths.
VALIDATED = Path("data/validated.parquet")
VALIDATION_REPORT = Path("reports/validation.json")
CLEANING = Path("models/preprocess/cleaning.json")  # the cleaning rules, for predict
SPLIT_DIR = Path("data/split")
FOLDS = SPLIT_DIR / "folds.parquet"  # kfold only: the non-test rows with their fold
SPLIT_REPORT = Path("reports/split.json")
SCALER = Path("models/preprocess/scaler.json")
IMPUTER = Path("models/preprocess/imputer.json")
ENCODED_DIR = Path("data/encoded")
ENCODER = Path("models/preprocess/encoder.json")
ENCODE_REPORT = Path("reports/encode.json")
PREVIEW = Path("reports/preview.md")
MODEL_WEIGHTS = Path("models/model.safetensors")
MODEL_CARD = Path("models/model.json")
TRAIN_LOG_DIR = Path("reports/train")
# Not DVC outputs (git-ignored): the resumable training state and TensorBoard's event files.
TRAIN_CHECKPOINT = Path("checkpoints/train.pt")
TENSORBOARD_DIR = Path("logs/tensorboard")
METRICS = Path("reports/metrics.json")
DIAGNOSIS = Path("reports/diagnosis.json")
PLOTS_DIR = Path("reports/plots")
REPORT = Path("reports/report.md")
CV_REPORT = Path("reports/cv.json")
COMPARE_REPORT = Path("reports/compare.md")  # `pipeline compare`: not a DVC output
COMPARE_CURVES = Path("reports/compare_curves.png")

SPLITS = ("train", "val", "test")

_UMASK = os.umask(0o022)  # read the process umask (os has no getter) ...
os.umask(_UMASK)  # ... and put it back; temp files get the modes a plain open() would give
ROW = "_row"  # index name: the row's position among the data rows of the input file (0-based)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder; it replaces `path` as a whole only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes owner-only folders
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(obj: Any, path: Path) -> None:
    """Deterministic JSON: sorted keys, fixed indent, trailing newline."""
    write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", path)


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Parquet with the index kept (it carries the input row numbers); same frame, same bytes."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=True)


def read_table(path: Path) -> pd.DataFrame:
    """Read an artifact written by an earlier stage."""
    if not Path(path).exists():
        raise PipelineError(f"missing input {str(path)!r}: run `dvc repro` to build it first")
    return pd.read_parquet(path, engine="pyarrow")


def read_raw(path: str | Path, key: str = "data.path") -> pd.DataFrame:
    """Read the user's table (CSV or Parquet); the index becomes the data-row number."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{key}: {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise PipelineError(
            f"{key}: {str(path)!r} has suffix {suffix!r}; allowed: .csv, .parquet, .pq"
        )
    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path, engine="pyarrow")
    except (ValueError, OSError) as exc:  # pandas' EmptyDataError/ParserError, pyarrow errors
        raise PipelineError(f"{key}: cannot read {str(path)!r}: {exc}") from None
    df = df.reset_index(drop=True)
    df.index.name = ROW
    return df
