"""The user's table (data.path, CSV or Parquet), read in batches of rows with the file's checks.

A CSV is read by pyarrow's streaming reader with every column as text (nulls: pandas' `read_csv`
defaults), so one odd value can never make a later batch fail to parse; turning text into numbers is
`pipeline.checks.column_types`' job. Its delimiter and decimal mark are data.csv's, or detected
(`pipeline.checks.dialect`); with a decimal comma, cells written as such numbers (`-1,5`) are
given a point (`-1.5`), other text is left as it is. A row longer than the reader's block
(CSV_BLOCK_BYTES) makes it read again with blocks twice as large, up to CSV_MAX_BLOCK_BYTES; a
longer row stops the read, naming its line. Before any row: is it there, is it text (no zip, gzip,
Parquet... bytes, no NUL), does it have a header, are the header's names unique. While reading:
bytes that are not UTF-8 (named by line), and rows whose field count differs from the header's
(named by data row, from a scan with Python's csv module once any is seen). A Parquet file is read
row group by row group in its own types (dictionary columns as plain values; a pandas index stored
in it is dropped, as `pandas.read_parquet(...).reset_index(drop=True)`); memory then holds one row
group of the file's, whatever its size, besides the batch.

Every frame carries `_row`: the row's position among the data rows of the file (0-based; blank
CSV lines are not rows), whatever the batch size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipeline.checks.dialect import Dialect, detect
from pipeline.core import io
from pipeline.core.params import CsvParams

# Leading bytes of files that are not CSV text, and what they are.
MAGIC = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"PAR1": "Parquet",
    b"BZh": "bzip2",
    b"\xfd7zXZ": "xz",
    b"(\xb5/\xfd": "zstd",
}
# pandas.read_csv's default missing-value markers, so a CSV reads as it always has.
NULL_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
CSV_BLOCK_BYTES = 1 << 22  # text parsed per step of the CSV reader at first (4 MiB)
CSV_MAX_BLOCK_BYTES = 1 << 30  # ... doubled for a longer row up to this (1 GiB of memory)
# A cell written as a number with a decimal comma (1,5  -2,5e3  ,5), as groups around the comma.
DECIMAL_COMMA = r"^(\s*[+-]?\d*),(\d+(?:[eE][+-]?\d+)?\s*)$"
SUFFIXES = (".csv", ".parquet", ".pq")


class Unreadable(Exception):
    """The file is not a table we can read; the message says why (without the path)."""


class RawFile:
    """An opened table: `columns`, file-level findings, and `batches()` to read it (again)."""

    def __init__(
        self,
        path: Path,
        batch_rows: int,
        dialect: CsvParams | None = None,
        known: Dialect | None = None,
    ) -> None:
        """`dialect`: data.csv (a CSV's delimiter and decimal mark; default auto); `known`: the
        training table's, for what the head cannot tell (predict)."""
        self.path = Path(path)
        self.batch_rows = batch_rows
        self.columns: list[str] = []
        self.repeated_names: list[str] = []  # header names given to more than one column
        self.ragged = 0  # rows skipped by the last read for having another field count
        self.is_csv = self.path.suffix.lower() == ".csv"
        self.dialect: Dialect | None = None  # a CSV's
        self._block_bytes = CSV_BLOCK_BYTES  # grown for a long row, kept for the next read
        if not self.path.exists():
            raise Unreadable("does not exist (data.path)")
        suffix = self.path.suffix.lower()
        if suffix not in SUFFIXES:
            raise Unreadable(f"has suffix {suffix!r}; allowed: {', '.join(SUFFIXES)}")
        if self.is_csv:
            _check_text(self.path)
            settings = dialect or CsvParams()
            try:
                self.dialect = detect(self.path, settings.delimiter, settings.decimal, known)
            except ValueError as exc:
                raise Unreadable(str(exc)) from None
            self._header = _csv_header(self.path, self.dialect.delimiter)
            self.columns = _unique_names(self._header)
            self.repeated_names = sorted({n for n in self._header if self._header.count(n) > 1})
        else:
            try:
                # pre_buffer (the default) keeps every row group read so far: memory would
                # grow with the table
                self._parquet = pq.ParquetFile(self.path, pre_buffer=False)
            except (ValueError, OSError) as exc:
                raise Unreadable(f"cannot read: {exc}") from None
            self._arrow_schema = self._parquet.schema_arrow
            self.columns = [
                name for name in self._arrow_schema.names if name not in _index_columns(self)
            ]

    def float_columns(self) -> list[str]:
        """Columns the file itself types as floating-point numbers (none in a CSV)."""
        if self.is_csv:
            return []
        return [c for c in self.columns if pa.types.is_floating(self._arrow_schema.field(c).type)]

    def maybe_constant(self, columns: list[str]) -> list[str]:
        """Of these Parquet columns, those whose row-group statistics do not rule out one value
        and no null throughout (statistics absent, or min == max alike in every group)."""
        meta = self._parquet.metadata
        paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
        found = []
        for column in columns:
            seen: set[object] = set()
            for group in range(meta.num_row_groups):
                stats = meta.row_group(group).column(paths.index(column)).statistics
                if stats is not None and stats.has_null_count and stats.null_count:
                    break
                if stats is None or not stats.has_min_max:
                    seen.add(None)
                elif stats.min != stats.max:
                    break
                else:
                    seen.add(stats.min)
            else:
                if len(seen - {None}) <= 1:
                    found.append(column)
        return found

    def nested_columns(self) -> dict[str, str]:
        """Columns of lists, structs or maps (Parquet), with their Arrow type; none in a CSV."""
        if self.is_csv:
            return {}
        types = {c: self._arrow_schema.field(c).type for c in self.columns}
        return {c: str(t) for c, t in types.items() if pa.types.is_nested(t)}

    def batches(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """Frames of at most batch_rows rows (at least one, empty for a table without rows),
        index `_row`; CSV values are text (str dtype), Parquet values in the file's types.
        `columns`: read only these (Parquet; a CSV is read whole)."""
        self.ragged = 0
        start = 0
        try:
            for table in self._tables(columns):
                frame = self._frame(table)
                frame.index = pd.RangeIndex(start, start + len(frame), name=io.ROW)
                start += len(frame)
                yield frame
                io.release_freed_memory()
        except (pa.ArrowInvalid, OSError) as exc:
            raise Unreadable(self._why(exc)) from None

    def ragged_rows(self) -> pd.Series:
        """Field count of each data row whose count differs from the header's (scanned)."""
        if not self.is_csv:
            return pd.Series()
        return _scan_field_counts(self.path, len(self._header), self.dialect.delimiter)

    # --- internals -------------------------------------------------------------------------

    def _tables(self, columns: list[str] | None) -> Iterator[pa.Table]:
        """Arrow tables of batch_rows rows (the last one shorter; one empty if no rows)."""
        pending: list[pa.RecordBatch] = []
        rows = 0
        given = False
        for batch in self._record_batches(columns):
            pending.append(batch)
            rows += batch.num_rows
            while rows >= self.batch_rows:
                whole = pa.Table.from_batches(pending)
                yield whole.slice(0, self.batch_rows)
                given = True
                rest = whole.slice(self.batch_rows)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows or not given:
            yield pa.Table.from_batches(pending, schema=self._schema(columns))

    def _schema(self, columns: list[str] | None) -> pa.Schema:
        if self.is_csv:
            return pa.schema([(str(i), pa.string()) for i in range(len(self._header))])
        return pa.schema([self._arrow_schema.field(c) for c in columns or self.columns])

    def _record_batches(self, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        if not self.is_csv:
            yield from self._parquet.iter_batches(
                batch_size=self.batch_rows,
                columns=self.columns if columns is None else columns,
                use_pandas_metadata=False,
            )
            return

        given = 0  # rows yielded; a read again with larger blocks skips them
        while True:
            self.ragged = 0  # counted again by each read
            skip = given
            try:
                for batch in self._csv_reader():
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    batch, skip = batch.slice(skip), 0
                    given += batch.num_rows
                    yield batch
                return
            except pa.ArrowInvalid as exc:
                if "straddl" not in str(exc):
                    raise
                if self._block_bytes >= CSV_MAX_BLOCK_BYTES:
                    raise Unreadable(_long_row(self.path, self.dialect.delimiter)) from None
                self._block_bytes *= 2

    def _csv_reader(self) -> pa_csv.CSVStreamingReader:
        def skip(row: pa_csv.InvalidRow) -> str:
            self.ragged += 1
            return "skip"

        names = [str(i) for i in range(len(self._header))]  # the header may repeat a name
        return pa_csv.open_csv(
            self.path,
            read_options=pa_csv.ReadOptions(
                column_names=names, skip_rows_after_names=1, block_size=self._block_bytes
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=self.dialect.delimiter, newlines_in_values=True, invalid_row_handler=skip
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=NULL_VALUES,
                strings_can_be_null=True,
            ),
        )

    def _frame(self, table: pa.Table) -> pd.DataFrame:
        names = table.column_names
        if self.is_csv:  # the reader's names are positions: the header may repeat a name
            names = [self.columns[int(n)] for n in names]
        columns = {}
        for name, column in zip(names, table.columns, strict=True):
            if pa.types.is_dictionary(column.type):
                column = column.cast(column.type.value_type)
            if self.is_csv and self.dialect.decimal == ",":
                column = pc.replace_substring_regex(column, DECIMAL_COMMA, r"\1.\2")
            columns[name] = column.to_pandas()
        return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))

    def _why(self, exc: Exception) -> str:
        text = str(exc)
        if self.is_csv and "UTF8" in text.replace("UTF-8", "UTF8"):
            return _encoding_problem(self.path)
        return f"cannot read: {text}"


def _index_columns(raw: RawFile) -> set[str]:
    """Columns that hold a pandas index stored in the Parquet file."""
    meta = (raw._arrow_schema.metadata or {}).get(b"pandas")
    if not meta:
        return set()
    return {c for c in json.loads(meta).get("index_columns", []) if isinstance(c, str)}


def _unique_names(header: list[str]) -> list[str]:
    """Repeated names get '.1', '.2'... as pandas gives them."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        count = seen.get(name, 0)
        seen[name] = count + 1
        names.append(name if count == 0 else f"{name}.{count}")
    return names


def _check_text(path: Path) -> None:
    """The file starts as text: no compressed, Parquet or other binary bytes."""
    with path.open("rb") as f:
        head = f.read(4096)
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            raise Unreadable(f"holds {kind} bytes, not a CSV text table")
    if b"\x00" in head:
        raise Unreadable("holds NUL bytes: a binary file, not a CSV text table")


def _csv_header(path: Path, delimiter: str) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            header = next(csv.reader(f, delimiter=delimiter), None)
    except UnicodeDecodeError:
        raise Unreadable(_encoding_problem(path)) from None
    except csv.Error as exc:
        raise Unreadable(f"is not CSV: {exc}") from None
    if not header:
        raise Unreadable("is empty: no header line")
    return header


def _scan_field_counts(path: Path, width: int, delimiter: str) -> pd.Series:
    """Data rows (blank lines skipped, as pandas does) whose field count is not `width`, with
    'N fields'; only these rows are kept, so memory is set by how many there are."""
    rows: list[int] = []
    counts: list[int] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)
        number = 0
        for record in reader:
            if not record:
                continue
            if len(record) != width:
                rows.append(number)
                counts.append(len(record))
            number += 1
    return pd.Series([f"{n} fields" for n in counts], index=np.asarray(rows, dtype=np.int64))


def _long_row(path: Path, delimiter: str) -> str:
    """Why the file cannot be read in blocks of CSV_MAX_BLOCK_BYTES: its longest row, by line
    (a scan with the csv module; only on this rare path)."""
    longest = (0, 0, 0)  # size in bytes, line, data row
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f, delimiter=delimiter)
        next(reader, None)
        number, line = 0, reader.line_num + 1
        for record in reader:
            if record:
                size = sum(len(field.encode()) for field in record) + len(record)
                longest = max(longest, (size, line, number))
                number += 1
            line = reader.line_num + 1
    size, line, number = longest
    return (
        f"line {line} (data row {number}) holds a row of about {_size(size)}, longer than the CSV "
        f"reader's largest block ({_size(CSV_MAX_BLOCK_BYTES)}) can take; shorten that value, "
        f"or save the table as Parquet"
    )


def _size(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size} bytes"


def _encoding_problem(path: Path) -> str:
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = line[exc.start : exc.start + 1]
                return (
                    f"line {number} holds byte {byte!r}, which is not UTF-8 text; "
                    f"re-save the file as UTF-8"
                )
    return "is not UTF-8 text"
