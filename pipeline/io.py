"""Artifact paths in one place, atomic writes, and table/JSON readers.

Every write goes to a temporary sibling first and is renamed into place, so a failed or killed
stage never leaves a half-written file (or folder) that DVC could cache.
"""

from __future__ import annotations

import contextlib
import glob
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


def _clear_leftovers(path: Path) -> None:
    """Remove temporaries a killed earlier write of `path` left beside it (only one stage
    writes a given path, so any that exist are stale)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def _write_error(path: Path, exc: OSError) -> PipelineError:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return PipelineError(
        f"cannot write {str(path)!r}: {reason}{where}; the previous version (if any) is "
        f"left as it was"
    )


def _is_ours(exc: OSError, path: Path) -> bool:
    """An OSError about writing `path` (its folders, its temporaries), not about an input."""
    if exc.filename is None:  # e.g. no space left, raised by a write
        return True
    where = Path(os.fsdecode(exc.filename))
    return (
        where == path
        or where in path.parents
        or where.name.startswith(f".{path.name}.")
        or any(p.name.startswith(f".{path.name}.") for p in where.parents)
    )


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A failed write (read-only folder, disk full) is a PipelineError naming `path`."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if _is_ours(exc, path):
            raise _write_error(path, exc) from None
        raise
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary folder; it replaces `path` as a whole only if the block succeeds.

    The old folder is renamed aside before the new one is renamed in, so at every instant
    `path` is the old folder, absent, or the new one (never a half-deleted old one)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(path)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes owner-only folders
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        if _is_ours(exc, path):
            raise _write_error(path, exc) from None
        raise
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(text: str, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(obj: Any, path: Path) -> None:
    """Deterministic JSON: sorted keys, fixed indent, trailing newline."""
    write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n", path)


def read_json(path: Path) -> Any:
    """Read an artifact's JSON; damaged or foreign content is a PipelineError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(
            f"{str(path)!r} is not valid JSON ({type(exc).__name__}); rebuild it with "
            f"`dvc repro --force <stage that writes it>`"
        ) from None


def escape_formula(value: Any) -> Any:
    """Defuse a text cell a spreadsheet would run as a formula (=, +, -, @, tab, CR first):
    prefix it with a quote. Numbers, and text that is just a number ('-1.5'), are kept."""
    if not isinstance(value, str) or not value or value[0] not in _FORMULA_START:
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV for people and spreadsheets: text cells escaped (see `escape_formula`), numeric
    columns untouched, written atomically."""
    safe = df.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_bool_dtype(
            safe[column]
        ):
            safe[column] = safe[column].map(escape_formula, na_action="ignore")
    safe.columns = [escape_formula(str(c)) for c in safe.columns]
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False)


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Parquet with the index kept (it carries the input row numbers); same frame, same bytes."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=True)


def read_table(path: Path) -> pd.DataFrame:
    """Read an artifact written by an earlier stage."""
    if not Path(path).exists():
        raise PipelineError(f"missing input {str(path)!r}: run `dvc repro` to build it first")
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise PipelineError(
            f"{str(path)!r} is not a readable Parquet table ({type(exc).__name__}); rebuild it "
            f"with `dvc repro --force <stage that writes it>`"
        ) from None


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
