"""`python -m pipeline schema --infer`: draft a table's schema file from its data (types, ranges,
allowed values) for the user to edit."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.column_types import apply_types, decide_types, profile
from pipeline.checks.rawfile import RawFile, Unreadable
from pipeline.core import io
from pipeline.core.config import dump_yaml
from pipeline.core.errors import PipelineError
from pipeline.core.schema import TableSchema, schema_path
from pipeline.core.tables import is_numeric

# A text column with at most this many distinct values gets an `allowed:` list in a draft.
DRAFT_MAX_CATEGORIES = 20


def infer_schema(frames: Iterable[pd.DataFrame]) -> dict[str, Any]:
    """A draft schema from a table typed as `validate` types it (`pipeline.checks.column_types`: a
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
            if is_numeric(values):
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
        text = dump_yaml(value, default_flow_style=True, sort_keys=False, width=10**6)
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
        f"{'drop: ' + flow(draft['drop']):<30}# columns to remove: identifiers, known leaks, "
        "nested values",
        "strict: false                 # true: a column not named here (nor data.target) fails",
    ]
    return "\n".join(lines) + "\n"


def draft_schema(data_path: str | Path, force: bool = False, batch_rows: int = 262_144) -> Path:
    """Write a draft `<stem>.schema.yaml` beside the table; never overwrite one unless `force`."""

    path = schema_path(data_path)
    if path.exists() and not force:
        raise PipelineError(f"{path} exists; edit it, or pass --force to replace it with a draft")
    try:
        raw = RawFile(Path(data_path), batch_rows)
        nested = list(raw.nested_columns())  # lists, structs, maps: drafted under drop:
        kept = [c for c in raw.columns if c not in nested] if nested else None
        types = decide_types(profile(raw.batches(kept)), TableSchema())
        draft = infer_schema(apply_types(batch, types).frame for batch in raw.batches(kept))
        draft["drop"] = nested
    except Unreadable as exc:
        raise PipelineError(f"data.path: {data_path}: {exc}") from None
    io.write_text(render_schema(draft, str(data_path)), path)
    return path
