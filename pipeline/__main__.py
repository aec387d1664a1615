"""Command line: `python -m pipeline <stage>` runs one DVC stage; `summary` prints the results;
`schema --infer` drafts the table's schema file; `predict` applies the trained pipeline to new
rows; `search` queues random-search experiments (or, with `--sampler tpe|random`, runs an Optuna
study of them), `best` ranks them on a validation metric, and
`compare` writes reports/compare.md against another revision.

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
from pipeline.report import reading
from pipeline.task import HEADLINE

# stage name (as in dvc.yaml) -> module holding its run(params)
STAGES = {
    "validate": "pipeline.validate",
    "split": "pipeline.split",
    "fit_scaler": "pipeline.scale",
    "encode": "pipeline.encode",
    "train": "pipeline.train",
    "evaluate": "pipeline.evaluate",
    "cv": "pipeline.cv",
}


def summary() -> None:
    """Test metrics and where the reports are, for the end of `make run`."""
    metrics = io.read_json(io.METRICS)
    card = io.read_json(io.MODEL_CARD)
    diagnosis = io.read_json(io.DIAGNOSIS)
    verdict = diagnosis["verdict"]
    headline = HEADLINE[card["task"]]

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    print(
        f"\nTarget '{card['target']}' ({card['task']}), best epoch {card['best_epoch']} "
        f"of {card['epochs_run']}; fit: {verdict}."
    )
    print("Test metrics: " + ", ".join(f"{k} {fmt(v)}" for k, v in metrics["test"].items()))
    baselines = metrics.get("baselines", {})
    if baselines:
        print(
            f"Baselines, test {headline}: "
            + ", ".join(f"{name} {fmt(b['test'][headline])}" for name, b in baselines.items())
        )
    against = diagnosis.get("versus_baselines", {}).get("hist_gradient_boosting", {}).get(headline)
    if against and against.get("standard_error") is not None:
        print(
            f"MLP minus hist_gradient_boosting on the same test rows, {headline}: "
            f"{against['difference']:+.4f} ± {against['standard_error']:.4f} (paired s.e.): "
            f"{reading(against, headline)}"
        )
    print(
        f"Report: {io.REPORT}   metrics: {io.METRICS}   plots: {io.PLOTS_DIR}/   "
        f"validation: {io.VALIDATION_REPORT.with_suffix('.md')}"
    )


def schema_command(data_path: str, infer: bool, force: bool, batch_rows: int) -> None:
    """`schema --infer` drafts the table's schema file; plain `schema` checks the one there."""
    from pipeline.schema import draft_schema, load_schema, schema_path

    if infer:
        drafted = draft_schema(data_path, force, batch_rows)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__)
    parser.add_argument("--params", default=str(PARAMS_FILE), help="params file (params.yaml)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for stage in STAGES:
        commands.add_parser(stage, help=f"run the {stage} stage (as dvc.yaml does)")
    commands.add_parser("summary", help="print test metrics and where the reports are")
    schema = commands.add_parser("schema", help="check or draft the table's schema file")
    schema.add_argument("--infer", action="store_true", help="draft <stem>.schema.yaml")
    schema.add_argument("--force", action="store_true", help="with --infer: replace the file")
    predict = commands.add_parser("predict", help="predict new rows with the trained pipeline")
    predict.add_argument("--input", required=True, help="table to predict (.csv or .parquet)")
    predict.add_argument("--output", required=True, help="CSV to write, one row per input row")
    predict.add_argument("--id-column", help="input column to copy into the output")
    search = commands.add_parser("search", help="random or Optuna search as DVC experiments")
    search.add_argument("--trials", type=int, required=True, help="trials (in all, resumed too)")
    search.add_argument("--space", default="search.yaml", help="space file (search.yaml)")
    search.add_argument("--sampler", help="tpe | random: run an Optuna study (ask/tell)")
    search.add_argument("--jobs", type=int, default=1, help="trials in flight (queue workers)")
    search.add_argument("--metric", help="with --sampler: val.<name> to optimize (default: best's)")
    search.add_argument("--run", action="store_true", help="no --sampler: start the queue, wait")
    best = commands.add_parser("best", help="rank experiments by a validation metric")
    best.add_argument("--metric", help="val.<name> or cv.val.<name>.mean (default: headline)")
    best.add_argument("--apply", action="store_true", help="apply the winner to the workspace")
    compare = commands.add_parser("compare", help="write reports/compare.md against a revision")
    compare.add_argument("--rev", default="main", help="git revision to compare with (main)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "summary":
            summary()
            return 0
        if args.command == "search":
            from pathlib import Path

            if args.metric is not None and args.sampler is None:
                raise PipelineError("search --metric: only with --sampler tpe|random")
            if args.sampler is not None:
                from pipeline.study import search_study

                search_study(
                    args.sampler, args.trials, Path(args.space), args.jobs, args.metric,
                    Path(args.params),
                )  # fmt: skip
                return 0
            from pipeline.study import random_search

            random_search(args.trials, Path(args.space), args.jobs, args.run, Path(args.params))
            return 0
        if args.command == "best":
            from pipeline.experiments import best

            best(args.metric, args.apply)
            return 0
        params = load_params(args.params)
        if args.command == "compare":
            from pipeline.compare import compare

            compare(args.rev, params)
            return 0
        if args.command == "schema":
            schema_command(params.data.path, args.infer, args.force, params.data.batch_rows)
        elif args.command == "predict":
            from pipeline import torch_setup
            from pipeline.predict import run_predict

            torch_setup.configure(params.train.threads)
            run_predict(args.input, args.output, args.id_column, params.data.batch_rows)
        else:
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
