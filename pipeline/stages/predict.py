"""predict: the trained pipeline applied to new rows of the same kind of table.

`python -m pipeline predict --input new.csv --output predictions.csv [--id-column id]`

Everything comes from saved JSON and safetensors (no pickle): the cleaning rules validate
applied (models/preprocess/cleaning.json), the preprocessing fitted on train rows
(models/preprocess/preprocessor.json: imputer, scaler, encoder), and the model. The input is
checked against what the model was trained on first; rows that cleaning would have dropped are
listed in the output with the reason instead of a prediction.

The input is read and checked batch by batch (`pipeline.checks.new_rows`) and the predictions
appended to a temporary CSV renamed onto `--output` at the end: memory is set by the batch
size, not by the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.checks.dialect import differs
from pipeline.checks.new_rows import learned_dates, open_input, prepare, raw_names, typed_batches
from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.params import CsvParams
from pipeline.core.schema import TableSchema
from pipeline.features.preprocessor import Preprocessor
from pipeline.model.inference import load_model, predictions_frame


def run_predict(
    input_path: str,
    output_path: str,
    id_column: str | None = None,
    batch_rows: int = 262_144,
    dialect: CsvParams | None = None,
) -> None:
    """Read, check, prepare and predict `input_path` (a CSV split as `dialect`, data.csv, says:
    auto detects it, training's where the head cannot tell, and warns when it differs from
    training's) batch by batch; write the CSV atomically."""
    needed = [io.CLEANING, io.PREPROCESSOR, io.MODEL_CARD, io.MODEL_WEIGHTS]
    absent = [str(p) for p in needed if not p.exists()]
    if absent:
        raise PipelineError(f"predict: missing {absent}; run `dvc repro` to train first")
    card = io.read_json(io.MODEL_CARD)
    cleaning = io.read_json(io.CLEANING)
    pre = Preprocessor.from_json(io.read_json(io.PREPROCESSOR))
    schema = TableSchema.model_validate(cleaning["schema"])
    names = list(dict.fromkeys(raw_names(pre, schema, learned_dates(cleaning)).values()))
    trained = cleaning.get("dialect")  # None: a Parquet table, or a model saved before it
    raw = open_input(input_path, batch_rows, names, dialect, trained)
    warning = raw.dialect and differs(raw.dialect, trained)
    if warning:
        print(f"predict: warning: --input {input_path}: {warning}", file=sys.stderr)
    elif raw.dialect and raw.dialect.detected:
        print(f"predict: --input {input_path}: {raw.dialect.said}", file=sys.stderr)
    if id_column is not None and id_column not in raw.columns:
        raise PipelineError(f"predict: --id-column {id_column!r} is not a column of the input")
    columns = list(dict.fromkeys([*names, *([id_column] if id_column else [])]))
    model = load_model(card)
    rows = predicted = skipped = 0
    skipped_rows: list[int] = []  # the first few, for the message
    unseen: dict[str, int] = {}
    with io.atomic_path(Path(output_path)) as tmp, open(tmp, "w", newline="") as handle:
        for batch in typed_batches(raw, columns, schema, input_path):
            features, batch_skipped, batch_unseen = prepare(batch, cleaning, pre)
            out = predictions_frame(batch, features, batch_skipped, card, id_column, model)
            # text cells escaped: no formulas in a spreadsheet
            io.csv_safe(out).to_csv(handle, index=False, header=rows == 0)
            rows += len(batch)
            predicted += len(features)
            skipped += len(batch_skipped)
            skipped_rows += list(batch_skipped)[: 10 - len(skipped_rows)]
            for column, count in batch_unseen.items():
                unseen[column] = unseen.get(column, 0) + count
    for column, count in unseen.items():
        print(
            f"predict: {count} row(s) with a category of {column!r} unseen in training "
            f"(encoded as unseen: all-zero one-hot or the reserved ordinal code)",
            file=sys.stderr,
        )
    if skipped:
        shown = ", ".join(str(r) for r in skipped_rows)
        print(
            f"predict: {skipped} row(s) not predicted, as cleaning would drop them "
            f"(rows {shown}{', ...' if skipped > 10 else ''}); see the 'skipped' column",
            file=sys.stderr,
        )
    print(f"predict: {predicted} of {rows} rows predicted -> {output_path}")
