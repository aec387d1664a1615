"""A CSV file's dialect: the character between fields and the decimal mark, as data.csv sets them
or, where it says `auto`, as the head of the file shows them.

The head is the file's first HEAD_BYTES, parsed with each candidate delimiter (`,` `;` tab `|`,
quotes as the CSV reader reads them, so a quoted newline or delimiter is text). A delimiter fits
when it splits the header into 2 or more fields and every complete row of the head into as many.
One fitting delimiter is taken; none leaves `,` (a table of one column, or a file whose ragged
rows validate names); more than one is ambiguous and stops, naming data.csv.delimiter. The
decimal mark is `,` when the delimiter is not `,` and the head's numbers are written `1,5` (never
`1.5`); both kinds stop, naming data.csv.decimal.

validate records what it read the table with (models/preprocess/cleaning.json: `dialect`).
`predict` still detects its --input's dialect (a file exported anew may differ), but where the
head cannot tell (no delimiter fits, or several including training's; no number with a decimal
mark) it takes training's, so a cell written `3,5` reads as it did in training; a dialect that
differs from training's is said as a warning.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CANDIDATES = (",", ";", "\t", "|")
HEAD_BYTES = 1 << 16
# A cell that is a number with a decimal comma, or with a decimal point.
COMMA_NUMBER = re.compile(r"[+-]?\d+,\d+")
POINT_NUMBER = re.compile(r"[+-]?\d+\.\d+")

# The csv module's field limit (128 KiB by default) would stop a scan at a large cell; the
# reader's block size bounds a row anyway (`pipeline.checks.rawfile`).
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    decimal: str = "."
    said: str = "',' between fields, '.' as decimal mark"  # what was used, and why
    detected: bool = False  # auto found something other than `,` and `.`
    hint: str = ""  # another delimiter that fits the head where this one does not

    def as_json(self) -> dict[str, str]:
        """What validate records in models/preprocess/cleaning.json."""
        return {"delimiter": self.delimiter, "decimal": self.decimal}


def name(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else repr(delimiter)


def detect(
    path: Path, delimiter: str = "auto", decimal: str = "auto", known: Dialect | None = None
) -> Dialect:
    """The dialect of the CSV at `path` (checked to be text before); ValueError (its message
    names the data.csv key to set) when `auto` cannot tell. `known`: the training table's
    (predict), taken for an `auto` key where the head cannot tell."""
    head = _head(path)
    records = {d: _records(*head, d) for d in CANDIDATES}
    fitting = [d for d in CANDIDATES if _fits(records[d])]
    auto_delimiter, auto_decimal = delimiter == "auto", decimal == "auto"
    from_known: set[str] = set()  # keys the head cannot tell, taken from `known`
    unsure = not fitting or (len(fitting) > 1 and known is not None and known.delimiter in fitting)
    if auto_delimiter and known is not None and unsure:
        delimiter = known.delimiter
        from_known.add("delimiter")
    elif auto_delimiter:
        if len(fitting) > 1:
            shown = " or ".join(name(d) for d in fitting)
            raise ValueError(
                f"could be {shown}-separated (each splits every line of its head evenly); set "
                f"data.csv.delimiter to the right one"
            )
        delimiter = fitting[0] if fitting else ","
    others = [d for d in fitting if d != delimiter]
    hint = ""
    if others and not _fits(records[delimiter]):
        hint = (
            f"; the file looks {name(others[0])}-separated: set data.csv.delimiter: {others[0]!r}"
        )
    if auto_decimal:
        comma, point = _numbers(records[delimiter]) if delimiter != "," else ([], [])
        if comma and point:
            raise ValueError(
                f"writes numbers both as {comma[0]!r} and as {point[0]!r}; set data.csv.decimal "
                f"to the decimal mark: ',' or '.'"
            )
        decimal = "," if comma else "."
        if known is not None and delimiter != "," and not comma and not point:
            decimal = known.decimal
            from_known.add("decimal")

    def how(auto: bool, key: str) -> str:
        if key in from_known:
            return f"data.csv.{key} auto, as in training: the head does not tell"
        return f"detected: data.csv.{key} auto" if auto else f"data.csv.{key}"

    return Dialect(
        delimiter=delimiter,
        decimal=decimal,
        said=f"{name(delimiter)} between fields ({how(auto_delimiter, 'delimiter')}), "
        f"{decimal!r} as decimal mark ({how(auto_decimal, 'decimal')})",
        detected=(auto_delimiter and delimiter != ",") or (auto_decimal and decimal != "."),
        hint=hint,
    )


def _head(path: Path) -> tuple[str, bool]:
    """The file's first HEAD_BYTES (at least its first line) as text; whether that is all."""
    with path.open("rb") as f:
        data = f.read(HEAD_BYTES)
        whole = not f.read(1)
        if not whole and b"\n" not in data:
            data += f.readline()  # a header longer than the head
    return data.decode("utf-8-sig", errors="ignore"), whole  # ignore: a character cut in two


def _records(text: str, whole: bool, delimiter: str) -> list[list[str]]:
    """The records of the head (blank lines skipped); the last one is left out where the cut
    may have broken it."""
    records = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if record:
                records.append(record)
    except csv.Error:  # e.g. a quote the cut left open
        whole = False
    return records if whole or len(records) <= 1 else records[:-1]


def _fits(records: list[list[str]]) -> bool:
    """The delimiter splits the header in 2 or more fields, and every row in as many."""
    return bool(records) and len(records[0]) > 1 and all(len(r) == len(records[0]) for r in records)


def _numbers(records: list[list[str]]) -> tuple[list[str], list[str]]:
    """Cells of the rows written as numbers with a decimal comma, and with a decimal point."""
    cells = [c.strip() for record in records[1:] for c in record]
    return (
        [c for c in cells if COMMA_NUMBER.fullmatch(c)],
        [c for c in cells if POINT_NUMBER.fullmatch(c)],
    )


def differs(used: Dialect, trained: dict[str, Any] | None) -> str | None:
    """A warning when the dialect an input is read with differs from the training table's
    (cleaning.json's `dialect`: None for a Parquet table or a model saved before it)."""
    if trained is None or used.as_json() == trained:
        return None
    was = f"{name(trained['delimiter'])} between fields, {trained['decimal']!r} as decimal mark"
    return (
        f"read with {used.said}, but the training table had {was} "
        f"(models/preprocess/cleaning.json): fine for a file exported another way; if it is "
        f"read wrong, set data.csv.delimiter and data.csv.decimal"
    )
