"""split: cut the validated table into train/val/test, seeded, stratified by class by default.

`split.scheme` picks how:
- train_val_test: three shares of the rows;
- train_test: train and test shares; val (for early stopping) is carved from the train share;
- kfold: a test share is held out and every other row gets one of k folds (StratifiedKFold for
  classification); fold `split.fold` is val for the rest of the pipeline, and
  data/split/folds.parquet keeps the non-test rows with their `_fold` for cross-validation.

With `split.group`, rows of one group never straddle splits or folds; the group column is an
identifier, so it is removed from the split tables. After splitting: identical feature rows in
more than one split are counted (`split.duplicates: warn|fail`), each feature's train-vs-test
shift is tested, and with `split.oversample: random` minority classes of the train split (only)
are topped up with copies of random rows, appended after the original rows in file order (a copy
keeps its row number). Writes data/split/{train,val,test}.parquet, data/split/split.json (task
and sizes) and reports/split.{json,md}; the task is validate's (models/preprocess/task.json).

Streaming, in bounded memory: the assignment is decided from the target (and group) column only,
read whole as small integer codes; the rows are then streamed once (batches of data.batch_rows)
to the split files. Per row only the target's code and the split's are held (a byte each; while
assigning, one class's row positions as int32 too); 64-bit hashes of the feature values (for
the duplicate check) go to temporary files, and the shift tests use a seeded sample of
SHIFT_SAMPLE_ROWS rows of train and of test. The assignment does not depend on the batch size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pandas as pd

from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
from pipeline.core.task import read_task
from pipeline.splitting.report import split_markdown
from pipeline.splitting.rows import split_rows


def run(params: Params) -> None:
    first = next(iter(io.iter_table(io.VALIDATED, 1)), None)  # the columns (and a check)
    if first is None:
        raise PipelineError(f"split: {io.VALIDATED} has no rows; run `dvc repro validate`")
    target = params.data.target
    task = read_task(target)
    reason = io.read_json(io.TASK).get("reason")
    batch_rows = params.data.batch_rows

    def batches(columns: list[str] | None) -> Iterator[pd.DataFrame]:
        return io.iter_table(io.VALIDATED, batch_rows, columns)

    with io.atomic_dir(io.SPLIT_DIR) as out, contextlib.ExitStack() as stack:
        writers: dict[str, io.TableWriter] = {}

        def write(name: str, frame: pd.DataFrame) -> None:
            if name not in writers:
                path = out / (io.FOLDS.name if name == "folds" else f"{name}.parquet")
                writers[name] = stack.enter_context(io.TableWriter(path))
            writers[name].write(frame)

        report = split_rows(
            batches,
            io.table_rows(io.VALIDATED),
            list(first.columns),
            target,
            task,
            params.split,
            params.seed,
            write,
        )
        io.write_json(report, io.SPLIT_REPORT)
        io.write_text(split_markdown(report), io.SPLIT_REPORT.with_suffix(".md"))
        duplicates = report["duplicates"]["rows"]
        if duplicates and params.split.duplicates == "fail":
            pairs = ", ".join(
                f"{pair}: {found['rows']} (e.g. rows {found['examples']})"
                for pair, found in report["duplicates"]["pairs"].items()
                if found["rows"]
            )
            raise PipelineError(
                f"split: {duplicates} row(s) have feature values identical to a row of another "
                f"split ({pairs}); drop duplicates in validate, or set split.duplicates: warn "
                f"(details in {io.SPLIT_REPORT})"
            )
        io.write_json(
            {
                "task": task,
                "task_reason": reason,
                "scheme": params.split.scheme,
                "stratified": report["stratified"],
                "rows": report["rows"],
            },
            out / "split.json",
        )
    sizes = ", ".join(f"{name} {n}" for name, n in report["rows"].items())
    print(
        f"split: {sizes} rows ({params.split.scheme}, "
        f"{'stratified' if report['stratified'] else 'random'}, task {task})"
    )
    if duplicates:
        print(f"split: warning: {duplicates} row(s) repeat a row of another split's features")
    flagged = [r["column"] for r in report["shift"]["columns"] if r["shifted"]]
    if flagged:
        print(f"split: warning: train vs test shift in {flagged} (see {io.SPLIT_REPORT})")


if __name__ == "__main__":
    run(load_params())
