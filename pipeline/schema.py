"""Rules that belong to one table, kept in a schema file beside it: `<table stem>.schema.yaml`.

The shared params never name a column other than the target, so pointing `data.path` at another
table cannot break on penguins' rules. A table without a schema file gets an empty schema
(types inferred from the data); `python -m pipeline schema --infer` drafts one to edit.
"""

from __future__ import annotations

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


def infer_schema(df: pd.DataFrame) -> dict[str, Any]:
    """A draft schema from a table: each column's type, observed range or allowed values."""
    columns: dict[str, dict[str, Any]] = {}
    for column in df.columns:
        values = df[column]
        rule: dict[str, Any]
        if ptypes.is_numeric_dtype(values) and not ptypes.is_bool_dtype(values):
            rule = {"type": "numeric"}
            finite = values[np.isfinite(values.astype(float))]
            if not finite.empty:
                rule.update(min=_number(finite.min()), max=_number(finite.max()))
        else:
            rule = {"type": "categorical"}
            distinct = values.dropna().unique().tolist()
            if len(distinct) <= DRAFT_MAX_CATEGORIES:
                rule["allowed"] = sorted((_number(v) for v in distinct), key=str)
        columns[str(column)] = rule
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


def draft_schema(data_path: str | Path, force: bool = False) -> Path:
    """Write a draft `<stem>.schema.yaml` beside the table; never overwrite one unless `force`."""
    from pipeline import io

    path = schema_path(data_path)
    if path.exists() and not force:
        raise PipelineError(f"{path} exists; edit it, or pass --force to replace it with a draft")
    df = io.read_raw(data_path)
    io.write_text(render_schema(infer_schema(df), str(data_path)), path)
    return path
