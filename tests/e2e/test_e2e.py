"""End to end: dvc repro / dvc exp run on a copy of the project in its own git repository. What
reruns is asked of `dvc status` (about a second) rather than learned by retraining; the bytes of
`dvc repro` after kills equal an uninterrupted run's in test_faults.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from ..conftest import Project, regression_table
from .conftest import ALL_STAGES

pytestmark = pytest.mark.e2e


def status(project: Project) -> dict[str, list]:
    """`dvc status --json`: the stages whose own deps or params changed (a stage after them
    reruns too when their outputs change)."""
    return json.loads(project.dvc("status", "--json").output or "{}")


def test_repro_builds_penguins_and_a_second_repro_runs_nothing(built, first_run):
    assert first_run == ALL_STAGES
    metrics = json.loads((built.path / "reports/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9
    assert {"accuracy", "f1_macro", "log_loss", "roc_auc"} <= set(metrics["test"])
    assert set(metrics) == {"val", "test", "baselines", "standard_error"}
    assert set(metrics["standard_error"]["val"]) == {"accuracy", "log_loss"}
    report = (built.path / "reports/report.md").read_text()
    assert "Test metrics beside the baselines" in report
    assert "## The MLP against each baseline, on the same test rows" in report
    diagnosis = json.loads((built.path / "reports/diagnosis.json").read_text())
    versus = diagnosis["versus_baselines"]["hist_gradient_boosting"]["accuracy"]
    assert {"difference", "standard_error", "rows_only_a_right", "rows_only_b_right"} <= set(versus)
    summary = subprocess.run(
        [sys.executable, "-m", "pipeline", "summary"],
        cwd=built.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Baselines, test accuracy: hist_gradient_boosting" in summary
    assert "MLP minus hist_gradient_boosting on the same test rows, accuracy: " in summary
    assert status(built) == {}
    assert "Data and pipelines are up to date" in built.dvc("status").output
    assert built.dvc("repro").ran == []


@pytest.mark.parametrize(
    ("key", "value", "changed"),
    [
        ("train.lr", 0.005, ["train", "evaluate", "cv"]),
        # validate sizes the data against the model; its table is unchanged, so split and the
        # preprocessing are not rerun
        ("model.hidden", [8], ["validate", "train", "evaluate", "cv"]),
        # encode and train follow, as fit_scaler's output changes
        ("scale.method", "minmax", ["fit_scaler", "evaluate", "cv"]),
        # with k folds every class needs at least k rows: validate checks the split params
        ("split.scheme", "kfold", ["validate", "split", "evaluate", "cv"]),
        # column roles are validate's (evaluate lists every param in its report)
        ("clean.dates", "drop", ["validate", "evaluate"]),
    ],
)
def test_a_param_reruns_the_stages_that_read_it(built, key, value, changed):
    section, name = key.split(".")
    built.set_params(**{section: {name: value}})
    assert sorted(status(built)) == sorted(changed)


@pytest.mark.parametrize(
    ("module", "changed"),
    [
        # the TabM layers: once in no stage's deps, so an edit never retrained
        ("pipeline/model/ensemble.py", ["train", "evaluate", "cv"]),
        ("pipeline/model/sizing.py", ["validate", "train", "evaluate", "cv"]),
        ("pipeline/training/loop.py", ["train", "cv"]),
        ("pipeline/stages/encode.py", ["encode"]),
        ("pipeline/splitting/drift.py", ["split", "cv"]),
        ("pipeline/core/tables.py", ALL_STAGES),
        ("pipeline/experiments/noise.py", []),  # no stage runs the experiment tools
    ],
)
def test_a_code_change_reruns_the_stages_that_run_it(built, module, changed):
    with (built.path / module).open("a") as code:
        code.write("# an edit\n")
    assert sorted(status(built)) == sorted(changed)


def test_mistyped_training_key_reruns_train_and_is_rejected(built):
    params_file = built.path / "params.yaml"
    original = params_file.read_text()
    result = built.dvc("exp", "run", "-S", "+train.learning_rat=0.1", check=False)
    assert result.returncode != 0
    assert result.ran == ["train"]
    assert "train.learning_rat: unknown key" in result.output
    assert "Did you mean 'train.lr'?" in result.output

    edited = re.sub(r"(?m)^(\s+)lr:", r"\1learning_rat:", original)
    assert edited != original
    params_file.write_text(edited)
    result = built.dvc("repro", check=False)
    assert result.returncode != 0 and result.ran == ["train"]
    assert "train.learning_rat" in result.output


def _own_table(project: Project, df, target: str) -> None:
    """Point the project at another table with only the three data keys."""
    df.to_csv(project.path / "data/raw/table.csv", index=False)
    project.set_params(data={"path": "data/raw/table.csv", "target": target, "task": "auto"})


def test_bad_data_stops_at_validate_with_nothing_downstream(project: Project):
    df = regression_table()
    df.loc[3, "y"] = None
    df["x1"] = df["x1"].astype(object)
    df.loc[10, "x1"] = "oops"
    df.loc[5, "x2"] = 1e300  # fit_scaler's variance overflowed into NaN in JSON (issue 27)
    _own_table(project, df, "y")
    (project.path / "data/raw/table.schema.yaml").write_text("columns:\n  x1: {type: numeric}\n")
    result = project.dvc("repro", check=False)
    assert result.returncode != 0 and result.ran == ["validate"]
    assert "column 'x1': numeric_type broken by 1 value(s) (row 10 = 'oops')" in result.output
    assert (
        "column 'x2': finite, within ±1e+15 (validate.max_abs) broken by 1 value(s) "
        "(row 5 = 1e+300)" in result.output
    )
    assert not (project.path / "data/validated.parquet").exists()
    assert not (project.path / "data/split").exists()
