"""encode: apply the fitted preprocessing (models/preprocess/preprocessor.json) to every split,
batch by batch (data.batch_rows), into data/encoded/{train,val,test}.parquet.

Categories and class labels come from train rows only (see `pipeline.features.preprocessor`).
`encode.method` (onehot | ordinal) is the default for every categorical column; the table's
schema file overrides it per column and may fix the order of ordinal codes:

    encode:
      size: {method: ordinal, order: [small, medium, large]}

Categories rare in train rows share one "other" code (encode.max_categories,
encode.min_frequency; `pipeline.features.categories`). A category unseen in train becomes an
all-zero one-hot row or ordinal code -1 (counted per column and split in reports/encode.json),
or stops the stage with `encode.unknown: error`. Under clean.missing: impute each column with
nulls in train rows also gives a 0/1 `<column>__missing` input.
Output tables hold float32 features plus the `_target` column: class index (classification) or
the value (regression). reports/preview.md shows the first 25 train rows raw beside encoded.
"""

from __future__ import annotations

import pandas as pd

from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.params import Params
from pipeline.features.preprocessor import Preprocessor, add_counts
from pipeline.features.preview import ROWS, preview_markdown


def run(params: Params) -> None:
    saved = io.read_json(io.PREPROCESSOR)
    pre = Preprocessor.from_json(saved)
    unseen: dict[str, dict[str, int]] = {}
    imputed: dict[str, dict[str, int]] = {}
    head: list[tuple[pd.DataFrame, pd.DataFrame]] = []  # first train rows, raw and encoded
    with io.atomic_dir(io.ENCODED_DIR) as out:
        for name in io.SPLITS:
            unseen[name], imputed[name] = {}, {}
            frames = io.iter_table(io.SPLIT_DIR / f"{name}.parquet", params.data.batch_rows)
            with io.TableWriter(out / f"{name}.parquet", dictionary=False) as writer:
                for frame in frames:
                    encoded = pre.transform(frame, name)
                    writer.write(encoded.table)
                    add_counts(unseen[name], encoded.unseen)
                    add_counts(imputed[name], encoded.imputed)
                    if name == "train" and sum(len(raw) for raw, _ in head) < ROWS:
                        head.append((frame.iloc[:ROWS], encoded.table.iloc[:ROWS]))
    io.write_json(
        {
            "features": len(pre.features_),
            "encoding": pre.encoding_,
            "unknown": pre.unknown,
            "unseen": unseen,
            "imputed": imputed,
        },
        io.ENCODE_REPORT,
    )
    raw, encoded = (pd.concat(part) for part in zip(*head, strict=True))
    io.write_text(preview_markdown(raw, encoded, saved), io.PREVIEW)
    for name, counts in unseen.items():
        for column, count in counts.items():
            coded = "code -1" if pre.encoding_[column] == "ordinal" else "all zeros"
            print(
                f"encode: {name}: {count} row(s) with a category of {column!r} unseen in "
                f"train, encoded as {coded}"
            )
    classes = f", {len(pre.classes_)} classes" if pre.classes_ else ""
    print(
        f"encode: {len(pre.features_)} features ({len(pre.numeric_)} numeric, "
        f"{len(pre.categories_)} categorical); task {pre.task}{classes}"
    )


if __name__ == "__main__":
    run(load_params())
