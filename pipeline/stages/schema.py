"""schema: check the table's schema file, or draft one (`--infer`) from the data to edit."""

from __future__ import annotations

from pipeline.checks.schema_draft import draft_schema
from pipeline.core.params import Params
from pipeline.core.schema import load_schema, schema_path


def schema_command(
    params: Params,
    infer: bool,
    force: bool,
    input_path: str | None = None,
    output: str | None = None,
) -> None:
    """`schema --infer` drafts the schema file of the table (`input_path`, default data.path)
    beside it or to `output`; plain `schema` checks the one beside the table."""
    data_path = input_path or params.data.path
    if infer:
        drafted = draft_schema(data_path, params, force, output)
        print(f"schema: drafted {drafted} from {data_path}; edit it")
        if drafted.resolve() != schema_path(data_path).resolve():
            print(f"schema: validate reads {schema_path(data_path)} for {data_path}")
        return
    schema, path = load_schema(data_path)
    if path is None:
        print(f"schema: no {schema_path(data_path)}; column types are inferred (try --infer)")
        return
    print(
        f"schema: {path} is valid: {len(schema.columns)} column rule(s), {len(schema.units)} "
        f"unit conversion(s), {len(schema.drop)} dropped column(s), strict {schema.strict}"
    )
