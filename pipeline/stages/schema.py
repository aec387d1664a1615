"""schema: check the table's schema file, or draft one (`--infer`) from the data to edit."""

from __future__ import annotations

from pipeline.checks.schema_draft import draft_schema
from pipeline.core.params import CsvParams
from pipeline.core.schema import load_schema, schema_path


def schema_command(
    data_path: str, infer: bool, force: bool, batch_rows: int, dialect: CsvParams | None = None
) -> None:
    """`schema --infer` drafts the table's schema file (a CSV split as `dialect`, data.csv,
    says); plain `schema` checks the one there."""
    if infer:
        drafted = draft_schema(data_path, force, batch_rows, dialect)
        print(f"schema: drafted {drafted} from {data_path}; edit it")
        return
    schema, path = load_schema(data_path)
    if path is None:
        print(f"schema: no {schema_path(data_path)}; column types are inferred (try --infer)")
        return
    print(
        f"schema: {path} is valid: {len(schema.columns)} column rule(s), {len(schema.units)} "
        f"unit conversion(s), {len(schema.drop)} dropped column(s), strict {schema.strict}"
    )
