"""Bad input files through the CLI: each exits non-zero, names the file, column or rule on stderr
without a traceback, writes the reports and no table."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.__main__ import main
from pipeline.checks import rawfile
from pipeline.core import io

from ..conftest import binary_table

TABLE = "data/raw/t.csv"


def good() -> pd.DataFrame:
    return binary_table(n=80)


def csv_text(df: pd.DataFrame) -> str:
    return df.to_csv(index=False)


def with_value(column: str, row: int, value: object) -> Callable[[], str]:
    def make() -> str:
        df = good()
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return csv_text(df)

    return make


def edit_line(line: int, edit: Callable[[str], str]) -> Callable[[], str]:
    """Change one line of the CSV text (line 0 is the header)."""

    def make() -> str:
        lines = csv_text(good()).splitlines()
        lines[line] = edit(lines[line])
        return "\n".join(lines) + "\n"

    return make


def all_null(column: str) -> Callable[[], str]:
    def make() -> str:
        df = good()
        df[column] = None
        return csv_text(df)

    return make


# case: (file content: text or bytes, target, fragments stderr must hold)
CASES: dict[str, tuple[Callable[[], str | bytes] | None, str, list[str]]] = {
    "empty file": (lambda: "", "label", ["readable failed", "is empty"]),
    "header only": (
        lambda: "x1,x2,color,label\n",
        "label",
        ["rows >= validate.min_rows (30) failed; observed 0"],
    ),
    "missing target": (lambda: csv_text(good()), "price", ["column 'price': column_exists"]),
    "target all null": (
        all_null("label"),
        "label",
        ["column 'label': not entirely null", "rows >= validate.min_rows"],
    ),
    "single class": (
        lambda: csv_text(good().assign(label="yes")),
        "label",
        ["column 'label': classes >= 2 failed; observed 1"],
    ),
    "text in a numeric column": (
        with_value("x1", 7, "oops"),
        "label",
        ["column 'x1': numeric_type broken by 1 value(s) (row 7 = 'oops')"],
    ),
    "inf values": (
        with_value("x2", 3, np.inf),
        "label",
        [
            "column 'x2': finite, within ±1e+15 (validate.max_abs) broken by 1 value(s) (row 3 = "
            "'inf')"
        ],
    ),
    "a row with too many fields": (
        edit_line(5, lambda line: line + ",extra"),
        "label",
        ["fields per row == 4 (the header's) broken by 1 value(s) (row 4 = '5 fields')"],
    ),
    "a row with too few fields": (
        edit_line(9, lambda line: line.rsplit(",", 1)[0]),
        "label",
        ["fields per row == 4 (the header's) broken by 1 value(s) (row 8 = '3 fields')"],
    ),
    "bytes that are not UTF-8": (
        lambda: csv_text(good()).replace("red", "r\xe9d", 1).encode("latin-1"),
        "label",
        ["readable failed", "line ", "not UTF-8"],
    ),
    "fewer rows than the minimum": (
        lambda: csv_text(good().head(20)),
        "label",
        ["rows >= validate.min_rows (30) failed; observed 20"],
    ),
    "duplicate column names": (
        edit_line(0, lambda line: line.replace("x2", "x1")),
        "label",
        ["unique column names failed; observed repeated in the header: ['x1']"],
    ),
    "a column that is entirely null": (
        all_null("x2"),
        "label",
        ["column 'x2': not entirely null failed"],
    ),
    "gzip bytes": (
        lambda: gzip.compress(csv_text(good()).encode(), mtime=0),
        "label",
        ["readable failed", "holds gzip bytes, not a CSV text table"],
    ),
    "a path that does not exist": (None, "label", ["readable failed", "does not exist"]),
    "a file that could be ',' or '|'-separated": (
        lambda: "".join(line.replace(",", "|", 1) for line in csv_text(good()).splitlines(True)),
        "label",
        ["readable failed", "could be ',' or '|'-separated", "set data.csv.delimiter"],
    ),
    "numbers written with either decimal mark": (
        lambda: "x1;label\n" + "1,5;yes\n2.5;no\n" * 20,
        "label",
        ["readable failed", "writes numbers both as '1,5' and as '2.5'; set data.csv.decimal"],
    ),
}


def run_validate(
    tmp_path: Path, content: str | bytes | None, target: str, dialect: dict | None = None
) -> int:
    """Write the table and params.yaml (data.csv: `dialect`) into tmp_path (the cwd) and run
    the CLI's validate."""
    (tmp_path / "data/raw").mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        (tmp_path / TABLE).write_bytes(content)
    elif content is not None:
        (tmp_path / TABLE).write_text(content)
    (tmp_path / "params.yaml").write_text(
        yaml.safe_dump({"data": {"path": TABLE, "target": target, "csv": dialect or {}}})
    )
    return main(["validate"])


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_validate_with_a_named_problem(case, tmp_path, monkeypatch, capsys):
    make, target, fragments = CASES[case]
    monkeypatch.chdir(tmp_path)
    code = run_validate(tmp_path, None if make is None else make(), target)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: validate: {TABLE}: ")
    for fragment in fragments:
        assert fragment in err
    assert "Traceback" not in err
    assert not io.VALIDATED.exists()
    report = json.loads(io.VALIDATION_REPORT.read_text())
    assert report["passed"] is False and report["input"] == TABLE
    assert "**FAILED**" in io.VALIDATION_REPORT.with_suffix(".md").read_text()
    assert list(tmp_path.rglob("*.tmp")) == []


def test_every_problem_is_reported_not_just_the_first(tmp_path, monkeypatch, capsys):
    df = good()
    df["x1"] = df["x1"].astype(object)
    df.loc[2, "x1"] = "oops"
    df.loc[4, "x2"] = np.inf
    df["empty"] = None
    monkeypatch.chdir(tmp_path)
    code = run_validate(tmp_path, csv_text(df), "label")
    err = capsys.readouterr().err
    assert code == 1 and "3 rule(s) failed" in err
    failed = {
        (r["rule"], r["column"])
        for r in json.loads(io.VALIDATION_REPORT.read_text())["rules"]
        if not r["passed"] and r["severity"] == "fail"
    }
    assert failed == {
        ("numeric_type", "x1"),
        ("finite, within ±1e+15 (validate.max_abs)", "x2"),
        ("not entirely null", "empty"),  # every row holds a null: clean.missing auto keeps them
    }


def test_warnings_are_reported_and_the_table_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = run_validate(tmp_path, csv_text(good()), "label")
    captured = capsys.readouterr()
    assert code == 0
    assert "validate: warning: training rows >= 10 x model parameters" in captured.err
    assert "1 warning(s)" in captured.out
    assert len(io.read_table(io.VALIDATED)) == 80
    report = json.loads(io.VALIDATION_REPORT.read_text())
    assert report["passed"] is True and report["warnings"] == 1


def test_a_failed_run_removes_the_table_of_an_earlier_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_validate(tmp_path, csv_text(good()), "label") == 0
    assert io.VALIDATED.exists() and io.TASK.exists()
    assert run_validate(tmp_path, csv_text(good().head(5)), "label") == 1
    assert not io.VALIDATED.exists() and not io.TASK.exists()


def test_a_semicolon_file_with_decimal_commas_validates_as_its_comma_twin(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert run_validate(tmp_path, csv_text(good()), "label") == 0
    twin = io.read_table(io.VALIDATED)
    assert io.read_json(io.CLEANING)["dialect"] == {"delimiter": ",", "decimal": "."}
    capsys.readouterr()
    assert run_validate(tmp_path, good().to_csv(index=False, sep=";", decimal=","), "label") == 0
    said = "';' between fields (detected: data.csv.delimiter auto), ',' as decimal mark"
    assert f"validate: {TABLE}: {said}" in capsys.readouterr().err
    pd.testing.assert_frame_equal(io.read_table(io.VALIDATED), twin)
    # recorded for predict, which compares its input's with it
    assert io.read_json(io.CLEANING)["dialect"] == {"delimiter": ";", "decimal": ","}
    assert said in io.VALIDATION_REPORT.with_suffix(".md").read_text()


def test_a_set_delimiter_that_does_not_fit_names_the_one_that_does(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    european = good().to_csv(index=False, sep=";", decimal=",")
    assert run_validate(tmp_path, european, "label", {"delimiter": ","}) == 1
    err = capsys.readouterr().err
    assert ("fields per row == 1 (the header's) broken by 80 value(s) (row 0 = '3 fields', ") in err
    assert "the file looks ';'-separated: set data.csv.delimiter: ';'" in err
    assert not io.VALIDATED.exists() and list(tmp_path.rglob("*.tmp")) == []


def test_a_row_too_long_to_read_is_named_by_its_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rawfile, "CSV_BLOCK_BYTES", 1024)
    monkeypatch.setattr(rawfile, "CSV_MAX_BLOCK_BYTES", 2048)
    monkeypatch.chdir(tmp_path)
    df = good()
    df["color"] = df["color"].astype(object)
    df.loc[40, "color"] = "red\n" * 2000  # a quoted value of 8000 bytes over 2001 lines
    assert run_validate(tmp_path, csv_text(df), "label") == 1
    err = capsys.readouterr().err
    assert "readable failed; observed data/raw/t.csv: line 42 (data row 40) holds a row of" in err
    assert "Traceback" not in err
    assert not io.VALIDATED.exists() and list(tmp_path.rglob("*.tmp")) == []
