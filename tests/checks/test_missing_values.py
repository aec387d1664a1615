"""clean.missing: auto (drop a few rows with nulls, else impute), decided in validate's pass 1
whatever the batch size; the rule that explains a cleaning that removes many rows; the width
validate expects from the category cap and the missing-value indicators."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks import size_rules
from pipeline.checks.cleaning import Cleaner
from pipeline.checks.missing_values import MissingChoice, NullRows, choose_missing
from pipeline.checks.rawfile import RawFile
from pipeline.checks.roles import RoleEvidence, decide_roles
from pipeline.checks.validation import column_types, nulls_after_roles
from pipeline.checks.validation_report import Report, validation_failure, validation_markdown
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.schema import TableSchema
from pipeline.core.tables import date_columns, frame_batches
from pipeline.features.preprocessor import Preprocessor

from ..conftest import binary_table
from ..helpers import validate_table
from .test_validate_inputs import TABLE, csv_text, run_validate


def with_nulls(rows: list[int], column: str = "x1", n: int = 100) -> pd.DataFrame:
    df = binary_table(n=n)
    df.loc[rows, column] = np.nan
    return df


def failed(result: dict, part: str) -> dict:
    return next(r for r in result["rules"] if part in r["rule"])


def test_auto_drops_a_few_rows_with_nulls():
    params = parse_params({"data": {"target": "label"}})
    clean, result = validate_table(with_nulls([3, 50, 97]), TableSchema(), params)
    assert result["missing"]["setting"] == "auto" and result["missing"]["chosen"] == "drop"
    assert "3 of the 100 rows with a target (3.0%) hold a null" in result["missing"]["reason"]
    assert len(clean) == 97 and result["cleaning"]["missing"]["rows_removed"] == 3
    assert failed(result, "cleaning removes at most 20%")["passed"]
    top = validation_markdown(result).split("## ")[0]
    assert "Missing values: clean.missing: auto chose drop" in top


def test_auto_imputes_when_more_rows_than_max_drop_share_hold_a_null():
    df = with_nulls(list(range(0, 100, 3)))  # 34 rows
    df.loc[:79, "color"] = None
    params = parse_params({"data": {"target": "label"}})
    clean, result = validate_table(df, TableSchema(), params)
    assert result["missing"]["chosen"] == "impute" and len(clean) == 100
    reason = result["missing"]["reason"]
    assert "more than clean.max_drop_share (0.05)" in reason
    assert "emptiest: color 80%, x1 34%" in reason and "clean.missing: drop" in reason
    # validate's model size counts one indicator input per column holding a null
    pre = Preprocessor("label", "binary", missing="impute").fit_frame(clean)
    assert pre.features_[-2:] == ["x1__missing", "color__missing"]
    assert result["model_size"]["encoded_features"] == len(pre.features_) == 2 + 3 + 2
    assert "one 0/1 `<column>__missing` input each for `color`, `x1`" in validation_markdown(result)
    # a higher share lets auto drop them
    loose = parse_params({"data": {"target": "label"}, "clean": {"max_drop_share": 0.9}})
    assert validate_table(df, TableSchema(), loose)[1]["missing"]["chosen"] == "drop"


def test_validate_counts_one_indicator_per_date_as_the_fit_makes_it():
    df = with_nulls([5])
    df["when"] = pd.date_range("2024-01-01 06:30", periods=100, freq="37h").astype(str)
    df.loc[:19, "when"] = None
    params = parse_params({"data": {"target": "label"}, "clean": {"missing": "impute"}})
    clean, result = validate_table(df, TableSchema(), params)
    assert len(result["roles"]["dates"]["when"]) == 6  # year ... hour, days
    size = result["model_size"]
    assert size["missing_indicators"] == ["when", "x1"]
    dates = date_columns(result["roles"]["dates"])
    pre = Preprocessor("label", "binary", missing="impute", dates=dates).fit_frame(clean)
    assert pre.features_[-2:] == ["x1__missing", "when__missing"]
    assert size["encoded_features"] == len(pre.features_) == 2 + 6 + 3 + 2


def test_null_targets_and_dropped_columns_do_not_count_toward_the_share():
    df = with_nulls([1, 2])
    df.loc[10:39, "label"] = None  # always removed; not rows "with a target"
    df["notes"] = None  # dropped by the schema
    schema = TableSchema(drop=["notes"])
    counted = NullRows("label", schema.drop)
    for batch in frame_batches(df)(None):
        counted.add(batch)
    assert (counted.rows, counted.with_nulls) == (70, 2)
    choice = choose_missing(parse_params({"data": {"target": "label"}}), counted)
    assert choice.chosen == "drop"


@settings(max_examples=20, deadline=None)
@given(
    nulls=st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["x1", "color", "label"]))),
    batch_rows=st.integers(7, 70),
    share=st.sampled_from([0.0, 0.05, 0.2, 1.0]),
)
def test_auto_never_drops_more_than_max_drop_share_whatever_the_batch(nulls, batch_rows, share):
    df = binary_table(n=60).astype({"x1": float, "color": object})
    for row, column in nulls:
        df.loc[row, column] = None
    clean = {"missing": "auto", "max_drop_share": share, "duplicates": "drop"}  # no spill files
    params = parse_params({"data": {"target": "label"}, "clean": clean})
    batches = [df.iloc[i : i + batch_rows] for i in range(0, len(df), batch_rows)]
    counted = NullRows("label", [])
    for batch in batches:
        counted.add(batch)
    choice = choose_missing(params, counted)
    cleaner = Cleaner(TableSchema(), params, df, choice.chosen)
    kept = sum(len(cleaner.clean(batch)) for batch in batches)
    with_target = int(df["label"].notna().sum())
    removed = cleaner.summary()["missing"]["rows_removed"]
    assert removed <= share * with_target + 1e-9
    assert kept == with_target - removed
    whole = NullRows("label", [])
    whole.add(df)
    assert choose_missing(params, whole) == choice  # the batch size changes nothing


def test_a_drop_that_empties_the_table_names_the_columns_and_the_params():
    df = with_nulls(list(range(100)), "x2")
    df.loc[:91, "color"] = None
    params = parse_params({"data": {"target": "label"}, "clean": {"missing": "drop"}})
    clean, result = validate_table(df, TableSchema(), params)
    assert clean is None and result["rows_out"] == 0
    rule = failed(result, "cleaning removes at most 20% of the rows")
    assert not rule["passed"] and rule["severity"] == "fail"
    message = validation_failure(result)
    for part in (
        "removed 100 of 100 rows (100.0%)",
        "100 row(s) holding a null under clean.missing: drop",
        "emptiest columns: x2 100%, color 92%",
        "set clean.missing: auto",
        "clean.max_drop_share (0.05)",
        "drop the emptiest columns in the schema file",
    ):
        assert part in message


def test_a_big_drop_that_leaves_enough_rows_is_a_warning_naming_its_causes():
    df = with_nulls(list(range(30)))
    df.loc[30:34, "label"] = None
    params = parse_params(
        {
            "data": {"target": "label"},
            "clean": {"max_drop_share": 0.5},  # auto drops the 30 rows with a null
            "validate": {"min_rows": 10},
        }
    )
    clean, result = validate_table(df, TableSchema(), params)
    assert result["missing"]["chosen"] == "drop" and len(clean) == 65
    rule = failed(result, "cleaning removes at most 20% of the rows")
    assert not rule["passed"] and rule["severity"] == "warn" and result["passed"]
    observed = rule["observed"]
    assert observed.startswith("removed 35 of 100 rows (35.0%): 5 row(s) without a target")
    assert "emptiest columns: x1 32%" in observed  # 30 of the 95 rows with a target
    assert "lower clean.max_drop_share (0.5)" in observed


def test_validate_says_the_auto_choice_on_stderr_and_saves_the_resolved_value(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    df = binary_table(n=80)
    df.loc[:39, "x2"] = np.nan
    assert run_validate(tmp_path, csv_text(df), "label") == 0
    err = capsys.readouterr().err
    assert "validate: clean.missing: auto chose impute: 40 of the 80 rows" in err
    assert json.loads(io.CLEANING.read_text())["missing"] == "impute"
    assert TABLE in json.loads(io.VALIDATION_REPORT.read_text())["input"]
    assert len(io.read_table(io.VALIDATED)) == 80


def test_validate_sizes_capped_categories_as_the_fit_caps_them():
    rng = np.random.default_rng(0)
    df = binary_table(n=300)
    df["plane"] = np.where(rng.random(300) < 0.5, "A", [f"id{i}" for i in range(300)])
    df.loc[::7, "plane"] = "B"
    params = parse_params({"data": {"target": "label"}})
    clean, result = validate_table(df, TableSchema(), params)
    plane = df["plane"].nunique()
    assert result["model_size"]["capped"] == {"plane": [plane, 3]}  # A, B and "other"
    pre = Preprocessor("label", "binary", max_categories=100, min_frequency=5).fit_frame(clean)
    assert pre.categories_["plane"] == ["A", "B", "__other__"]
    assert result["model_size"]["encoded_features"] == len(pre.features_) == 2 + 3 + 3
    assert f"`plane` {plane} categories -> 3" in validation_markdown(result)


def dated_table(n: int = 200) -> pd.DataFrame:
    """A date column with a cell that is not a date every 25 rows, a feature with a null every
    25 rows (other rows), and an identifier a third empty."""
    df = binary_table(n=n)
    df["d"] = [f"2020-01-{1 + i % 28:02d}" if i % 25 else "soon" for i in range(n)]
    df.loc[3::25, "x1"] = np.nan
    df["name"] = [None if i % 3 == 0 else f"n{i}" for i in range(n)]
    return df


def auto_choice(path: Path, batch_rows: int, sections: dict) -> MissingChoice:
    """Pass 1 and the roles alone (no checks): what clean.missing: auto chooses."""
    params = parse_params({"data": {"target": "label"}, **sections})
    source, counted, evidence = RawFile(path, batch_rows), NullRows("label", []), RoleEvidence()
    types = column_types(source, TableSchema(), Report(), evidence, counted)
    plan = decide_roles(evidence, types, TableSchema(), params)
    return choose_missing(params, nulls_after_roles(source, types, plan, counted))


def test_auto_counts_the_rows_pass_2_will_clean_whatever_the_batch(tmp_path):
    """Nulls in a column the roles drop do not count; date cells that are not dates do (they
    become null only in pass 2); the reason names date columns, never their features."""
    df = dated_table()
    df.to_csv(tmp_path / "t.csv", index=False)
    choices = {auto_choice(tmp_path / "t.csv", rows, {}) for rows in (30, 200)}
    assert len(choices) == 1
    [choice] = choices
    assert choice.chosen == "impute" and choice.reason.startswith("16 of the 200 rows with a")
    assert "(emptiest: d 4%, x1 4%)" in choice.reason
    loose = parse_params({"data": {"target": "label"}, "clean": {"max_drop_share": 0.08}})
    clean, result = validate_table(df, TableSchema(), loose)
    assert result["missing"]["chosen"] == "drop" and len(clean) == 200 - 16
    # under clean.dates: drop the date column's cells do not count either
    choice = auto_choice(tmp_path / "t.csv", 64, {"clean": {"dates": "drop"}})
    assert choice.chosen == "drop" and choice.reason.startswith("8 of the 200 rows")


def test_a_big_drop_names_the_date_column_not_its_features():
    df = dated_table()
    df.loc[::2, "d"] = "never"
    params = parse_params({"data": {"target": "label"}, "clean": {"missing": "drop"}})
    schema = TableSchema.model_validate({"columns": {"d": {"type": "date"}}})
    _, result = validate_table(df, schema, params)
    rule = failed(result, "cleaning removes at most 20% of the rows")
    assert "(emptiest columns: d 52%, x1 4%)" in rule["observed"]


def test_the_category_count_is_the_same_for_any_batch_size(monkeypatch):
    """Counting stops at CATEGORIES_COUNTED + 1 categories (shown as 'more than'), wherever a
    batch ends."""
    monkeypatch.setattr(size_rules, "CATEGORIES_COUNTED", 10)
    df = pd.DataFrame({"c": [f"v{i}" for i in range(40)], "label": ["a", "b"] * 20})
    for max_categories in (None, 5):
        params = parse_params(
            {"data": {"target": "label"}, "encode": {"max_categories": max_categories}}
        )
        seen = set()
        for rows in (3, 7, 12, 40):
            facts = size_rules.TableFacts(params, TableSchema(), df)
            for start in range(0, len(df), rows):
                facts.add(df.iloc[start : start + rows])
            seen.add((str(facts.capped_columns()), facts.encoded_width()))
        assert len(seen) == 1
    assert facts.capped_columns() == {"c": [11, 6]}
    assert (
        "`c` more than 10 categories -> 6" in size_rules.size_notes({"capped": {"c": [11, 6]}})[0]
    )
