"""Every stage in order, in this process, on tables of each task: the three data keys are all
it takes to point the pipeline at another table (DVC's part, what reruns, is tests/e2e/)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.stages import encode, evaluate, split, train, validate
from pipeline.stages import fit_preprocessor as scale

from ..conftest import ROOT, binary_table, regression_table, small

STAGES = (validate, split, scale, encode, train, evaluate)
EPOCHS = {"train": {"epochs": 60, "patience": 10, "progress": False}, "evaluate": {"dpi": 50}}


def run_all(root: Path, table: pd.DataFrame | None, params: dict) -> dict:
    """Write `table` as data/raw/table.csv (None: penguins and its schema), run every stage in
    `root`; return reports/metrics.json."""
    (root / "data/raw").mkdir(parents=True)
    if table is None:
        for name in ("penguins.csv", "penguins.schema.yaml"):
            (root / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    else:
        table.to_csv(root / "data/raw/table.csv", index=False)
    parsed = parse_params(small({**EPOCHS, **params}))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for stage in STAGES:
            stage.run(parsed)
        return io.read_json(io.METRICS)


def is_png(path: Path) -> bool:
    return path.read_bytes()[:4] == b"\x89PNG"


def test_binary_table(tmp_path):
    data = {"path": "data/raw/table.csv", "target": "label", "task": "auto"}
    metrics = run_all(tmp_path, binary_table(), {"data": data})
    card = json.loads((tmp_path / io.MODEL_CARD).read_text())
    assert card["task"] == "binary" and card["classes"] == ["no", "yes"]
    assert card["architecture"]["out_features"] == 1
    assert metrics["test"]["accuracy"] >= 0.8
    assert metrics["test"]["roc_auc"] >= 0.85
    assert set(metrics["baselines"]) == {"majority", "logistic", "hist_gradient_boosting"}
    for png in ("confusion_matrix", "roc", "precision_recall", "learning_curve"):
        assert is_png(tmp_path / io.PLOTS_DIR / f"{png}.png")


def test_regression_table(tmp_path):
    data = {"path": "data/raw/table.csv", "target": "y", "task": "auto"}
    metrics = run_all(tmp_path, regression_table(), {"data": data})
    validation = json.loads((tmp_path / io.VALIDATION_REPORT).read_text())
    assert validation["task"] == "regression" and validation["schema_file"] is None
    assert set(metrics["test"]) == {"rmse", "mae", "r2"}
    assert metrics["test"]["r2"] >= 0.8
    assert set(metrics["baselines"]) == {"mean", "ridge", "hist_gradient_boosting"}
    assert metrics["test"]["rmse"] < metrics["baselines"]["mean"]["test"]["rmse"]
    assert set(metrics["standard_error"]["test"]) == {"rmse", "mae", "r2"}
    # the MLP against always predicting the mean: clearly better, beyond its paired s.e.
    diagnosis = json.loads((tmp_path / io.DIAGNOSIS).read_text())
    against_mean = diagnosis["versus_baselines"]["mean"]["r2"]
    assert against_mean["difference"] > 2 * against_mean["standard_error"] > 0
    for png in ("predicted_vs_actual", "residuals", "learning_curve"):
        assert is_png(tmp_path / io.PLOTS_DIR / f"{png}.png")


def test_kfold_with_oversampling_writes_the_folds_and_trains(tmp_path):
    split_params = {"scheme": "kfold", "oversample": "random"}
    metrics = run_all(tmp_path, None, {"split": split_params})
    preview = (tmp_path / io.PREVIEW).read_text()
    assert preview.count("→ |") == 26  # header + 25 rows
    report = json.loads((tmp_path / io.SPLIT_REPORT).read_text())
    assert report["scheme"] == "kfold" and len(report["folds"]["rows"]) == 5
    after = report["oversampling"]["after"]
    assert len(set(after.values())) == 1 and report["rows"]["train"] == sum(after.values())
    assert (tmp_path / io.FOLDS).exists()
    assert metrics["test"]["accuracy"] >= 0.9
