"""Artifact paths in one place, atomic writes, and table/JSON readers.

Every write goes to a temporary sibling first and is renamed into place, so a failed or killed
stage never leaves a half-written file (or folder) that DVC could cache.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.core.errors import PipelineError
from pipeline.core.tables import date_columns

# Artifacts, relative to the project root (DVC runs stages there). dvc.yaml names the same paths.
VALIDATED = Path("data/validated.parquet")
VALIDATION_REPORT = Path("reports/validation.json")
CLEANING = Path("models/preprocess/cleaning.json")  # the cleaning rules, for predict
TASK = Path("models/preprocess/task.json")  # {target, task, reason}: decided once, by validate
SPLIT_DIR = Path("data/split")
FOLDS = SPLIT_DIR / "folds.parquet"  # kfold only: the non-test rows with their fold
SPLIT_REPORT = Path("reports/split.json")
PREPROCESSOR = Path("models/preprocess/preprocessor.json")  # fitted imputer, scaler, encoder
ENCODED_DIR = Path("data/encoded")
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
# Rows per Parquet row group in every table a stage writes. Fixed (not data.batch_rows), so a
# table's bytes do not depend on the batch size it was computed with.
ROW_GROUP_ROWS = 65_536


def _libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None under another C library."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_malloc_trim()


def release_freed_memory() -> None:
    """Give the heap pages freed since the last batch back to the OS. A batch's arrays are all
    freed after it, but glibc keeps freed pages in fragmented heaps, so a stage's RSS crept up
    with the number of batches (split: +20% over 115 batches of a 30M-row table) though it held
    nothing more; trimming after each batch keeps RSS set by the batch. No-op off glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
    """Deterministic JSON: sorted keys, fixed indent, trailing newline. A NaN or infinite
    number is refused (JSON has none; where a value is undefined, artifacts hold null): a
    PipelineError naming the key, and nothing is written."""
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False)
    except ValueError:
        key, value = _non_finite(obj) or ("?", "?")
        raise PipelineError(
            f"cannot write {str(path)!r}: {key} is {value}, not a finite number; nothing was "
            f"written. A computation overflowed: check the input's values (validate.max_abs) "
            f"and the settings that scale them"
        ) from None
    write_text(text + "\n", path)


def _non_finite(obj: Any, key: str = "") -> tuple[str, float] | None:
    """(the key path, e.g. 'val.rmse' or 'scale[3]', and the value) of the first NaN or
    infinite float in `obj`, or None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (key or "the value", obj)
    if isinstance(obj, dict):
        items = [(f"{key}.{k}" if key else str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list | tuple):
        items = [(f"{key}[{i}]", v) for i, v in enumerate(obj)]
    else:
        return None
    for where, value in items:
        found = _non_finite(value, where)
        if found:
            return found
    return None


def read_json(path: Path) -> Any:
    """Read an artifact's JSON; damaged or foreign content is a PipelineError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(
            f"{str(path)!r} is not valid JSON ({type(exc).__name__}); rebuild it with "
            f"`dvc repro --force <stage that writes it>`"
        ) from None


def fit_inputs(stage: str) -> tuple[str, dict[str, list[str]]]:
    """What fitting the preprocessing (fit_scaler, cv) takes from validate's CLEANING:
    clean.missing as validate resolved it (drop or impute), and each date column's feature
    columns. A file from before these keys, or none, stops `stage` with what to rerun."""
    if not CLEANING.exists():
        raise PipelineError(
            f"{stage}: missing input {str(CLEANING)!r}: run `dvc repro` to build it first"
        )
    cleaning = read_json(CLEANING)
    try:
        missing, dates = cleaning["missing"], cleaning["roles"]["dates"]
    except (KeyError, TypeError):
        raise PipelineError(
            f"{stage}: {CLEANING} was written by an older validate (it lacks `missing` or "
            f"`roles.dates`); rerun validate: `dvc repro`"
        ) from None
    return missing, date_columns(dates)


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


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """`df` for a CSV: text cells and names escaped (see `escape_formula`), numbers untouched."""
    safe = df.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_bool_dtype(
            safe[column]
        ):
            safe[column] = safe[column].map(escape_formula, na_action="ignore")
    safe.columns = [escape_formula(str(c)) for c in safe.columns]
    return safe


def refuse_infinite(frame: pd.DataFrame, path: Path) -> None:
    """A PipelineError naming the column and row of the first infinite number in `frame`, a
    table about to be written to `path` (a null is NaN, and allowed). validate lets no infinite
    value in, so one here is an overflow that must not reach a file."""
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_float_dtype(values.dtype):
            continue
        infinite = np.isinf(values.to_numpy(dtype=np.float64, na_value=np.nan))
        if infinite.any():
            row = frame.index[int(infinite.argmax())]
            raise PipelineError(
                f"cannot write {str(path)!r}: column {column!r} holds an infinite value (row "
                f"{row}); nothing was written. A computation overflowed: check the input's "
                f"values (validate.max_abs) and the settings that scale them"
            )


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """CSV for people and spreadsheets (`csv_safe`), written atomically; no infinite number."""
    refuse_infinite(df, path)
    safe = csv_safe(df)
    with atomic_path(path) as tmp:
        safe.to_csv(tmp, index=False)


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Parquet with the index kept (it carries the input row numbers); same frame, same bytes;
    no infinite number."""
    refuse_infinite(df, path)
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


def iter_table(
    path: Path, batch_rows: int, columns: list[str] | None = None
) -> Iterator[pd.DataFrame]:
    """Read an artifact written by an earlier stage in frames of at most `batch_rows` rows,
    index (input row numbers) restored; memory is set by `batch_rows`, not by the table."""
    if not Path(path).exists():
        raise PipelineError(f"missing input {str(path)!r}: run `dvc repro` to build it first")
    try:
        # pre_buffer (pyarrow's default) keeps every column chunk read so far until the file is
        # closed: memory would grow with the table, not with the batch
        parquet = pq.ParquetFile(path, pre_buffer=False)
        for batch in parquet.iter_batches(
            batch_size=batch_rows, columns=columns, use_pandas_metadata=True
        ):
            yield batch.to_pandas()
            release_freed_memory()  # the previous batch's pages, before reading the next
    except (ValueError, OSError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise PipelineError(
            f"{str(path)!r} is not a readable Parquet table ({type(exc).__name__}); rebuild it "
            f"with `dvc repro --force <stage that writes it>`"
        ) from None


def table_rows(path: Path) -> int:
    """Row count of a Parquet artifact, from its footer (no data read)."""
    return pq.ParquetFile(path).metadata.num_rows


class TableWriter:
    """Write a table frame by frame into one Parquet file, atomically.

    Rows are re-cut into row groups of ROW_GROUP_ROWS whatever the frames' sizes, so the same
    rows give the same bytes for any batch size. The schema (and pandas metadata) is the first
    frame's; later frames are cast to it. Use as a context manager: the file appears at `path`
    only when the block ends without an error.

        with io.TableWriter(path) as out:
            for frame in frames:
                out.write(frame)
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema | None = None,
        dictionary: bool = True,
        finite: bool = True,
    ) -> None:
        self.path = Path(path)
        self.schema = schema
        self.dictionary = dictionary  # False: plain encoding, faster for dense numeric tables
        self.finite = finite  # True: an infinite number is an error (`refuse_infinite`)
        self.rows = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> TableWriter:
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        if self.finite:
            refuse_infinite(frame, self.path)
        table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=True)
        if self.schema is None:
            self.schema = table.schema
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        while self._pending_rows >= ROW_GROUP_ROWS:
            self._flush(ROW_GROUP_ROWS)

    def _flush(self, rows: int) -> None:
        whole = pa.concat_tables(self._pending)
        if self._writer is None:
            # Dictionary pages only where values repeat: for float columns they cost 3x the
            # write time and make the file bigger; none at all for dense tables (dictionary=False).
            dictionary = self.dictionary and [
                f.name for f in self.schema if not pa.types.is_floating(f.type)
            ]
            self._writer = pq.ParquetWriter(self._tmp, self.schema, use_dictionary=dictionary)
        self._writer.write_table(whole.slice(0, rows), row_group_size=ROW_GROUP_ROWS)
        rest = whole.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool | None:
        try:
            if kind is None:
                if self.schema is None:
                    raise PipelineError(
                        f"internal: nothing (not even an empty frame) written to {self.path}"
                    )
                if self._pending_rows or self._writer is None:
                    self._flush(self._pending_rows)
            if self._writer is not None:
                self._writer.close()
        except BaseException as error:
            return self._atomic.__exit__(type(error), error, error.__traceback__)
        return self._atomic.__exit__(kind, exc, tb)
