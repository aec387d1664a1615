"""fit_scaler: fit the whole preprocessing (imputer, scaler, categories, classes, target scaling)
on the train rows only, streamed in batches of data.batch_rows; save it as JSON.

The stage keeps its historical name; what it fits is `pipeline.features.preprocessor.Preprocessor`
(models/preprocess/preprocessor.json), which `encode`, `cv` and `predict` apply.
"""

from __future__ import annotations

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
    pre = Preprocessor.from_params(params, task, schema.encode)
    pre.fit(lambda columns: io.iter_table(TRAIN, batch, columns))
    io.write_json(pre.to_json(), io.PREPROCESSOR)
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


if __name__ == "__main__":
    run(load_params())
