"""Markdown tables stay tables whatever their cells hold: one escape (`pipeline.core.markdown`)
for every report, shown on the escape itself and on preview.md with a quoted line break."""

from __future__ import annotations

import re

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.markdown import cell
from pipeline.core.tables import LABEL
from pipeline.features.preview import preview_markdown

from ..helpers import read_raw

# A table row's cells as GitHub splits them: a backslash escapes the next character, an
# unescaped pipe is a border.
CELL = re.compile(r"(?:\\.|[^|\\])*")


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text).replace("<br>", "\n")


@given(st.text())
def test_an_escaped_cell_is_one_cell_on_one_line(value):
    escaped = cell(value)
    assert "\n" not in escaped and "\r" not in escaped
    assert CELL.fullmatch(escaped)  # no pipe left unescaped, no backslash left dangling
    if "<br>" not in value:  # what it shows: the value, each line break as one
        assert unescape(escaped) == value.replace("\r\n", "\n").replace("\r", "\n")


def test_preview_keeps_one_row_per_line_with_a_quoted_line_break(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('note,x,label\n"two\nlines",1.5,a\n"a | pipe",2,b\n', newline="")
    raw = read_raw(path)
    encoded = pd.DataFrame({"x": [0.1, 0.2], LABEL: [0, 1]})
    page = preview_markdown(raw, encoded, {"target": "label", "features": ["x"], "classes": ["a"]})
    table = [line for line in page.splitlines() if line.startswith("|")]
    assert len(table) == 4  # header, rule, two rows
    assert table[2] == "| 0 | two<br>lines | 1.5 | **a** | → | 0.1 | **0** |"
    assert table[3] == "| 1 | a \\| pipe | 2 | **b** | → | 0.2 | **1** |"
