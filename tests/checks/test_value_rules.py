"""Values that would break a later stage stop validate (issue 27): nested columns, numbers past
validate.max_abs, a constant regression target; and the writers that refuse NaN/inf, so no
stage can write one."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipeline.__main__ import main
from pipeline.checks.new_rows import check_bound
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.schema import TableSchema

from ..conftest import binary_table, regression_table
from ..helpers import validate_table

BOUND = "finite, within ±1e+15 (validate.max_abs)"
VARIES = "varies (regression target, data.target)"


def failed(result: dict) -> dict[tuple[str, str | None], dict]:
    return {(r["rule"], r["column"]): r for r in result["rules"] if not r["passed"]}


def run_cli(root: Path, table: pa.Table | pd.DataFrame, params: dict, schema: dict | None = None):
    """Write the table (Parquet), its schema file and params.yaml into `root` (the cwd); run
    validate through the CLI."""
    (root / "data/raw").mkdir(parents=True)
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False)
    pq.write_table(table, root / "data/raw/t.parquet")
    if schema is not None:
        (root / "data/raw/t.schema.yaml").write_text(yaml.safe_dump(schema))
    data = {"path": "data/raw/t.parquet", **params}
    (root / "params.yaml").write_text(yaml.safe_dump({"data": data}))
    return main(["validate"])


def assert_nothing_written(root: Path) -> None:
    for path in (io.VALIDATED, io.CLEANING, io.TASK):
        assert not path.exists()
    assert list(root.rglob("*.tmp")) == []
    assert json.loads(io.VALIDATION_REPORT.read_text())["passed"] is False


def nested_table(n: int = 60) -> pa.Table:
    df = binary_table(n=n)
    table = pa.Table.from_pandas(df, preserve_index=False)
    lists = pa.array([[i, i + 1] if i % 7 else None for i in range(n)], pa.list_(pa.int64()))
    structs = pa.array([{"a": i, "b": "x"} for i in range(n)])
    return table.append_column("tags", lists).append_column("meta", structs)


def test_nested_columns_stop_validate_naming_column_and_arrow_type(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_cli(tmp_path, nested_table(), {"target": "label"}) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "column 'tags': flat values (no list, struct or map) broken by 51 value(s)" in err
    assert "(row 1 = '[1, 2]', row 2 = '[2, 3]'" in err
    assert "Arrow type list<element: int64>" in err and "drop: in the schema file" in err
    assert "column 'meta': flat values" in err and "Arrow type struct<a: int64, b: string>" in err
    assert_nothing_written(tmp_path)


def test_the_drafted_schema_drops_nested_columns_and_then_validate_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(tmp_path, nested_table(), {"target": "label"}) == 1
    assert main(["schema", "--infer"]) == 0
    assert "\ndrop: [tags, meta] " in (tmp_path / "data/raw/t.schema.yaml").read_text()
    assert main(["validate"]) == 0
    assert list(io.read_table(io.VALIDATED).columns) == ["x1", "x2", "color", "label"]


@pytest.mark.parametrize("value", [1e300, -1e16, np.inf, -np.inf])
def test_a_number_past_max_abs_stops_validate_with_its_row(tmp_path, monkeypatch, capsys, value):
    monkeypatch.chdir(tmp_path)
    df = binary_table(n=60)
    df.loc[[4, 9], "x2"] = value
    assert run_cli(tmp_path, df, {"target": "label"}) == 1
    err = capsys.readouterr().err
    shown = repr(value if np.isfinite(value) else str(value))
    assert f"column 'x2': {BOUND} broken by 2 value(s) (row 4 = {shown}, row 9 = {shown})" in err
    assert_nothing_written(tmp_path)


def test_max_abs_is_a_param_and_nulls_and_the_bound_itself_pass():
    df = binary_table(n=60)
    df.loc[3, "x1"] = 1e15
    df.loc[5, "x1"] = None
    clean, result = validate_table(df, TableSchema(), parse_params({"data": {"target": "label"}}))
    assert result["passed"] and clean is not None
    df.loc[3, "x1"] = 1e20
    params = parse_params({"data": {"target": "label"}, "validate": {"max_abs": 1e21}})
    clean, result = validate_table(df, TableSchema(), params)
    assert clean is not None
    assert "finite, within ±1e+21 (validate.max_abs)" in {r["rule"] for r in result["rules"]}


def test_the_bound_is_in_the_units_the_table_is_converted_to():
    df = binary_table(n=60)
    df.loc[3, "x1"] = 1e20  # 1e14 after scale 1e-6
    schema = TableSchema.model_validate({"units": {"x1": {"scale": 1e-6}}})
    clean, result = validate_table(df, schema, parse_params({"data": {"target": "label"}}))
    assert clean is not None and clean.loc[3, "x1"] == pytest.approx(1e14)
    df.loc[3, "x1"] = 1e22
    clean, result = validate_table(df, schema, parse_params({"data": {"target": "label"}}))
    rule = failed(result)[
        ("finite, within ±1e+21 (validate.max_abs 1e+15 / units scale 1e-06)", "x1")
    ]
    assert rule["examples"] == [{"row": 3, "value": 1e22}]


@pytest.mark.parametrize("value", [1e300, np.inf])
def test_a_regression_target_past_max_abs_stops_validate(value):
    df = regression_table(n=60)
    df.loc[11, "y"] = value
    params = parse_params({"data": {"target": "y", "task": "regression"}})
    clean, result = validate_table(df, TableSchema(), params)
    assert clean is None
    rule = failed(result)[(BOUND, "y")]
    assert rule["examples"][0]["row"] == 11


@pytest.mark.parametrize("task", ["regression", "auto"])
def test_a_constant_regression_target_stops_validate(task, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    df = regression_table(n=60).assign(y=3.5)
    assert run_cli(tmp_path, df, {"target": "y", "task": task}) == 1
    err = capsys.readouterr().err
    assert f"column 'y': {VARIES} failed; observed every one of its 60 rows holds 3.5" in err
    assert_nothing_written(tmp_path)


def test_a_varied_regression_target_passes_the_rule():
    params = parse_params({"data": {"target": "y"}})
    clean, result = validate_table(regression_table(n=60), TableSchema(), params)
    assert clean is not None
    assert next(r for r in result["rules"] if r["rule"] == VARIES)["observed"] == (
        "60 distinct values"
    )


def test_write_json_refuses_nan_and_inf_naming_the_key(tmp_path):
    path = tmp_path / "m.json"
    with pytest.raises(PipelineError, match=r"m\.json': val\.scale\[1\] is nan, not a finite"):
        io.write_json({"val": {"rmse": 1.0, "scale": [1.0, float("nan")]}}, path)
    with pytest.raises(PipelineError, match=r"rmse is inf, not a finite number; nothing"):
        io.write_json({"rmse": float("inf")}, path)
    assert list(tmp_path.iterdir()) == []
    io.write_json({"r2": None}, path)  # undefined is null
    assert json.loads(path.read_text()) == {"r2": None}


def test_tables_refuse_infinite_numbers_and_keep_nulls(tmp_path):
    path = tmp_path / "t.parquet"
    frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": np.float32([0, 1, -np.inf])})
    frame.index = pd.Index([10, 11, 12], name=io.ROW)
    refused = pytest.raises(PipelineError, match=r"column 'b' holds an infinite value \(row 12\)")
    with refused, io.TableWriter(path) as out:
        out.write(frame.iloc[:2])
        out.write(frame.iloc[2:])
    with pytest.raises(PipelineError, match="column 'b'"):
        io.write_csv(frame, tmp_path / "t.csv")
    assert list(tmp_path.iterdir()) == []
    with io.TableWriter(path) as out:
        out.write(frame.iloc[:2])
    assert io.read_table(path)["a"].isna().tolist() == [False, True]


def test_predict_refuses_new_numbers_past_the_bound_of_training():
    pre = SimpleNamespace(numeric_=["mass"])
    df = pd.DataFrame({"mass": [1.0, 2e15, np.nan]}, index=[5, 6, 7])
    with pytest.raises(PipelineError, match=r"column 'grams' must hold numbers within ±1e\+15 "):
        check_bound(df, pre, {"mass": "grams"}, 1e15)
    check_bound(df, pre, {"mass": "grams"}, None)  # a model saved before the bound
    check_bound(df.drop(index=6), pre, {"mass": "grams"}, 1e15)
