"""CSV files as they come: the delimiter and decimal mark detected (or set by data.csv), a row
longer than the reader's block read with larger blocks, a longer one named by line."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.checks import rawfile
from pipeline.checks.dialect import HEAD_BYTES, Dialect, differs
from pipeline.checks.rawfile import RawFile, Unreadable
from pipeline.core.params import CsvParams


def read(path: Path, batch_rows: int = 1000, **dialect: str) -> pd.DataFrame:
    """The file's text cells, as RawFile reads them."""
    return pd.concat(RawFile(path, batch_rows, CsvParams(**dialect)).batches())


# Text cells holding every candidate delimiter, quotes and line breaks, but no digits (a digit
# might make a cell look like a number with the other decimal mark).
TEXT = st.text(alphabet=string.ascii_letters + ' ,;|\t\n"', max_size=8)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    numbers=st.lists(
        st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1, max_size=6
    ),
    text=st.lists(TEXT, min_size=7, max_size=7),
    delimiter=st.sampled_from([";", "\t", "|"]),
    decimal=st.sampled_from([",", "."]),
)
def test_a_file_in_another_dialect_reads_as_the_comma_and_point_one(
    tmp_path, numbers, text, delimiter, decimal
):
    numbers = [0.5, *numbers]  # one written with a decimal mark, whatever the others
    df = pd.DataFrame({"num": numbers, "text": text[: len(numbers)], "label": "a"})
    df.to_csv(tmp_path / "plain.csv", index=False)
    df.to_csv(tmp_path / "other.csv", index=False, sep=delimiter, decimal=decimal)
    raw = RawFile(tmp_path / "other.csv", 2)
    assert raw.dialect.delimiter == delimiter
    assert raw.dialect.decimal == decimal
    pd.testing.assert_frame_equal(pd.concat(raw.batches()), read(tmp_path / "plain.csv"))


def test_what_was_detected_is_said(tmp_path):
    (tmp_path / "t.csv").write_text("a;b\n1,5;x\n")
    dialect = RawFile(tmp_path / "t.csv", 10).dialect
    assert dialect.detected
    assert dialect.said == (
        "';' between fields (detected: data.csv.delimiter auto), ',' as decimal mark "
        "(detected: data.csv.decimal auto)"
    )
    (tmp_path / "p.csv").write_text("a,b\n1.5,x\n")
    assert not RawFile(tmp_path / "p.csv", 10).dialect.detected  # the defaults: nothing said


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b|c\n1,2|3\n", "could be ',' or '|'-separated (each splits every line of its head"),
        ("a;b\n1,5;2.5\n", "writes numbers both as '1,5' and as '2.5'; set data.csv.decimal"),
    ],
)
def test_a_dialect_auto_cannot_tell_stops_naming_the_key(tmp_path, text, message):
    (tmp_path / "t.csv").write_text(text)
    with pytest.raises(Unreadable, match=r"set data\.csv") as caught:
        RawFile(tmp_path / "t.csv", 10)
    assert message in str(caught.value)


def test_set_keys_win_over_detection_and_a_misfit_names_the_one_that_fits(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b|c\n1,2|3\n")
    # the decimal mark is still detected: 1,2 is a number in a '|'-separated file
    assert read(path, delimiter="|").to_dict("list") == {"a,b": ["1.2"], "c": ["3"]}
    path.write_text("a;b\n1,5;2\n3,25;4\n")
    raw = RawFile(path, 10, CsvParams(delimiter=","))
    assert raw.dialect.hint == "; the file looks ';'-separated: set data.csv.delimiter: ';'"
    assert read(path, decimal=".").to_dict("list") == {"a": ["1,5", "3,25"], "b": ["2", "4"]}


def test_a_row_longer_than_the_block_is_read_with_larger_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(rawfile, "CSV_BLOCK_BYTES", 1024)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300).round(3).astype(str), "note": "n"})
    df.loc[100, "note"] = "long,\n" * 1000  # 6000 bytes, a quoted line break and delimiter
    df.to_csv(tmp_path / "t.csv", index=False)
    raw = RawFile(tmp_path / "t.csv", 7)
    got = pd.concat(raw.batches())
    assert raw._block_bytes > 1024  # grew
    expected = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    assert got.reset_index(drop=True).equals(expected)


def test_a_row_longer_than_the_largest_block_is_named_by_line(tmp_path, monkeypatch):
    monkeypatch.setattr(rawfile, "CSV_BLOCK_BYTES", 1024)
    monkeypatch.setattr(rawfile, "CSV_MAX_BLOCK_BYTES", 4096)
    lines = ["x,note", *(f"{i},n" for i in range(20)), f'20,"{"y" * 9000}"', "21,n"]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(Unreadable) as caught:
        list(RawFile(tmp_path / "t.csv", 5).batches())
    assert str(caught.value) == (
        "line 22 (data row 20) holds a row of about 9004 bytes, longer than the CSV reader's "
        "largest block (4096 bytes) can take; shorten that value, or save the table as Parquet"
    )


def test_predict_takes_training_s_dialect_where_the_input_s_head_cannot_tell(tmp_path):
    # whole numbers only in the head; a label written "3,5" past it
    path = tmp_path / "new.csv"
    path.write_text("x;size\n" + "1;S\n" * (HEAD_BYTES // 4) + "2;3,5\n")
    trained = Dialect(";", ",")
    raw = RawFile(path, 1 << 20, known=trained)
    assert raw.dialect.as_json() == trained.as_json()
    assert "',' as decimal mark (data.csv.decimal auto, as in training" in raw.dialect.said
    assert pd.concat(raw.batches())["size"].iloc[-1] == "3.5"  # as validate read it
    assert pd.concat(RawFile(path, 1 << 20).batches())["size"].iloc[-1] == "3,5"  # guessed
    assert differs(raw.dialect, trained.as_json()) is None
    # several delimiters fit the head: training's is taken, not refused
    (tmp_path / "two.csv").write_text("a,b|c\n1,2|3\n")
    assert RawFile(tmp_path / "two.csv", 10, known=Dialect("|", ".")).dialect.delimiter == "|"
    with pytest.raises(Unreadable):
        RawFile(tmp_path / "two.csv", 10, known=Dialect(";", "."))


def test_an_input_read_another_way_than_training_is_said():
    used = Dialect(";", ",", said="';' between fields (detected: data.csv.delimiter auto), ...")
    warning = differs(used, {"delimiter": ",", "decimal": "."})
    assert warning.startswith(f"read with {used.said}, but the training table had ',' between")
    assert "'.' as decimal mark (models/preprocess/cleaning.json)" in warning
    assert "set data.csv.delimiter and data.csv.decimal" in warning
    assert differs(used, None) is None  # trained on Parquet, or before the dialect was saved
