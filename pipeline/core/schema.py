"""Rules that belong to one table, kept in a schema file beside it: `<table stem>.schema.yaml`.

The shared params never name a column other than the target, so pointing `data.path` at another
table cannot break on penguins' rules. A table without a schema file gets an empty schema
(types inferred from the data); `python -m pipeline schema --infer` drafts one to edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.core.config import load_yaml, yaml_problem
from pipeline.core.errors import PipelineError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# A column's role (pipeline.checks.roles): identifier and constant columns are dropped, dates
# become numeric features (clean.dates), booleans are encoded as categories.
Role = Literal["numeric", "categorical", "boolean", "date", "identifier", "constant"]


class ColumnRule(_Strict):
    """What a column must hold; checked on the raw values, before unit conversion. `type`
    declares the column's role, overriding the one inferred."""

    type: Role | None = None
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
        raw = load_yaml(path.read_text()) or {}
        return TableSchema.model_validate(raw), path
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            lines.append(f"{path}: {key}: {err['msg']} (got {err.get('input')!r})")
        raise PipelineError("\n".join(lines)) from None
