"""fit_scaler: fit the whole preprocessing (imputer, scaler, categories, classes, target scaling)
on the train rows only, streamed in batches of data.batch_rows; save it as JSON.

clean.missing comes as validate resolved it (models/preprocess/cleaning.json: auto is drop or
impute there), with the features validate made of each date column (they share one
missing-value indicator). Columns whose categories were capped (encode.max_categories,
encode.min_frequency) and the missing-value indicators are said on stderr and kept in the JSON
(`other`, `indicators`), which encode, cv and predict apply.

The stage keeps its historical name; what it fits is `pipeline.features.preprocessor.Preprocessor`
(models/preprocess/preprocessor.json), which `encode`, `cv` and `predict` apply.
"""

from __future__ import annotations

import sys

from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.params import Params
from pipeline.core.schema import load_schema
from pipeline.core.task import read_task
from pipeline.features.preprocessor import Preprocessor

TRAIN = io.SPLIT_DIR / "train.parquet"


def run(params: Params) -> None:
    task = read_task(params.data.target)
    schema, _ = load_schema(params.data.path)
    batch = params.data.batch_rows
    missing, dates = io.fit_inputs("fit_scaler")
    pre = Preprocessor.from_params(params, task, schema.encode, missing, dates)
    pre.fit(lambda columns: io.iter_table(TRAIN, batch, columns))
    io.write_json(pre.to_json(), io.PREPROCESSOR)
    for line in fit_notes(pre, params):
        print(f"fit_scaler: {line}", file=sys.stderr)
    imputed = f"; nulls filled from {len(pre.fill_)} column(s)" if pre.fill_ else ""
    scaling = params.scale.method
    if params.scale.method == "quantile" and pre.n_rows_ > params.scale.sample_rows:
        scaling += f" (quantiles of a seeded sample of {params.scale.sample_rows} rows)"
    if params.scale.clip is not None:
        scaling += f" + {params.scale.clip_mode} clip at {params.scale.clip:g}"
    print(
        f"fit_scaler: {scaling} scaling of {len(pre.numeric_)} numeric columns, "
        f"{len(pre.categories_)} categorical, {len(pre.features_)} features, fitted on "
        f"{pre.n_rows_} train rows{imputed}"
    )


def fit_notes(pre: Preprocessor, params: Params) -> list[str]:
    """What the fit decided beyond the params' letter: categories capped, indicators added."""
    e = params.encode
    notes = [
        f"column {column!r}: {len(pre.categories_[column]) - 1} of "
        f"{len(pre.categories_[column]) - 1 + len(other['members'])} train categories keep "
        f"their own code, {len(other['members'])} share {other['label']!r} (encode.max_categories "
        f"{e.max_categories}, encode.min_frequency {e.min_frequency})"
        for column, other in pre.other_.items()
    ]
    if pre.indicators_:
        notes.append(
            f"clean.missing: impute: {len(pre.indicators_)} missing-value indicator input(s) "
            f"for the columns with nulls in train rows: {list(pre.indicators_.values())}"
        )
    return notes


if __name__ == "__main__":
    run(load_params())
