"""cv: k-fold cross-validation of the configured model on the non-test rows (opt-in).

With `cv.enabled: true`, each of `split.folds` folds is held out once: the imputer, scaler and
encoder are fitted on the other folds' rows only (with `split.oversample: random`, those rows
are oversampled first), the configured model is trained on them with early stopping on the
held-out fold, and the held-out fold is scored. reports/cv.json holds the mean and standard
deviation (ddof=1) of each validation metric over the folds, and the per-fold values.

Folds: under `split.scheme: kfold` they are split's own (data/split/folds.parquet). Under the
other schemes cv assigns them to the train + val rows with split's k-fold assignment (same
StratifiedKFold/KFold logic and seed). `split.group` needs `split.scheme: kfold` (the group
column is no longer in the split tables). The test rows are never read.

With `cv.enabled: false` the stage only writes `{"enabled": false}`, so DVC always finds its
declared output; it imports no torch and takes about a second.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.config import Params, load_params
from pipeline.errors import PipelineError


def fold_table(parts: dict[str, pd.DataFrame], params: Params, task: str) -> pd.DataFrame:
    """The non-test rows with their `_fold`: split's folds (kfold), or assigned here."""
    from pipeline.split import FOLD, _assign_folds

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
    return rest.assign(**{FOLD: _assign_folds(len(rest), y, None, split, params.seed)})


def fold_scores(
    table: pd.DataFrame, fold: int, params: Params, task: str, rules: dict[str, Any]
) -> dict[str, float | None]:
    """Fit preprocessing and the model on every fold but `fold`; score `fold`'s rows."""
    from pipeline.evaluate import actual, predict, score
    from pipeline.feature_layout import feature_layout
    from pipeline.model import MLP, output_size
    from pipeline.preprocess import Preprocessor, target_scale
    from pipeline.split import FOLD, oversample
    from pipeline.train import Tensors, resolve_device, train_model

    target = params.data.target
    held = table[FOLD].to_numpy() == fold
    train, val = table[~held].drop(columns=[FOLD]), table[held].drop(columns=[FOLD])
    if params.split.oversample == "random":
        train = oversample(train, target, params.seed)
    pre = Preprocessor.from_params(params, task, rules).fit_frame(train)
    encoder = pre.to_json()
    tables = {
        name: pre.transform(part, f"{name} (cv fold {fold})").table
        for name, part in (("train", train), ("val", val))
    }
    device = resolve_device(params.train.device)
    tensors = {name: Tensors.from_table(t, task, device) for name, t in tables.items()}
    n_classes = len(encoder["classes"]) if encoder["classes"] else None
    layout = feature_layout(encoder)

    def build() -> MLP:
        out = output_size(task, n_classes)
        return MLP.from_params(params.model, len(encoder["features"]), out, layout, task).to(device)

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
    table: pd.DataFrame, params: Params, task: str, rules: dict[str, Any]
) -> dict[str, Any]:
    """Scores of every fold and their mean ± std, as written to reports/cv.json."""
    from pipeline.split import FOLD

    folds = sorted(int(f) for f in np.unique(table[FOLD]))
    per_fold = [fold_scores(table, k, params, task, rules) for k in folds]
    return {
        "enabled": True,
        "k": len(folds),
        "folds_from": "split" if params.split.scheme == "kfold" else "cv",
        "rows": [int((table[FOLD] == k).sum()) for k in folds],
        "val": aggregate(per_fold),
        "per_fold": per_fold,
    }


def run(params: Params) -> None:
    if not params.cv.enabled:
        io.write_json({"enabled": False}, io.CV_REPORT)
        print("cv: disabled (cv.enabled: false)")
        return
    from pipeline import torch_setup
    from pipeline.schema import load_schema
    from pipeline.task import read_task
    from pipeline.train import check_options

    torch_setup.configure(params.train.threads, params.train.precision)
    task = read_task(params.data.target)
    check_options(params, task)
    if params.split.scheme == "kfold":
        parts = {"folds": io.read_table(io.FOLDS)}
    else:
        parts = {name: io.read_table(io.SPLIT_DIR / f"{name}.parquet") for name in ("train", "val")}
    table = fold_table(parts, params, task)
    schema, _ = load_schema(params.data.path)
    report = cross_validate(table, params, task, schema.encode)
    io.write_json(report, io.CV_REPORT)
    shown = ", ".join(
        f"{name} {s['mean']:.4f} ± {s['std']:.4f}"
        for name, s in report["val"].items()
        if s["mean"] is not None and s["std"] is not None
    )
    print(f"cv: {report['k']} folds of {sum(report['rows'])} non-test rows: {shown}")


if __name__ == "__main__":
    run(load_params())
