"""cv: k-fold cross-validation of the configured model on the non-test rows (opt-in).

With `cv.enabled: true`, each of `split.folds` folds is held out once
(`pipeline.evaluation.cross_validation`); reports/cv.json holds the mean and standard deviation
(ddof=1) of each validation metric over the folds, and the per-fold values. `split.group` needs
`split.scheme: kfold` (the group column is no longer in the split tables).

With `cv.enabled: false` the stage only writes `{"enabled": false}`, so DVC always finds its
declared output; it imports no torch and takes about a second.
"""

from __future__ import annotations

from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.params import Params


def run(params: Params) -> None:
    if not params.cv.enabled:
        io.write_json({"enabled": False}, io.CV_REPORT)
        print("cv: disabled (cv.enabled: false)")
        return
    from pipeline.core.schema import load_schema
    from pipeline.core.task import read_task
    from pipeline.evaluation.cross_validation import cross_validate, fold_table
    from pipeline.training import torch_setup
    from pipeline.training.options import check_options

    torch_setup.configure(params.train.threads, params.train.precision)
    task = read_task(params.data.target)
    check_options(params, task)
    if params.split.scheme == "kfold":
        parts = {"folds": io.read_table(io.FOLDS)}
    else:
        parts = {name: io.read_table(io.SPLIT_DIR / f"{name}.parquet") for name in ("train", "val")}
    table = fold_table(parts, params, task)
    schema, _ = load_schema(params.data.path)
    missing, dates = io.fit_inputs("cv")  # as validate resolved them
    report = cross_validate(table, params, task, schema.encode, missing, dates)
    io.write_json(report, io.CV_REPORT)
    shown = ", ".join(
        f"{name} {s['mean']:.4f} ± {s['std']:.4f}"
        for name, s in report["val"].items()
        if s["mean"] is not None and s["std"] is not None
    )
    print(f"cv: {report['k']} folds of {sum(report['rows'])} non-test rows: {shown}")


if __name__ == "__main__":
    run(load_params())
