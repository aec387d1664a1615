"""Command line: `python -m pipeline <stage>` runs one DVC stage; `summary` prints the results;
`schema --infer` drafts the table's schema file.

Params are loaded and validated once here; a bad param or bad data ends the command with a
one-line-per-problem message on stderr and exit status 1. No artifact is left half-written; a
failing `validate` writes its report (so the user can read what broke) but not the table.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline import io
from pipeline.config import PARAMS_FILE, load_params
from pipeline.errors import PipelineError

# stage name (as in dvc.yaml) -> module holding its run(params)
STAGES = {
    "validate": "pipeline.validate",
    "split": "pipeline.split",
    "fit_scaler": "pipeline.scale",
    "encode": "pipeline.encode",
    "train": "pipeline.train",
    "evaluate": "pipeline.evaluate",
}


def summary() -> None:
    """Test metrics and where the reports are, for the end of `make run`."""
    metrics = io.read_json(io.METRICS)
    card = io.read_json(io.MODEL_CARD)
    print(
        f"\nTarget '{card['target']}' ({card['task']}), best epoch {card['best_epoch']} "
        f"of {card['epochs_run']}."
    )
    print(
        "Test metrics: "
        + ", ".join(f"{k} {'n/a' if v is None else f'{v:.4f}'}" for k, v in metrics["test"].items())
    )
    print(
        f"Report: {io.REPORT}   metrics: {io.METRICS}   plots: {io.PLOTS_DIR}/   "
        f"validation: {io.VALIDATION_REPORT.with_suffix('.md')}"
    )


def schema_command(data_path: str, infer: bool, force: bool) -> None:
    """`schema --infer` drafts the table's schema file; plain `schema` checks the one there."""
    from pipeline.schema import draft_schema, load_schema, schema_path

    if infer:
        print(f"schema: drafted {draft_schema(data_path, force)} from {data_path}; edit it")
        return
    schema, path = load_schema(data_path)
    if path is None:
        print(f"schema: no {schema_path(data_path)}; column types are inferred (try --infer)")
        return
    print(
        f"schema: {path} is valid: {len(schema.columns)} column rule(s), {len(schema.units)} "
        f"unit conversion(s), {len(schema.drop)} dropped column(s), strict {schema.strict}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    parser.add_argument("--params", default=str(PARAMS_FILE), help="params file (params.yaml)")
    parser.add_argument("command", choices=[*STAGES, "summary", "schema"])
    parser.add_argument(
        "--infer", action="store_true", help="schema: draft <stem>.schema.yaml from data.path"
    )
    parser.add_argument("--force", action="store_true", help="schema --infer: replace the file")
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            summary()
            return 0
        params = load_params(args.params)
        if args.command == "schema":
            schema_command(params.data.path, args.infer, args.force)
            return 0
        importlib.import_module(STAGES[args.command]).run(params)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except FileNotFoundError as exc:
        print(
            f"error: {args.command}: missing input {exc.filename!r}; run `dvc repro` to "
            f"build the stages before it",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
