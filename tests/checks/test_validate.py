import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline.__main__ import main
from pipeline.checks import size_rules
from pipeline.checks.validation_report import validation_markdown
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.schema import TableSchema, load_schema, schema_path
from pipeline.core.task import resolve_task
from pipeline.stages import validate

from ..conftest import ROOT, penguins
from ..helpers import read_raw, validate_table

PARAMS = parse_params({})


def rule(result: dict, name_part: str, column: str | None = None) -> dict:
    return next(r for r in result["rules"] if name_part in r["rule"] and r["column"] == column)


def penguin_schema() -> TableSchema:
    schema, path = load_schema(ROOT / "data/raw/penguins.csv")
    assert path == ROOT / "data/raw/penguins.schema.yaml"
    return schema


def test_penguins_pass_with_nulls_dropped_units_converted_and_task_inferred():
    raw = read_raw(ROOT / "data/raw/penguins.csv")
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
    params = parse_params({"clean": {"missing": "drop"}})
    clean, result = validate_table(raw, TableSchema(), params)
    assert clean is None and result["rows_out"] == 0
    assert [(r["rule"], r["column"]) for r in result["rules"] if not r["passed"]] == [
        ("not entirely null", "sex"),
        ("cleaning removes at most 20% of the rows", None),
        ("rows >= validate.min_rows (30)", None),
    ]
    # auto keeps the rows, as every one holds a null: only the empty column is left to fix
    clean, result = validate_table(raw, TableSchema(), PARAMS)
    assert result["rows_out"] == len(raw) and result["missing"]["chosen"] == "impute"
    failed = [r for r in result["rules"] if not r["passed"] and r["severity"] == "fail"]
    assert [r["column"] for r in failed] == ["sex"]


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


def test_unreadable_table_names_data_path(tmp_path, monkeypatch):
    """The real reader's refusals reach the user through validate, naming the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "t.xlsx").write_text("x")
    for name, why in [("empty.csv", "is empty: no header line"), ("t.xlsx", "has suffix '.xlsx'")]:
        with pytest.raises(PipelineError, match=rf"{name}: {why}"):
            validate.run(parse_params({"data": {"path": name}}))
        assert not io.VALIDATED.exists()


def labelled(n: int = 100, **columns) -> pd.DataFrame:
    """A table with a numeric feature `x`, a two-class target `y`, and any extra columns."""
    df = pd.DataFrame({"x": np.arange(n, dtype=float), "y": ["a", "b"] * (n // 2)})
    return df.assign(**columns)


Y = {"data": {"target": "y"}}


def params(**sections) -> object:
    return parse_params({**Y, **sections})


def test_impute_keeps_rows_with_null_features_but_never_a_null_target():
    raw = labelled()
    raw.loc[[3, 5], "x"] = None
    raw.loc[8, "y"] = None
    clean, result = validate_table(raw, TableSchema(), params(clean={"missing": "impute"}))
    assert result["passed"]
    assert len(clean) == 99 and clean["x"].isna().sum() == 2 and 8 not in clean.index
    assert result["cleaning"]["target_missing"] == {"rows_removed": 1, "example_rows": [8]}
    assert result["cleaning"]["missing"]["rows_removed"] == 0
    _, dropped = validate_table(raw, TableSchema(), params())
    assert dropped["cleaning"]["missing"]["rows_removed"] == 2
    assert dropped["rows_out"] == 97


@pytest.mark.parametrize(("rule", "rows_out"), [("keep", 100), ("drop", 98)])
def test_duplicate_rows_are_counted_and_dropped_on_request(rule, rows_out):
    raw = labelled()
    raw.loc[10] = raw.loc[0]
    raw.loc[12] = raw.loc[0]
    clean, result = validate_table(raw, TableSchema(), params(clean={"duplicates": rule}))
    assert result["passed"] and len(clean) == rows_out
    duplicates = result["cleaning"]["duplicates"]
    assert duplicates["duplicate_rows"] == 2 and duplicates["example_rows"] == [10, 12]
    assert duplicates["rows_removed"] == 100 - rows_out


def test_units_are_converted_after_the_range_check_on_raw_values():
    raw = labelled(mass_g=np.full(100, 4200.0))
    schema = TableSchema.model_validate(
        {
            "columns": {"mass_g": {"type": "numeric", "min": 1000, "max": 9000}},
            "units": {"mass_g": {"scale": 0.001, "rename": "mass_kg"}},
        }
    )
    clean, result = validate_table(raw, schema, params())
    assert result["passed"] and (clean["mass_kg"] == 4.2).all() and "mass_g" not in clean
    assert result["cleaning"]["units"] == {"mass_g": {"scale": 0.001, "renamed_to": "mass_kg"}}


def test_unit_on_a_text_column_is_a_failed_rule_not_a_crash():
    schema = TableSchema.model_validate({"units": {"c": {"scale": 2}}})
    clean, result = validate_table(labelled(c="t"), schema, params())
    assert clean is None and "not numbers" in rule(result, "units: scale 2", "c")["observed"]


def test_schema_nullable_unique_and_strict():
    raw = labelled(id=[*range(99), 5], extra=1.0)
    raw.loc[4, "x"] = None
    schema = TableSchema.model_validate(
        {"columns": {"x": {"nullable": False}, "id": {"unique": True}}, "strict": True}
    )
    clean, result = validate_table(raw, schema, params())
    assert clean is None
    assert rule(result, "not null", "x")["examples"] == [{"row": 4, "value": None}]
    assert rule(result, "unique", "id")["examples"] == [
        {"row": 5, "value": 5},
        {"row": 99, "value": 5},
    ]
    strict = rule(result, "strict")
    assert not strict["passed"] and strict["observed"]["unexpected"] == ["extra"]


def test_undeclared_text_column_that_is_nearly_all_numbers_is_flagged():
    raw = labelled(n=100, v=[str(i) for i in range(99)] + ["?"], code=["A", "B", "1", "2"] * 25)
    _, result = validate_table(raw, TableSchema(), params())
    assert rule(result, "numeric_type", "v")["examples"] == [{"row": 99, "value": "?"}]
    assert not [r for r in result["rules"] if r["column"] == "code" and not r["passed"]]
    declared = TableSchema.model_validate({"columns": {"v": {"type": "categorical"}}})
    assert validate_table(raw, declared, params())[1]["passed"]


def test_min_rows_severity_warn_reports_and_keeps_the_table():
    raw = labelled(n=20)
    strict, result = validate_table(raw, TableSchema(), params())
    assert strict is None
    lenient, result = validate_table(
        raw, TableSchema(), params(validate={"min_rows": 30, "min_rows_severity": "warn"})
    )
    assert lenient is not None and result["passed"] and result["warnings"] >= 1
    assert rule(result, "validate.min_rows")["severity"] == "warn"


def test_class_floor_follows_the_split_fractions_and_cannot_be_waived():
    raw = labelled(n=100)
    raw.loc[:5, "y"] = "rare"  # 6 rows
    lenient = {"min_rows_per_class": 1, "min_rows_per_class_severity": "warn"}
    clean, result = validate_table(raw, TableSchema(), params(validate=lenient))
    floor = next(r for r in result["rules"] if r["rule"].startswith("rows per class >= 10 "))
    assert clean is None and floor["severity"] == "fail"
    assert floor["observed"] == {"below": {"rare": 6}} and "one row in val (0.1)" in floor["rule"]
    wider = {"train": 0.6, "val": 0.2, "test": 0.2}
    clean, result = validate_table(raw, TableSchema(), params(validate=lenient, split=wider))
    assert clean is not None, result["rules"]
    assert any(
        r["rule"].startswith("rows per class >= 5 ") and r["passed"] for r in result["rules"]
    )


def test_min_rows_per_class_has_its_own_severity():
    raw = labelled(n=100)
    raw.loc[:11, "y"] = "rare"  # 12 rows: above the split floor of 10
    clean, result = validate_table(raw, TableSchema(), params(validate={"min_rows_per_class": 20}))
    assert clean is None
    assert rule(result, "validate.min_rows_per_class", "y")["observed"] == {"below": {"rare": 12}}


def test_small_class_share_warns_and_points_at_oversampling():
    raw = labelled(n=200)
    raw.loc[:11, "y"] = "rare"
    clean, result = validate_table(raw, TableSchema(), params())
    share = rule(result, "min_class_share", "y")
    assert clean is not None and not share["passed"] and share["severity"] == "warn"
    assert "'rare' is 6.0%" in share["observed"] and "oversampling" in share["observed"]
    assert result["class_shares"]["rare"] == 0.06


def test_rows_per_parameter_rule_uses_the_configured_model():
    raw = labelled(n=400, c=["p", "q", "r", "s"] * 100)
    small = {
        "model": {"hidden": [4], "ensemble": 1, "num_embeddings": "none"},
        "validate": {"rows_per_parameter": 10},
    }
    _, result = validate_table(raw, TableSchema(), params(**small))
    # encoded width 1 + 4, binary output 1: (5*4 + 4) + (4*1 + 1) = 29 parameters
    assert result["model_size"] == {
        "encoded_features": 5,
        "outputs": 1,
        "hidden": [4],
        "parameters": 29,
        "training_rows": 320,
    }
    assert rule(result, "rows_per_parameter")["passed"]
    _, result = validate_table(raw, TableSchema(), params(model={"hidden": [64]}))
    too_big = rule(result, "rows_per_parameter")
    assert not too_big["passed"] and too_big["severity"] == "warn" and result["passed"]
    assert "embedding_parameters" not in result["model_size"]  # auto: 320 rows, no embeddings
    plr = {"hidden": [64], "num_embeddings": "plr"}
    _, result = validate_table(raw, TableSchema(), params(model=plr))
    too_big = rule(result, "rows_per_parameter")
    # PLR embeddings are counted, said, and named among the remedies
    embedded = result["model_size"]["embedding_parameters"]
    assert embedded > 0 and f"({embedded} of them in the input embeddings)" in too_big["observed"]
    assert "model.ensemble or model.num_embedding_dim" in too_big["observed"]
    as_failure = {"rows_per_parameter_severity": "fail"}
    clean, _ = validate_table(
        raw, TableSchema(), params(model={"hidden": [64]}, validate=as_failure)
    )
    assert clean is None


def test_regression_target_must_be_numeric():
    raw = labelled()
    clean, result = validate_table(
        raw, TableSchema(), params(data={"target": "y", "task": "regression"})
    )
    assert clean is None
    assert "needs a numeric target" in rule(result, "numeric target (regression)", "y")["observed"]


def test_markdown_lists_failures_first_and_escapes_table_cells():
    raw = labelled().assign(y=["a|b", "c"] * 50)
    raw.loc[3, "x"] = np.inf
    _, result = validate_table(raw, TableSchema(), params())
    text = validation_markdown({**result, "input": "t.csv"})
    assert text.index("## Fix these") < text.index("## All rules")
    assert (
        "- column 'x': finite, within ±1e+15 (validate.max_abs) broken by 1 value(s) "
        "(row 3 = 'inf')" in text
    )
    assert "a\\|b" in text
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_great_expectations_is_not_imported_until_validate_checks(tmp_path):
    code = (
        "import sys, pipeline.core.config, pipeline.stages.validate, pipeline.core.schema\n"
        "import pipeline.__main__\n"
        "assert 'great_expectations' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_schema_infer_drafts_a_file_that_the_same_table_passes(tmp_path, monkeypatch, capsys):
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/penguins.csv").write_bytes((ROOT / "data/raw/penguins.csv").read_bytes())
    (tmp_path / "params.yaml").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "--infer"]) == 0
    schema, path = load_schema("data/raw/penguins.csv")
    assert path is not None and "drafted" in capsys.readouterr().out
    assert schema.columns["island"].allowed == ["Biscoe", "Dream", "Torgersen"]
    assert (
        schema.columns["body_mass_g"].type == "numeric"
        and schema.columns["body_mass_g"].min == 2700
    )
    assert validate_table(penguins(), schema, PARAMS)[1]["passed"]
    assert main(["schema", "--infer"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["schema"]) == 0 and "is valid" in capsys.readouterr().out


def test_a_drafted_schema_keeps_category_text_that_looks_like_a_number(tmp_path, monkeypatch):
    """Category codes such as '1e5' are written quoted, so the one YAML loader (numbers as YAML
    1.2 reads them) gives back the text the table holds, and validate passes the same table."""
    (tmp_path / "data/raw").mkdir(parents=True)
    codes = ["1e5", "A", "1.5e3", "B"] * 15
    table = pd.DataFrame({"code": codes, "x": np.arange(60.0), "y": ["a", "b", "c"] * 20})
    table.to_csv(tmp_path / "data/raw/t.csv", index=False)
    (tmp_path / "params.yaml").write_text("data: {path: data/raw/t.csv, target: y}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "--infer"]) == 0
    schema, _ = load_schema("data/raw/t.csv")
    assert sorted(schema.columns["code"].allowed) == ["1.5e3", "1e5", "A", "B"]
    validate.run(parse_params({"data": {"path": "data/raw/t.csv", "target": "y"}}))
    assert io.read_json(io.VALIDATION_REPORT)["passed"]


def test_class_floor_and_training_rows_follow_a_scheme_with_its_own_shares():
    """A config whose split has shares() (val carved from train, or k folds) is sized by them."""
    kfold = SimpleNamespace(
        scheme="kfold",
        folds=12,
        shares=lambda: {"train": 0.75, "val": 0.15, "test": 0.1},
    )
    floor, why = size_rules.class_floor(kfold)
    assert floor == 12 and "12 for one row in each fold" in why
    assert size_rules.training_rows(200, kfold) == 150
    assert size_rules.class_floor(PARAMS.split)[0] == 10
    assert size_rules.training_rows(200, PARAMS.split) == 160
