"""Option combinations that cannot work for a task, model or process count: refused before
training starts, with the params key to change."""

from __future__ import annotations

from pipeline.core.errors import PipelineError
from pipeline.core.params import Params

# Which tasks report each monitor (its direction: pipeline.core.task.lower_is_better).
TASK_MONITORS = {
    "binary": ("val_loss", "val_accuracy"),
    "multiclass": ("val_loss", "val_accuracy"),
    "regression": ("val_loss", "val_rmse", "val_mae"),
}


def check_options(params: Params, task: str) -> None:
    """Reject option combinations that cannot work for this task and model."""
    train = params.train
    if train.monitor not in TASK_MONITORS[task]:
        raise PipelineError(
            f"train.monitor: {train.monitor!r} does not apply to a {task} task; "
            f"allowed: {', '.join(TASK_MONITORS[task])}"
        )
    if train.class_weights != "none" and task == "regression":
        raise PipelineError(
            "train.class_weights: 'balanced' applies to classification, the task is regression"
        )
    if params.model.normalization == "batch" and train.batch_size == 1:
        raise PipelineError(
            "train.batch_size: 1 cannot be used with model.normalization: batch "
            "(batch statistics need at least 2 rows); use layer normalization or larger batches"
        )


def check_processes(params: Params, rows: int, processes: int) -> None:
    """Each process takes an equal share of every batch, so a batch needs a row per process
    (two with batch normalization, whose statistics each process computes on its share)."""
    if processes == 1:
        return
    per = 2 if params.model.normalization == "batch" else 1
    batch = params.train.rows_per_batch(rows)
    if batch < processes * per:
        source = f"all {rows} train rows" if batch == rows else "train.batch_size"
        norm = ", as batch normalization needs 2" if per == 2 else ""
        raise PipelineError(
            f"train.processes: {processes} processes split every batch, so a batch needs at "
            f"least {processes * per} rows ({per} per process{norm}), but a batch holds "
            f"{batch} ({source}); lower train.processes or raise train.batch_size"
        )
