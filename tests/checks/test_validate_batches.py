"""validate reads the table in batches: the outputs do not depend on the batch size, and a
column's type is decided once for the whole table (numbers with stray text are numbers)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.__main__ import main
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.schema import TableSchema, load_schema
from pipeline.stages import validate

from ..conftest import ROOT
from ..helpers import validate_table

OUTPUTS = (io.VALIDATED, io.VALIDATION_REPORT, io.VALIDATION_REPORT.with_suffix(".md"))


def run_stage(project: Path, params: dict) -> dict[Path, bytes]:
    """validate.run in `project` (the cwd); the bytes of each output that exists."""
    with contextlib.suppress(PipelineError):
        validate.run(parse_params(params))
    return {p: (project / p).read_bytes() for p in (*OUTPUTS, io.TASK) if (project / p).exists()}


def messy_table() -> pd.DataFrame:
    """Nulls, exact duplicates far apart, a repeated id, text in a numeric column."""
    rng = np.random.default_rng(3)
    n = 60
    df = pd.DataFrame(
        {
            "id": np.arange(n),
            "x": rng.normal(size=n).round(3),
            "size": rng.choice(["S", "M", "L", "10"], size=n),
            "n": rng.integers(0, 5, size=n),
            "label": rng.choice(["yes", "no"], size=n),
        }
    )
    df.loc[[4, 33], "x"] = np.nan
    df.loc[50, "size"] = None
    df.loc[41, "id"] = 7  # a repeat of row 7's id, in another batch
    df.loc[45] = df.loc[2]  # exact duplicates of row 2
    df.loc[58] = df.loc[2]
    return df


def write_project(tmp_path: Path, df: pd.DataFrame, name: str, schema: dict | None) -> str:
    (tmp_path / "data/raw").mkdir(parents=True, exist_ok=True)
    path = f"data/raw/{name}"
    if name.endswith(".csv"):
        df.to_csv(tmp_path / path, index=False)
    else:
        df.to_parquet(tmp_path / path)
    if schema is not None:
        (tmp_path / f"data/raw/{Path(name).stem}.schema.yaml").write_text(yaml.safe_dump(schema))
    return path


MESSY_SCHEMA = {"columns": {"id": {"unique": True}, "n": {"min": 1, "type": "numeric"}}}
PASSING = {"clean": {"missing": "impute", "duplicates": "drop"}, "validate": {"min_rows": 10}}


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batch_rows=st.integers(min_value=3, max_value=25),
    failing=st.booleans(),
    duplicates=st.sampled_from(["keep", "drop"]),
)
def test_outputs_are_the_same_bytes_whatever_the_batch_size(
    batch_rows, failing, duplicates, tmp_path_factory, monkeypatch
):
    """A table with nulls and duplicates, failing (a repeated id, values below a minimum, text
    in a column of numbers) or passing: the same report and table for small batches as for one
    batch."""
    outputs = {}
    for rows in (batch_rows, 1_000_000):
        project = tmp_path_factory.mktemp("project")
        monkeypatch.chdir(project)
        table = messy_table()
        if failing:  # and text in a column of numbers (no schema rule names it)
            table["x"] = table["x"].astype(object)
            table.loc[30, "x"] = "long"
        path = write_project(project, table, "t.csv", MESSY_SCHEMA if failing else {"drop": ["id"]})
        params = {"data": {"path": path, "target": "label", "batch_rows": rows}, **PASSING}
        params["clean"] = {**PASSING["clean"], "duplicates": duplicates}
        outputs[rows] = run_stage(project, params)
    small, whole = outputs.values()
    assert small == whole
    report = json.loads(whole[io.VALIDATION_REPORT])
    assert report["passed"] is not failing
    assert (io.VALIDATED in whole) is not failing
    assert report["cleaning"]["duplicates"]["example_rows"] == [45, 58]
    if failing:
        broken = {(r["rule"], r["column"]): r for r in report["rules"] if not r["passed"]}
        unique = broken["unique", "id"]  # every occurrence, as GX counts them
        assert unique["unexpected_count"] == 5
        assert [(e["row"], e["value"]) for e in unique["examples"]] == [
            (2, 2), (7, 7), (41, 7), (45, 2), (58, 2)
        ]  # fmt: skip
        assert broken["min >= 1", "n"]["unexpected_count"] > 0
        assert broken["numeric_type", "x"]["examples"] == [{"row": 30, "value": "long"}]


def test_penguins_give_the_same_bytes_in_tiny_batches_as_in_one(tmp_path, monkeypatch):
    outputs = []
    for rows in (29, 1_000_000):
        project = tmp_path / str(rows)
        (project / "data/raw").mkdir(parents=True)
        for name in ("penguins.csv", "penguins.schema.yaml"):
            (project / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
        monkeypatch.chdir(project)
        outputs.append(run_stage(project, {"data": {"batch_rows": rows}}))
    assert outputs[0] == outputs[1]
    assert set(outputs[0]) == {*OUTPUTS, io.TASK}
    assert json.loads(outputs[0][io.TASK]) == {
        "target": "species",
        "task": "multiclass",
        "reason": "non-numeric target with 3 classes",
    }


def stray_text_table() -> pd.DataFrame:
    """Penguin-like rows where 1 in 7 bill lengths is the word 'long'."""
    rng = np.random.default_rng(0)
    n = 70
    bill = rng.uniform(32, 60, size=n).round(1).astype(object)
    bill[::7] = "long"
    return pd.DataFrame(
        {
            "bill_length_mm": bill,
            "code": rng.choice(["A1", "B2", "C3"], size=n),
            "species": rng.choice(["Adelie", "Gentoo"], size=n),
        }
    )


def test_numbers_with_stray_text_are_a_numeric_column_with_errors_not_categories(
    tmp_path, monkeypatch, capsys
):
    """No schema file: 'long' in 1 of 7 rows of a number column is reported with its rows, in
    every batch; it is not one-hot encoded as 60-odd categories. Codes stay categorical."""
    monkeypatch.chdir(tmp_path)
    path = write_project(tmp_path, stray_text_table(), "p.csv", None)
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"data": {"path": path, "batch_rows": 16}})
    )
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert (
        "column 'bill_length_mm': numeric_type broken by 10 value(s) (row 0 = 'long', "
        "row 7 = 'long', row 14 = 'long', row 21 = 'long', row 28 = 'long'); observed 85.7% "
        "of values are numbers" in err
    )
    report = json.loads(io.VALIDATION_REPORT.read_text())
    assert not [r for r in report["rules"] if r["column"] == "code" and not r["passed"]]
    assert not io.VALIDATED.exists() and not io.TASK.exists()

    assert main(["schema", "--infer"]) == 0
    schema, _ = load_schema(path)
    assert schema.columns["bill_length_mm"].type == "numeric"
    assert schema.columns["code"].type == "categorical"
    assert schema.columns["code"].allowed == ["A1", "B2", "C3"]


def test_a_column_is_typed_once_for_the_whole_table_in_parquet_too(tmp_path, monkeypatch):
    """Whole numbers with a null only in a late batch are float64 in every batch (as pandas
    reads the table); a dictionary column reads as text; a stored pandas index is dropped."""
    df = pd.DataFrame(
        {
            "k": pd.array([1, 2, 3] * 20, dtype="Int64"),
            "c": pd.Categorical(["a", "b"] * 30),
            "label": ["p", "q", "r"] * 20,
        },
        index=pd.Index(range(100, 160), name="key"),
    )
    df.loc[158, "k"] = pd.NA
    monkeypatch.chdir(tmp_path)
    path = write_project(tmp_path, df, "t.parquet", None)
    params = {"data": {"path": path, "target": "label", "batch_rows": 8}}
    params["clean"] = {"missing": "impute"}
    run_stage(tmp_path, params)
    table = io.read_table(io.VALIDATED)
    assert list(table.columns) == ["k", "c", "label"]
    assert table["k"].dtype == np.float64 and table["k"].isna().sum() == 1
    assert table["c"].dtype == "str" and table.index[-1] == 59
    assert pq.ParquetFile(io.VALIDATED).schema_arrow.field("c").type == pa.large_string()


@pytest.mark.parametrize(("rows", "ragged"), [(4, 9), (1000, 9), (4, 30)])
def test_ragged_rows_are_named_by_their_data_row_whatever_the_batch(
    tmp_path, monkeypatch, capsys, rows, ragged
):
    df = messy_table()
    lines = df.to_csv(index=False).splitlines()
    lines[ragged + 1] += ",extra"
    lines.insert(5, "")  # a blank line is not a row
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/t.csv").write_text("\n".join(lines) + "\n")
    params = {"data": {"path": "data/raw/t.csv", "target": "label", "batch_rows": rows}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["validate"]) == 1
    assert f"(row {ragged} = '6 fields')" in capsys.readouterr().err


def test_hash_index_finds_every_repeat_across_many_adds():
    from pipeline.core.row_hashes import HashIndex

    rng = np.random.default_rng(1)
    spread = np.uint64(0x9E3779B97F4A7C15)  # odd: distinct values stay distinct, in every part
    values = rng.integers(0, 400, size=2000).astype(np.uint64) * spread
    index = HashIndex()
    seen: dict[int, int] = {}
    for start in range(0, len(values), 37):
        part = values[start : start + 37]
        rows = np.arange(start, start + len(part))
        first = index.seen(part, rows)
        expected = []
        for value, row in zip(part.tolist(), rows.tolist(), strict=True):
            expected.append(seen.get(value, -1))
            seen.setdefault(value, row)
        assert first.tolist() == expected
    assert len(index) == len(seen)


def test_an_identifier_column_is_not_counted_past_a_bound(monkeypatch):
    """Categories of a one-hot feature are counted up to a bound (memory); past it the model
    size is a lower bound and the report says which column to drop (without a category cap;
    with one, the cap bounds the column's inputs). (`ref` is declared categorical: inferred, it
    would be an identifier and dropped.)"""
    from pipeline.checks import size_rules

    monkeypatch.setattr(size_rules, "CATEGORIES_COUNTED", 10)
    df = pd.DataFrame({"x": np.arange(100.0), "ref": [f"r{i}" for i in range(100)]})
    df["y"] = ["a", "b"] * 50
    data = {"target": "y", "batch_rows": 16}
    schema = TableSchema.model_validate({"columns": {"ref": {"type": "categorical"}}})
    _, result = validate_table(
        df,
        schema,
        parse_params({"data": data, "encode": {"max_categories": None}}),
    )
    sizing = next(r for r in result["rules"] if "rows_per_parameter" in r["rule"])
    assert "at least: ['ref'] have more than 10 categories" in sizing["observed"]
    assert result["model_size"]["encoded_features"] == 1 + 11  # 11: "more than 10"
    capped = parse_params({"data": data, "encode": {"max_categories": 20}})
    _, result = validate_table(df, schema, capped)
    sizing = next(r for r in result["rules"] if "rows_per_parameter" in r["rule"])
    assert "at least" not in sizing["observed"]
    assert result["model_size"]["encoded_features"] == 1 + 20 + 1


def test_a_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path, monkeypatch):
    df = messy_table()[["label", "x", "n"]]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/raw/t.csv").write_text(df.to_csv(index=False), encoding="utf-8-sig")
    params = {"data": {"path": "data/raw/t.csv", "target": "label"}, "validate": {"min_rows": 10}}
    run_stage(tmp_path, params)
    assert list(io.read_table(io.VALIDATED).columns) == ["label", "x", "n"]
