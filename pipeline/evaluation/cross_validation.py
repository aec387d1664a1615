"""k-fold cross-validation of the configured model on the non-test rows: per fold, the
preprocessing is fitted on the other folds' rows, the model trained on them with early stopping
on the held-out fold, and the held-out fold scored; then the mean and std over folds.

Folds: under `split.scheme: kfold` they are split's own (data/split/folds.parquet). Under the
other schemes they are assigned to the train + val rows with split's k-fold assignment (same
StratifiedKFold/KFold logic and seed). The test rows are never read."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
from pipeline.evaluation.metrics import score
from pipeline.features.preprocessor import Preprocessor, target_scale
from pipeline.model.inference import actual, predict
from pipeline.model.mlp import MLP
from pipeline.splitting.assign import FOLD, assign_folds, oversample
from pipeline.training.data import Tensors
from pipeline.training.loop import train_model
from pipeline.training.torch_setup import resolve_device


def fold_table(parts: dict[str, pd.DataFrame], params: Params, task: str) -> pd.DataFrame:
    """The non-test rows with their `_fold`: split's folds (kfold), or assigned here."""

    split = params.split
    if split.scheme == "kfold":
        return parts["folds"]
    if split.group is not None:
        raise PipelineError(
            "cv: split.group needs split.scheme: kfold for cross-validation (the group column "
            "is removed from the split tables, so cv cannot keep groups within one fold)"
        )
    rest = pd.concat([parts["train"], parts["val"]])
    rest = rest[~rest.index.duplicated()].sort_index()  # oversampled copies out, file order
    target = params.data.target
    y = rest[target] if split.stratify and task != "regression" else None
    if len(rest) < split.folds:
        raise PipelineError(
            f"cv: split.folds is {split.folds} but only {len(rest)} non-test rows exist"
        )
    return rest.assign(**{FOLD: assign_folds(len(rest), y, None, split, params.seed)})


def fold_scores(
    table: pd.DataFrame,
    fold: int,
    params: Params,
    task: str,
    rules: dict[str, Any],
    missing: str,
    dates: dict[str, list[str]] | None = None,
) -> dict[str, float | None]:
    """Fit preprocessing and the model on every fold but `fold`; score `fold`'s rows
    (`missing`: clean.missing as validate resolved it, drop or impute; `dates`: each date
    column's features)."""

    target = params.data.target
    held = table[FOLD].to_numpy() == fold
    train, val = table[~held].drop(columns=[FOLD]), table[held].drop(columns=[FOLD])
    if params.split.oversample == "random":
        train = oversample(train, target, params.seed)
    pre = Preprocessor.from_params(params, task, rules, missing, dates).fit_frame(train)
    encoder = pre.to_json()
    tables = {
        name: pre.transform(part, f"{name} (cv fold {fold})").table
        for name, part in (("train", train), ("val", val))
    }
    device = resolve_device(params.train.device)
    tensors = {name: Tensors.from_table(t, task, device) for name, t in tables.items()}

    def build() -> MLP:
        return MLP.for_features(params.model, encoder).to(device)

    result = train_model(
        build,
        tensors["train"],
        tensors["val"],
        task,
        params.train,
        params.seed,
        target_scale=target_scale(encoder),
    )
    model = build()
    model.load_state_dict(result.chosen.state)
    model = model.to("cpu").eval()
    return score(actual(tables["val"], encoder), predict(model, tables["val"], encoder), task)


def aggregate(per_fold: list[dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """Mean and sample standard deviation (ddof=1) of each metric over the folds; folds where
    a metric is undefined (None, e.g. roc_auc with one class) are left out of its statistics."""
    summary: dict[str, dict[str, float | None]] = {}
    for name in per_fold[0]:
        values = np.array([f[name] for f in per_fold if f[name] is not None], dtype=np.float64)
        mean = float(values.mean()) if len(values) else None
        std = float(values.std(ddof=1)) if len(values) > 1 else None
        summary[name] = {"mean": mean, "std": std}
    return summary


def cross_validate(
    table: pd.DataFrame,
    params: Params,
    task: str,
    rules: dict[str, Any],
    missing: str,
    dates: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Scores of every fold and their mean ± std, as written to reports/cv.json."""

    folds = sorted(int(f) for f in np.unique(table[FOLD]))
    per_fold = [fold_scores(table, k, params, task, rules, missing, dates) for k in folds]
    return {
        "enabled": True,
        "k": len(folds),
        "folds_from": "split" if params.split.scheme == "kfold" else "cv",
        "rows": [int((table[FOLD] == k).sum()) for k in folds],
        "val": aggregate(per_fold),
        "per_fold": per_fold,
    }
