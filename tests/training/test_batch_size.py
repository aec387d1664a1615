"""data.batch_rows sets memory, never results: split, fit_scaler and encode write the same bytes
with tiny batches as with one batch holding the whole table (penguins through validate)."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.features import preprocessor as preprocess
from pipeline.stages import encode, split, validate
from pipeline.stages import fit_preprocessor as scale

from ..conftest import ROOT

WHOLE = 1_000_000  # more rows than penguins: one batch
OUTPUTS = (
    io.SPLIT_DIR,
    io.ENCODED_DIR,
    io.PREPROCESSOR,
    io.SPLIT_REPORT,
    io.ENCODE_REPORT,
    io.PREVIEW,
)


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """Penguins validated once per clean.missing setting (impute keeps the rows with nulls)."""
    roots = {}
    for missing in ("drop", "impute"):
        root = tmp_path_factory.mktemp(missing)
        (root / "data/raw").mkdir(parents=True)
        for name in ("penguins.csv", "penguins.schema.yaml"):
            (root / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(root)
            validate.run(parse_params({"clean": {"missing": missing}}))
        roots[missing] = root
    return roots


def outputs(root: Path, overrides: dict, batch_rows: int) -> dict[str, bytes]:
    """Run split, fit_scaler and encode in `root`; every file they write, as bytes."""
    params = parse_params({**overrides, "data": {"batch_rows": batch_rows}})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setattr(preprocess, "CHUNK_ROWS", 50)  # penguins' train rows in several chunks
        for stage in (split, scale, encode):
            stage.run(params)
    found = {}
    for path in OUTPUTS:
        files = sorted((root / path).rglob("*")) if (root / path).is_dir() else [root / path]
        found.update({str(f.relative_to(root)): f.read_bytes() for f in files if f.is_file()})
    return found


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(
    batch_rows=st.sampled_from([7, 1, 64]) | st.integers(2, 400),
    missing=st.sampled_from(["drop", "impute"]),
    scale_method=st.sampled_from(["standard", "minmax", "robust", "quantile"]),
    clip=st.sampled_from([None, 3.0]),
    scheme=st.sampled_from(["train_val_test", "kfold"]),
    oversample=st.sampled_from(["none", "random"]),
)
def test_outputs_are_byte_identical_whatever_the_batch_size(
    projects, batch_rows, missing, scale_method, clip, scheme, oversample
):
    overrides = {
        "clean": {"missing": missing},
        # quantile: a sample of 100 of penguins' ~270 train rows, so the sample is exercised
        "scale": {"method": scale_method, "clip": clip, "sample_rows": 100},
        "split": {"scheme": scheme, "oversample": oversample},
    }
    whole = outputs(projects[missing], overrides, WHOLE)
    batched = outputs(projects[missing], overrides, batch_rows)
    assert whole.keys() == batched.keys()
    assert "data/split/train.parquet" in whole and "data/encoded/test.parquet" in whole
    assert [name for name in whole if whole[name] != batched[name]] == []


def test_seven_row_batches_match_one_batch_with_default_params(projects):
    whole = outputs(projects["drop"], {}, WHOLE)
    assert outputs(projects["drop"], {}, 7) == whole
