"""End to end: dvc repro / dvc exp run on a copy of the project in its own git repository."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Project, _copy_project, binary_table, regression_table

pytestmark = pytest.mark.e2e

# cv is opt-in (cv.enabled); disabled, it still runs (~1 s) and writes {"enabled": false}
ALL_STAGES = ["validate", "split", "fit_scaler", "encode", "train", "evaluate", "cv"]


CACHED = [
    "data/validated.parquet",
    "data/split",
    "data/encoded",
    "reports/split.json",
    "reports/encode.json",
    "reports/preview.md",
    "models",
    "reports/train",
    "reports/plots",
    "reports/metrics.json",
]


def fingerprint(root: Path) -> dict[str, str]:
    """Hash of every file the pipeline writes."""
    files = [f for out in CACHED for f in sorted([root / out, *(root / out).rglob("*")])]
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, list[str]]:
    """The default project built from scratch by one `dvc repro`, committed; and the stages that
    run ran. The committed dvc.lock goes first: with it, a stage whose outputs are all committed
    and still current (cv's stub metrics) is rightly skipped, which depends on the checkout."""
    project = _copy_project(tmp_path_factory.mktemp("built"))
    (project.path / "dvc.lock").unlink()
    first = project.dvc("repro")
    project.commit("built")
    return project, first.ran


def test_repro_builds_penguins_and_a_second_repro_runs_nothing(built):
    project, first_run = built
    assert first_run == ALL_STAGES
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.95
    assert {"accuracy", "f1_macro", "log_loss", "roc_auc"} <= set(metrics["test"])
    assert set(metrics) == {"val", "test", "baselines", "standard_error"}
    assert set(metrics["standard_error"]["val"]) == {"accuracy", "log_loss"}
    report = (project.path / "reports/report.md").read_text()
    assert "Test metrics beside the baselines" in report
    assert "## The MLP against each baseline, on the same test rows" in report
    diagnosis = json.loads((project.path / "reports/diagnosis.json").read_text())
    versus = diagnosis["versus_baselines"]["hist_gradient_boosting"]["accuracy"]
    assert {"difference", "standard_error", "rows_only_a_right", "rows_only_b_right"} <= set(versus)
    summary = subprocess.run(
        [sys.executable, "-m", "pipeline", "summary"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Baselines, test accuracy: hist_gradient_boosting" in summary
    assert "MLP minus hist_gradient_boosting on the same test rows, accuracy: " in summary

    again = project.dvc("repro")
    assert again.ran == []
    assert "Data and pipelines are up to date" in project.dvc("status").output


def test_forced_repro_is_byte_identical(built):
    project, _ = built
    before = fingerprint(project.path)
    assert {"models/model.safetensors", "data/encoded/train.parquet"} <= set(before)
    assert "reports/plots/confusion_matrix.png" in before
    assert project.dvc("repro", "-f").ran == ALL_STAGES
    assert fingerprint(project.path) == before


def test_training_param_reruns_only_train_and_evaluate(built):
    project, _ = built
    result = project.dvc("exp", "run", "-S", "train.lr=0.005")
    assert result.ran == ["train", "evaluate", "cv"]


def test_model_size_reruns_validate_but_not_the_preprocessing(built):
    """validate sizes the data against model.hidden; its table is unchanged, so split and the
    preprocessing stages are skipped."""
    project, _ = built
    result = project.dvc("exp", "run", "-S", "model.hidden=[8]")
    assert result.ran == ["validate", "train", "evaluate", "cv"]


def test_scale_param_reruns_from_fit_scaler(built):
    project, _ = built
    result = project.dvc("exp", "run", "-S", "scale.method=minmax")
    assert result.ran == ["fit_scaler", "encode", "train", "evaluate", "cv"]


def test_kfold_with_oversampling_reruns_from_split_and_writes_the_folds(built):
    """A split param changed: every stage reruns (validate too: it reads the split params)."""
    project, _ = built
    preview = (project.path / "reports/preview.md").read_text()
    assert preview.count("→ |") == 26  # header + 25 rows
    result = project.dvc("exp", "run", "-S", "split.scheme=kfold", "-S", "split.oversample=random")
    # validate reruns too: with k folds every class needs at least k rows (its class floor)
    assert result.ran == ALL_STAGES
    report = json.loads((project.path / "reports/split.json").read_text())
    assert report["scheme"] == "kfold" and len(report["folds"]["rows"]) == 5
    after = report["oversampling"]["after"]
    assert len(set(after.values())) == 1 and report["rows"]["train"] == sum(after.values())
    assert (project.path / "data/split/folds.parquet").exists()
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9


def test_mistyped_training_key_reruns_train_and_is_rejected(built):
    project, _ = built
    params_file = project.path / "params.yaml"
    original = params_file.read_text()
    try:
        result = project.dvc("exp", "run", "-S", "+train.learning_rat=0.1", check=False)
        assert result.returncode != 0
        assert result.ran == ["train"]
        assert "train.learning_rat: unknown key" in result.output
        assert "Did you mean 'train.lr'?" in result.output

        edited = re.sub(r"(?m)^(\s+)lr:", r"\1learning_rat:", original)
        assert edited != original
        params_file.write_text(edited)
        result = project.dvc("repro", check=False)
        assert result.returncode != 0 and result.ran == ["train"]
        assert "train.learning_rat" in result.output
    finally:
        params_file.write_text(original)


def _own_table(project: Project, df, target: str) -> None:
    """Point the project at another table with only the three data keys."""
    df.to_csv(project.path / "data/raw/table.csv", index=False)
    project.set_params(data={"path": "data/raw/table.csv", "target": target, "task": "auto"})


def test_binary_table_end_to_end(project: Project):
    _own_table(project, binary_table(), "label")
    assert project.dvc("repro").ran == ALL_STAGES
    card = json.loads((project.path / "models/model.json").read_text())
    assert card["task"] == "binary" and card["classes"] == ["no", "yes"]
    assert card["architecture"]["out_features"] == 1
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8
    assert metrics["test"]["roc_auc"] >= 0.85
    assert set(metrics["baselines"]) == {"majority", "logistic", "hist_gradient_boosting"}
    for png in ("confusion_matrix", "roc", "precision_recall", "learning_curve"):
        assert (project.path / f"reports/plots/{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_regression_table_end_to_end(project: Project):
    _own_table(project, regression_table(), "y")
    assert project.dvc("repro").ran == ALL_STAGES
    validation = json.loads((project.path / "reports/validation.json").read_text())
    assert validation["task"] == "regression" and validation["schema_file"] is None
    metrics = json.loads((project.path / "reports/metrics.json").read_text())
    assert set(metrics["test"]) == {"rmse", "mae", "r2"}
    assert metrics["test"]["r2"] >= 0.8
    assert set(metrics["baselines"]) == {"mean", "ridge", "hist_gradient_boosting"}
    assert metrics["test"]["rmse"] < metrics["baselines"]["mean"]["test"]["rmse"]
    assert set(metrics["standard_error"]["test"]) == {"rmse", "mae", "r2"}
    # the MLP against always predicting the mean: clearly better, beyond its paired s.e.
    diagnosis = json.loads((project.path / "reports/diagnosis.json").read_text())
    against_mean = diagnosis["versus_baselines"]["mean"]["r2"]
    assert against_mean["difference"] > 2 * against_mean["standard_error"] > 0
    for png in ("predicted_vs_actual", "residuals", "learning_curve"):
        assert (project.path / f"reports/plots/{png}.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_data_stops_at_validate_with_nothing_downstream(project: Project):
    df = regression_table()
    df.loc[3, "y"] = None
    df["x1"] = df["x1"].astype(object)
    df.loc[10, "x1"] = "oops"
    _own_table(project, df, "y")
    (project.path / "data/raw/table.schema.yaml").write_text("columns:\n  x1: {type: numeric}\n")
    result = project.dvc("repro", check=False)
    assert result.returncode != 0 and result.ran == ["validate"]
    assert "column 'x1': numeric_type broken by 1 value(s) (row 10 = 'oops')" in result.output
    assert not (project.path / "data/validated.parquet").exists()
    assert not (project.path / "data/split").exists()
