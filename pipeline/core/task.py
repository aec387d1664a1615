"""Which task a target column asks for: binary, multiclass or regression."""

from __future__ import annotations

import pandas as pd

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.tables import is_numeric

# Metrics where lower is better; every other metric we report is better higher.
LOWER_IS_BETTER = frozenset({"loss", "log_loss", "rmse", "mae", "std"})


def lower_is_better(metric: str) -> bool:
    """Direction of a metric by any of its names: 'rmse', 'val_rmse' (a train monitor),
    'val.rmse' (metrics.json) or 'cv.val.rmse.mean' (cv.json; '.std' is lower-better)."""
    parts = metric.split(".")
    if parts[-1] == "mean":
        parts.pop()
    return parts[-1].removeprefix("val_") in LOWER_IS_BETTER


# The metric a run is summarised by, per task (report, verdict, `make run`'s summary).
HEADLINE = {"binary": "accuracy", "multiclass": "accuracy", "regression": "rmse"}

# A numeric target with at most this many distinct whole-number values is read as class labels.
MAX_INTEGER_CLASSES = 10


def resolve_task(requested: str, y: pd.Series) -> tuple[str, str]:
    """Return (task, reason). `requested` is data.task; 'auto' infers it from the values of y."""
    n_classes = int(y.nunique(dropna=True))
    numeric = is_numeric(y)
    if requested == "regression":
        if not numeric:
            example = f" (e.g. {y.dropna().iloc[0]!r})" if y.notna().any() else ""
            raise PipelineError(
                f"data.task: 'regression' needs a numeric target, but column {y.name!r} "
                f"holds {y.dtype} values{example}"
            )
        return "regression", "set by data.task"
    if requested in ("binary", "multiclass"):
        if n_classes < 2:
            raise PipelineError(
                f"data.task: {requested!r} needs at least 2 classes in target {y.name!r}, "
                f"found {n_classes}"
            )
        if requested == "binary" and n_classes != 2:
            raise PipelineError(
                f"data.task: 'binary' needs exactly 2 classes in target {y.name!r}, "
                f"found {n_classes}; use data.task: multiclass"
            )
        return requested, "set by data.task"

    classification, reason = infer_classification(y)
    if not classification:
        return "regression", reason
    if n_classes < 2:
        raise PipelineError(
            f"data.target: column {y.name!r} has {n_classes} class; need at least 2"
        )
    return ("binary" if n_classes == 2 else "multiclass"), reason


def infer_classification(y: pd.Series) -> tuple[bool, str]:
    """data.task: auto — (whether y holds class labels, why): text, or a few whole numbers."""
    n_classes = int(y.nunique(dropna=True))
    if is_numeric(y):
        values = y.dropna()
        whole = bool((values == values.round()).all())
        if not whole or n_classes > MAX_INTEGER_CLASSES:
            return False, f"numeric target with {n_classes} distinct values"
        return True, f"numeric target with only {n_classes} distinct whole values"
    return True, f"non-numeric target with {n_classes} classes"


def read_task(target: str) -> str:
    """The task validate decided (models/preprocess/task.json) for data.target `target`."""
    if not io.TASK.exists():
        raise PipelineError(f"missing input {str(io.TASK)!r}: run `dvc repro` to build it first")
    saved = io.read_json(io.TASK)
    if saved.get("target") != target:
        raise PipelineError(
            f"data.target is {target!r} but {io.TASK} was decided for {saved.get('target')!r}; "
            f"run `dvc repro` (validate decides the task again)"
        )
    return saved["task"]
