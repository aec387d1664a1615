"""evaluate and predict stream: batch size changes nothing; the baselines' sample is reported."""

from pathlib import Path

import pytest

from pipeline import evaluate, io
from pipeline.config import parse_params

from .conftest import ROOT
from .test_predict import FAST, build


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stream")
    raw = {
        n: (ROOT / "data/raw" / n).read_bytes() for n in ("penguins.csv", "penguins.schema.yaml")
    }
    build(root, raw, {})
    return root


def run_evaluate(**evaluate_params) -> tuple[dict, str]:
    batch_rows = evaluate_params.pop("batch_rows", 262_144)
    params = parse_params({**FAST, "data": {"batch_rows": batch_rows}, "evaluate": evaluate_params})
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
