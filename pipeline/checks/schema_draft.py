"""`python -m pipeline schema --infer`: draft a table's schema file from its data (each column's
role as validate infers it, `pipeline.checks.roles`, with a comment saying why; ranges, allowed
values) for the user to edit."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.checks.column_types import apply_types
from pipeline.checks.rawfile import RawFile, Unreadable
from pipeline.checks.roles import Decision, RoleEvidence, decide_roles
from pipeline.checks.validation import column_types
from pipeline.checks.validation_report import Report
from pipeline.core import io
from pipeline.core.config import dump_yaml
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
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


def with_roles(draft: dict[str, Any], decisions: dict[str, Decision]) -> dict[str, Any]:
    """The draft's column rules with each column's role as `type` (identifiers, constants and
    dates without ranges or allowed values: those are not checked on what is not a feature)."""
    columns = {}
    for column, rule in draft["columns"].items():
        role = decisions[column].role
        keep = {k: v for k, v in rule.items() if k != "type"}
        columns[column] = {"type": role, **(keep if role not in ROLE_ONLY else {})}
    return {**draft, "columns": columns}


ROLE_ONLY = ("identifier", "constant", "date")


def render_schema(draft: dict[str, Any], source: str, why: dict[str, str] | None = None) -> str:
    """YAML for a draft schema, one line per column (with `why[column]` as its comment), with
    comments saying what to edit."""

    def flow(value: Any) -> str:
        text = dump_yaml(value, default_flow_style=True, sort_keys=False, width=10**6)
        return text.removesuffix("\n...\n").strip()

    lines = [
        f"# Drafted by `python -m pipeline schema --infer` from {source}. Edit it before relying",
        "# on it: ranges and allowed sets are what this table holds today, not what is valid.",
        "columns:                      # type: numeric | categorical | boolean | date (features,",
        "                              # clean.dates) | identifier | constant (both dropped);",
        "                              # min/max; allowed: [...]; nullable: false; unique: true",
    ]
    for name, rule in draft["columns"].items():
        line = f"  {flow(name)}: {flow(rule)}"
        reason = (why or {}).get(name)
        if reason:
            comment = " ".join(f"{rule.get('type')}: {reason}".split())  # one line
            line = f"{line.ljust(40)}  # {comment}"
        if name == "":  # the checks cannot name it: left to inference, which decides the same
            line = f"  # {line.strip()} (a column without a name; validate infers it)"
        lines.append(line)
    lines += [
        "units: {}                     # column: {scale: 0.001, rename: new_name} (e.g. g -> kg)",
        f"{'drop: ' + flow(draft['drop']):<30}# columns to remove: identifiers, known leaks, "
        "nested values",
        "strict: false                 # true: a column not named here (nor data.target) fails",
    ]
    return "\n".join(lines) + "\n"


def draft_schema(
    data_path: str | Path, params: Params, force: bool = False, output: str | Path | None = None
) -> Path:
    """Write a draft schema for the table at `data_path` to `output` (default: the
    `<stem>.schema.yaml` beside the table, which validate reads); never overwrite one unless
    `force`. A CSV is split as data.csv says; roles are inferred as validate infers them
    (data.target, split.group and clean.dates taken into account)."""
    path = Path(output) if output is not None else schema_path(data_path)
    if path.exists() and not force:
        raise PipelineError(f"{path} exists; edit it, or pass --force to replace it with a draft")
    try:
        raw = RawFile(Path(data_path), params.data.batch_rows, params.data.csv)
        nested = list(raw.nested_columns())  # lists, structs, maps: drafted under drop:
        kept = [c for c in raw.columns if c not in nested] if nested else None
        drops = TableSchema(drop=nested)
        evidence = RoleEvidence()
        types = column_types(raw, drops, Report(), evidence)
        if types is None:
            raise PipelineError(
                f"{data_path}: some rows have another number of fields than the header; "
                f"`python -m pipeline validate` names them"
            )
        plan = decide_roles(evidence, types, drops, params)
        flat = {c: t for c, t in types.items() if c not in nested}
        draft = infer_schema(apply_types(batch, flat).frame for batch in raw.batches(kept))
        draft["drop"] = nested
    except Unreadable as exc:
        raise PipelineError(f"{data_path}: {exc}") from None
    why = {c: d.why for c, d in plan.decisions.items()}
    io.write_text(render_schema(with_roles(draft, plan.decisions), str(data_path), why), path)
    return path
