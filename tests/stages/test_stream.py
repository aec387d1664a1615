"""evaluate and predict stream: batch size changes nothing; the baselines' sample is reported."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.checks import new_rows
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.stages import evaluate
from pipeline.stages.predict import run_predict

from ..helpers import FAST_TRAIN, build_penguins


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    return build_penguins(tmp_path_factory.mktemp("stream"))


def run_evaluate(**evaluate_params) -> tuple[dict, str]:
    batch_rows = evaluate_params.pop("batch_rows", 262_144)
    params = parse_params(
        {"train": FAST_TRAIN, "data": {"batch_rows": batch_rows}, "evaluate": evaluate_params}
    )
    evaluate.run(params)
    return io.read_json(io.METRICS), io.REPORT.read_text()


def test_evaluate_in_small_batches_with_capped_baselines(trained, monkeypatch):
    monkeypatch.chdir(trained)
    whole, report = run_evaluate()
    assert "seeded sample" not in report  # penguins' train rows are under the default cap
    train_rows = io.table_rows(io.ENCODED_DIR / "train.parquet")
    capped, capped_report = run_evaluate(batch_rows=7, baseline_rows=50)
    for split in ("val", "test"):
        assert capped[split] == pytest.approx(whole[split], rel=1e-6)
    assert f"seeded sample of 50 of the {train_rows} train rows" in capped_report
    assert set(capped["baselines"]) == set(whole["baselines"])
    assert run_evaluate(batch_rows=7, baseline_rows=50)[0] == capped  # the sample is seeded


def test_sample_positions_are_sorted_seeded_and_capped():
    all_rows = evaluate.sample_positions(10, 20, seed=0)
    assert list(all_rows) == list(range(10))
    some = evaluate.sample_positions(1000, 30, seed=3)
    assert len(set(some)) == 30 and list(some) == sorted(some)
    assert list(some) == list(evaluate.sample_positions(1000, 30, seed=3))


@pytest.mark.parametrize(("batch_rows", "block"), [(1, 65_536), (7, 65_536), (7, 50), (100, 50)])
def test_predict_output_is_the_same_for_any_batch_size(
    trained, monkeypatch, tmp_path, batch_rows, block
):
    """Any read batch size gives the bytes of the whole-table result (one forward block);
    several blocks give the bytes of the same blocks read whole."""
    monkeypatch.chdir(trained)
    monkeypatch.setattr(new_rows, "PREDICT_ROWS", block)
    run_predict("data/raw/penguins.csv", str(tmp_path / "whole.csv"), batch_rows=1_000_000)
    run_predict("data/raw/penguins.csv", str(tmp_path / "batched.csv"), batch_rows=batch_rows)
    whole = (tmp_path / "whole.csv").read_bytes()
    assert (tmp_path / "batched.csv").read_bytes() == whole
    assert len(pd.read_csv(tmp_path / "whole.csv")) == 344


def test_predict_types_a_column_for_the_whole_file_not_per_batch(trained, monkeypatch, tmp_path):
    """An id column of whole numbers with one null reads as floats in every batch (as
    pandas reads the whole file), not as integers in the batches without the null."""
    monkeypatch.chdir(trained)
    raw = pd.read_csv("data/raw/penguins.csv").head(6)
    raw.insert(0, "tag", [1, 2, 3, 4, None, 6])
    raw.to_csv(tmp_path / "in.csv", index=False)
    monkeypatch.setattr(new_rows, "PREDICT_ROWS", 2)  # and a forward pass per two rows
    for batch_rows in (2, 100):
        run_predict(
            str(tmp_path / "in.csv"), str(tmp_path / f"{batch_rows}.csv"), "tag", batch_rows
        )
    text = (tmp_path / "2.csv").read_text()
    assert text == (tmp_path / "100.csv").read_text()
    assert [line.split(",")[1] for line in text.splitlines()[1:3]] == ["1.0", "2.0"]


def test_predict_of_a_header_only_file_writes_the_header(trained, monkeypatch, tmp_path):
    monkeypatch.chdir(trained)
    header = Path("data/raw/penguins.csv").read_text().splitlines()[0]
    (tmp_path / "in.csv").write_text(header + "\n")
    run_predict(str(tmp_path / "in.csv"), str(tmp_path / "out.csv"))
    out = pd.read_csv(tmp_path / "out.csv")
    assert len(out) == 0 and list(out.columns[:2]) == ["row", "prediction"]
