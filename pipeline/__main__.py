"""Command line: `python -m pipeline <stage>` runs one DVC stage; `summary` prints the results;
`schema --infer` drafts the table's schema file; `predict` applies the trained pipeline to new
rows; `search` queues random-search experiments (or, with `--sampler tpe|random`, runs an Optuna
study of them), `best` ranks them on a validation metric, and
`compare` writes reports/compare.md against another revision.

Params are loaded and validated once here; a bad param or bad data ends the command with a
one-line-per-problem message on stderr and exit status 1. No artifact is left half-written; a
failing `validate` writes its report (so the user can read what broke) but not the table.
Ctrl-C, SIGTERM, or the end of the `dvc` that runs a stage, stop it the same way, with one line
and status 128 + the signal's number (`pipeline.core.stopping`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pipeline.core import stopping
from pipeline.core.config import PARAMS_FILE, load_params
from pipeline.core.errors import PipelineError

# stage name (as in dvc.yaml) -> module holding its run(params)
STAGES = {
    "validate": "pipeline.stages.validate",
    "split": "pipeline.stages.split",
    "fit_scaler": "pipeline.stages.fit_preprocessor",
    "encode": "pipeline.stages.encode",
    "train": "pipeline.stages.train",
    "evaluate": "pipeline.stages.evaluate",
    "cv": "pipeline.stages.cv",
}


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
    schema.add_argument("--input", help="the table (default: data.path)")
    schema.add_argument("--output", help="with --infer: write here (default: beside the table)")
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
            from pipeline.stages.summary import summary

            summary()
            return 0
        if args.command == "search":
            from pathlib import Path

            if args.metric is not None and args.sampler is None:
                raise PipelineError("search --metric: only with --sampler tpe|random")
            if args.sampler is not None:
                from pipeline.experiments.study import search_study

                search_study(
                    args.sampler, args.trials, Path(args.space), args.jobs, args.metric,
                    Path(args.params),
                )  # fmt: skip
                return 0
            from pipeline.experiments.queue_runner import random_search

            random_search(args.trials, Path(args.space), args.jobs, args.run, Path(args.params))
            return 0
        if args.command == "best":
            from pipeline.experiments.ranking import best

            best(args.metric, args.apply)
            return 0
        params = load_params(args.params)
        if args.command == "compare":
            from pipeline.experiments.compare import compare

            compare(args.rev, params)
            return 0
        if args.command == "schema":
            from pipeline.stages.schema import schema_command

            schema_command(params, args.infer, args.force, args.input, args.output)
        elif args.command == "predict":
            from pipeline.stages.predict import run_predict
            from pipeline.training import torch_setup

            torch_setup.configure(params.train.threads)
            run_predict(
                args.input, args.output, args.id_column, params.data.batch_rows, params.data.csv
            )
        else:
            importlib.import_module(STAGES[args.command]).run(params)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        line, status = stopping.stopped(args.command, exc)
        print(f"error: {line}", file=sys.stderr)
        return status
    except FileNotFoundError as exc:
        print(
            f"error: {args.command}: missing input {exc.filename!r}; run `dvc repro` to "
            f"build the stages before it",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    stopping.install()
    sys.exit(main())
