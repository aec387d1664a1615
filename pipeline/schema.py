"""Rules that belong to one table, kept in a schema file beside it: `<table stem>.schema.yaml`.

The shared params never name a column other than the target, so pointing `data.path` at another
table cannot break on penguins' rules. A table without a schema file gets an empty schema
(types inferred from the data); `python -m pipeline schema --infer` drafts one to edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pandas.api import types as ptypes
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.config import yaml_problem
from pipeline.errors import PipelineError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnRule(_Strict):
    """What a column must hold; checked on the raw values, before unit conversion."""

    type: Literal["numeric", "categorical"] | None = None
    min: float | None = None
    max: float | None = None
    allowed: list[str | int | float | bool] | None = None
    nullable: bool = True
    unique: bool = False


class UnitRule(_Strict):
    """Multiply a column by `scale` (e.g. 0.001 for grams to kilograms), optionally renaming it."""

    scale: Annotated[float, Field(gt=0)]
    rename: str | None = None


class EncodeRule(_Strict):
    """How `encode` turns one categorical column into numbers (overrides encode.method).

    `order` (ordinal only) fixes the codes 0..n-1; without it, train categories are sorted."""

    method: Literal["onehot", "ordinal"]
    order: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _order_needs_ordinal(self) -> EncodeRule:
        if self.order is not None and self.method != "ordinal":
            raise ValueError("order is only used with method: ordinal")
        if self.order is not None and len({str(v) for v in self.order}) != len(self.order):
            raise ValueError(f"order lists a category twice: {self.order}")
        return self


class TableSchema(_Strict):
    columns: dict[str, ColumnRule] = {}
    units: dict[str, UnitRule] = {}
    drop: list[str] = []
    encode: dict[str, EncodeRule] = {}
    strict: bool = False  # true: a column the file does not name (nor data.target) is an error

    def named_columns(self, target: str) -> list[str]:
        """The target and every column the schema names, in order, without repeats."""
        return list(dict.fromkeys([target, *self.columns, *self.units, *self.drop]))


def schema_path(data_path: str | Path) -> Path:
    """`data/raw/penguins.csv` -> `data/raw/penguins.schema.yaml`."""
    path = Path(data_path)
    return path.with_name(f"{path.stem}.schema.yaml")


def load_schema(data_path: str | Path) -> tuple[TableSchema, Path | None]:
    """The table's schema and the file it came from (None when the table has none)."""
    path = schema_path(data_path)
    if not path.exists():
        return TableSchema(), None
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        return TableSchema.model_validate(raw), path
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            lines.append(f"{path}: {key}: {err['msg']} (got {err.get('input')!r})")
        raise PipelineError("\n".join(lines)) from None


# A text column with at most this many distinct values gets an `allowed:` list in a draft.
DRAFT_MAX_CATEGORIES = 20


def infer_schema(frames: Iterable[pd.DataFrame]) -> dict[str, Any]:
    """A draft schema from a table typed as `validate` types it (`pipeline.column_types`: a
    column of mostly numbers with stray text is numeric), given batch by batch: each column's
    type, observed range or allowed values."""
    numeric: dict[str, list[Any]] = {}  # column -> [min, max] of its finite values
    text: dict[str, set[Any] | None] = {}  # column -> distinct values (None: too many)
    order: list[str] = []
    for df in frames:
        if not order:
            order = [str(c) for c in df.columns]
        for column in df.columns:
            values = df[column]
            if ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values):
                finite = values[np.isfinite(values.astype(float))]
                low, high = numeric.setdefault(str(column), [None, None])
                if not finite.empty:
                    low = finite.min() if low is None else min(low, finite.min())
                    high = finite.max() if high is None else max(high, finite.max())
                numeric[str(column)] = [low, high]
            else:
                seen = text.setdefault(str(column), set())
                if seen is not None:
                    seen.update(values.dropna().unique().tolist())
                    if len(seen) > DRAFT_MAX_CATEGORIES:
                        text[str(column)] = None
    columns: dict[str, dict[str, Any]] = {}
    for column in order:
        rule: dict[str, Any]
        if column in numeric:
            rule = {"type": "numeric"}
            low, high = numeric[column]
            if low is not None:
                rule.update(min=_number(low), max=_number(high))
        else:
            rule = {"type": "categorical"}
            distinct = text[column]
            if distinct is not None:
                rule["allowed"] = sorted((_number(v) for v in distinct), key=str)
        columns[column] = rule
    return {"columns": columns, "units": {}, "drop": [], "strict": False}


def _number(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def render_schema(draft: dict[str, Any], source: str) -> str:
    """YAML for a draft schema, one line per column, with comments saying what to edit."""

    def flow(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10**6)
        return text.removesuffix("\n...\n").strip()

    lines = [
        f"# Drafted by `python -m pipeline schema --infer` from {source}. Edit it before relying",
        "# on it: ranges and allowed sets are what this table holds today, not what is valid.",
        "columns:                      # type: numeric | categorical; min/max; allowed: [...];",
        "                              # nullable: false; unique: true (checked on raw values)",
    ]
    lines += [f"  {flow(name)}: {flow(rule)}" for name, rule in draft["columns"].items()]
    lines += [
        "units: {}                     # column: {scale: 0.001, rename: new_name} (e.g. g -> kg)",
        "drop: []                      # columns to remove: identifiers, known leaks",
        "strict: false                 # true: a column not named here (nor data.target) fails",
    ]
    return "\n".join(lines) + "\n"


def draft_schema(data_path: str | Path, force: bool = False, batch_rows: int = 262_144) -> Path:
    """Write a draft `<stem>.schema.yaml` beside the table; never overwrite one unless `force`."""
    from pipeline import io
    from pipeline.column_types import apply_types, decide_types, profile
    from pipeline.rawfile import RawFile, Unreadable

    path = schema_path(data_path)
    if path.exists() and not force:
        raise PipelineError(f"{path} exists; edit it, or pass --force to replace it with a draft")
    try:
        raw = RawFile(Path(data_path), batch_rows)
        types = decide_types(profile(raw.batches()), TableSchema())
        draft = infer_schema(apply_types(batch, types).frame for batch in raw.batches())
    except Unreadable as exc:
        raise PipelineError(f"data.path: {data_path}: {exc}") from None
    io.write_text(render_schema(draft, str(data_path)), path)
    return path
