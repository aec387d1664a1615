import numpy as np
import pandas as pd
import pytest

from pipeline import io, validate
from pipeline.config import parse_params
from pipeline.errors import PipelineError
from pipeline.schema import TableSchema, load_schema, schema_path
from pipeline.task import resolve_task
from pipeline.validate import validate_table

from .conftest import ROOT, penguins

PARAMS = parse_params({})


def rule(result: dict, name_part: str, column: str | None = None) -> dict:
    return next(r for r in result["rules"] if name_part in r["rule"] and r["column"] == column)


def penguin_schema() -> TableSchema:
    schema, path = load_schema(ROOT / "data/raw/penguins.csv")
    assert path == ROOT / "data/raw/penguins.schema.yaml"
    return schema


def test_penguins_pass_with_nulls_dropped_units_converted_and_task_inferred():
    raw = io.read_raw(ROOT / "data/raw/penguins.csv")
    clean, result = validate_table(raw, penguin_schema(), PARAMS)
    assert result["passed"]
    assert clean is not None and len(clean) == 333 and not clean.isna().any().any()
    assert result["cleaning"]["missing"]["rows_removed"] == 11
    assert "body_mass_kg" in clean and "body_mass_g" not in clean and "year" not in clean
    assert clean["body_mass_kg"].between(2.7, 6.3).all()
    assert result["task"] == "multiclass"
    assert result["class_counts"] == {"Adelie": 146, "Chinstrap": 68, "Gentoo": 119}


def test_missing_target_fails_naming_the_column():
    params = parse_params({"data": {"target": "speciez"}})
    clean, result = validate_table(penguins(), TableSchema(), params)
    assert clean is None
    failed = rule(result, "column_exists", "speciez")
    assert not failed["passed"] and "data.target" in failed["observed"]


def test_out_of_range_value_is_reported_with_its_row():
    raw = penguins()
    raw.loc[7, "flipper_length_mm"] = 999.0
    clean, result = validate_table(raw, penguin_schema(), PARAMS)
    assert clean is None
    failed = rule(result, "max <= 240", "flipper_length_mm")
    assert failed["unexpected_count"] == 1
    assert failed["examples"] == [{"row": 7, "value": 999.0}]


def test_non_numeric_value_in_numeric_column_is_reported_not_silently_nan():
    raw = penguins()
    raw["bill_depth_mm"] = raw["bill_depth_mm"].astype(object)
    raw.loc[5, "bill_depth_mm"] = "n/a?"
    clean, result = validate_table(raw, penguin_schema(), PARAMS)
    assert clean is None
    failed = rule(result, "numeric_type", "bill_depth_mm")
    assert failed["examples"] == [{"row": 5, "value": "n/a?"}]


def test_unexpected_category_fails():
    raw = penguins()
    raw.loc[0, "island"] = "Atlantis"
    clean, result = validate_table(raw, penguin_schema(), PARAMS)
    assert clean is None
    assert rule(result, "in [", "island")["examples"] == [{"row": 0, "value": "Atlantis"}]


def test_too_few_rows_fails_min_rows():
    params = parse_params({"validate": {"min_rows": 1000}})
    clean, result = validate_table(penguins(), TableSchema(), params)
    assert clean is None
    assert not rule(result, "validate.min_rows")["passed"]


def test_table_without_schema_file_gets_empty_schema(tmp_path):
    assert schema_path(tmp_path / "t.csv") == tmp_path / "t.schema.yaml"
    schema, path = load_schema(tmp_path / "t.csv")
    assert path is None and schema == TableSchema()


def test_bad_schema_file_names_file_and_key(tmp_path):
    (tmp_path / "t.schema.yaml").write_text("columns:\n  a: {type: text}\n")
    with pytest.raises(PipelineError, match=r"t\.schema\.yaml: columns\.a\.type"):
        load_schema(tmp_path / "t.csv")


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([0, 1, 1, 0], "binary"),
        ([0, 1, 2, 3], "multiclass"),
        (np.linspace(0, 1, 50), "regression"),
        ([0.5, 1.5, 0.5], "regression"),
        (list(range(40)), "regression"),
    ],
)
def test_auto_task_inference(values, task):
    assert resolve_task("auto", pd.Series(values, name="y"))[0] == task


def test_explicit_task_is_checked_against_the_target():
    with pytest.raises(PipelineError, match=r"data\.task: 'regression' needs a numeric target"):
        resolve_task("regression", pd.Series(["a", "b"], name="y"))
    with pytest.raises(PipelineError, match="exactly 2 classes"):
        resolve_task("binary", pd.Series(["a", "b", "c"], name="y"))
    with pytest.raises(PipelineError, match="at least 2"):
        resolve_task("auto", pd.Series(["a", "a"], name="y"))


def test_allowed_numeric_values_compare_as_numbers():
    raw = pd.DataFrame({"flag": [0, 1, None, 1] * 10, "y": ["a", "b"] * 20})
    schema = TableSchema.model_validate({"columns": {"flag": {"allowed": [0, 1]}}})
    clean, result = validate_table(raw, schema, parse_params({"data": {"target": "y"}}))
    assert result["passed"], result["rules"]
    raw.loc[0, "flag"] = 2
    clean, result = validate_table(raw, schema, parse_params({"data": {"target": "y"}}))
    assert clean is None
    assert rule(result, "in [0, 1]", "flag")["examples"] == [{"row": 0, "value": 2.0}]


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"drop": ["species"]}, "schema drop: lists the target 'species'"),
        ({"units": {"species": {"scale": 2, "rename": "s"}}}, "renames the target"),
        ({"columns": {"island": {"min": 0}}}, "columns.island: min/max need a numeric column"),
    ],
)
def test_schema_rules_that_cannot_apply_are_clear_errors(schema, message):
    with pytest.raises(PipelineError, match=message):
        validate_table(penguins(), TableSchema.model_validate(schema), PARAMS)


def test_table_that_cleaning_empties_fails_min_rows_in_the_report():
    raw = penguins()
    raw["sex"] = None
    clean, result = validate_table(raw, TableSchema(), PARAMS)
    assert clean is None and result["rows_out"] == 0
    assert [(r["rule"], r["column"]) for r in result["rules"] if not r["passed"]] == [
        ("not entirely null", "sex"),
        ("rows >= validate.min_rows (30)", None),
    ]


def test_task_that_does_not_fit_the_target_is_a_failed_rule():
    params = parse_params({"data": {"task": "binary"}})
    clean, result = validate_table(penguins(), TableSchema(), params)
    assert clean is None
    assert "exactly 2 classes" in rule(result, "task matches target", "species")["observed"]


def test_failed_run_writes_reports_but_no_table(tmp_path, monkeypatch):
    raw = penguins()
    raw.loc[4, "island"] = "Atlantis"
    (tmp_path / "data/raw").mkdir(parents=True)
    raw.to_csv(tmp_path / "data/raw/penguins.csv", index=False)
    (tmp_path / "data/raw/penguins.schema.yaml").write_text(
        (ROOT / "data/raw/penguins.schema.yaml").read_text()
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError, match=r"column 'island': in \[.*row 4 = 'Atlantis'"):
        validate.run(PARAMS)
    assert not io.VALIDATED.exists()
    assert "**FAILED**" in io.VALIDATION_REPORT.with_suffix(".md").read_text()
    assert list(tmp_path.rglob("*.tmp")) == []


def test_unreadable_table_names_data_path(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PipelineError, match=r"data\.path: cannot read .*empty\.csv"):
        io.read_raw(tmp_path / "empty.csv")
    with pytest.raises(PipelineError, match=r"data\.path: .* has suffix '\.xlsx'"):
        (tmp_path / "t.xlsx").write_text("x")
        io.read_raw(tmp_path / "t.xlsx")
