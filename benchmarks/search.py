"""Search quality: `pipeline search --sampler tpe` against `--sampler random` on the suite.

For each table of benchmarks/quality.py's suite, a temporary git + DVC repository holds the
project with only `data.path`, `data.target`, `data.task` (and any `--set key=value`) changed;
`dvc repro` builds the baseline (its HistGradientBoosting baseline is the bar), then each sampler
runs its study of `--trials` trials on its own empty commit (so neither resumes from the other),
ranked on the validation metric of quality.py (val.accuracy, val.r2), or with `--rank cv` on its
cross-validated mean (cv.enabled on, `cv.val.<name>.mean`: the mean over split.folds folds of
the non-test rows, k more trainings per trial), or with `--rank loss` on the validation loss
(val.log_loss for classification: a proper score, far less noisy than accuracy on the same rows;
val.rmse for regression, which orders trials as val.r2 does). Both samplers share the space
file's seed, and both begin with params.yaml's own values (the baseline, restored by DVC's
run-cache), so TPE's random start-up trials are the random sampler's first ones.

    python benchmarks/search.py --tables chile --trials 4
    python benchmarks/search.py --trials 20 --jobs 2          # the issue's goal, all tables
    python benchmarks/search.py --tables chile --rank cv      # chosen on 5-fold CV instead
    python benchmarks/search.py --tables hi --set seed=1      # another split (quality.py's 0-2)
    python benchmarks/search.py --tables hi --samplers tpe    # only the winner against HGB
    python benchmarks/search.py --tables hi --samplers tpe --seeds 0 1 2   # means over 3 splits
    python benchmarks/search.py --tables hi --samplers tpe --rank loss     # chosen on val.log_loss

One row per table and split seed; with `--samplers tpe` (or random) alone, the other sampler's
cells print as -. With several `--seeds`, a table of means over the seeds follows: TPE's winner
and HGB on test, and winner - HGB as the mean and per seed (signed: > 0 is the winner ahead).
The last line: `tables=N seeds=S tpe_better=K winner_beats_hgb=M` (TPE's winner on the test
split; K counts table-seed pairs, - without both samplers; with several seeds M compares the
means over seeds).
"mean val after start-up" averages the metric of the trials after TPE's start-up ones: TPE's
informed proposals against the random sampler's draws, whether or not the best of each differs.
"TPE winner test by the other rule" is the test metric of the trial that the other validation
metric ranks first among the same TPE trials (val.<name> under --rank loss, val.log_loss under
--rank val; classification only): which way of choosing would have done better on the same trials.
"corr(val, test)" is the correlation of the ranking metric and the test metric over the trials of
the samplers that ran, each signed by its direction (a loss negated), so > 0 says a better
validation value goes with a better test value: near 0, the trials differ by no more than the
split's noise, and which one wins on test is a draw.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import quality  # the suite, its loading and the project copy

ROOT = quality.ROOT
sys.path.insert(0, str(ROOT))
from pipeline.core.task import lower_is_better  # noqa: E402
from pipeline.experiments import study as study_module  # noqa: E402
from pipeline.experiments.ranking import rank  # noqa: E402
from pipeline.experiments.runs import committed_experiments  # noqa: E402

SAMPLERS = ("tpe", "random")


def sh(cwd: Path, *cmd: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed in {cwd}:\n{done.stdout}{done.stderr}")
    return done.stdout


def build(table: quality.Table, parent: Path, space: Path, overrides: dict) -> Path:
    """The project on `table` in a fresh git + DVC repository, baseline built and committed."""
    project = quality.project_copy(parent)
    shutil.copyfile(space, project / "search.yaml")
    raw = project / "data" / "raw"
    raw.mkdir(parents=True)
    quality.load(table).to_csv(raw / f"{table.name}.csv", index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    for key, value in {
        "data.path": f"data/raw/{table.name}.csv",
        "data.target": table.target,
        "data.task": table.task,
        "train.progress": False,
        **overrides,
    }.items():
        quality.set_key(params, key, value)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(project, "git", "init", "-q")
    sh(project, "git", "config", "user.email", "bench@example.invalid")
    sh(project, "git", "config", "user.name", "bench")
    sh(project, "dvc", "init", "-q")
    sh(project, "dvc", "config", "core.analytics", "false")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "the project on this table")  # dvclive needs a commit
    sh(project, "dvc", "repro")
    sh(project, "git", "add", "-A")
    sh(project, "git", "commit", "-qm", "baseline")
    return project


def trial_number(name: str) -> int:
    """search-tpe-7 (or search-tpe-7-again) -> 7."""
    return int(name.removesuffix("-again").rsplit("-", 1)[1])


def correlation(pairs: list[tuple[float, float]]) -> float:
    """Pearson's r of (ranking metric, test metric) over trials: does the ranking predict test?"""
    if len(pairs) < 2:
        return float("nan")
    try:
        return statistics.correlation(*zip(*pairs, strict=True))
    except statistics.StatisticsError:  # a metric constant over the trials
        return float("nan")


def study(
    project: Path, sampler: str, trials: int, jobs: int, metric: str, test: str, other: str | None
) -> dict:
    """Run one sampler's study on its own commit; its winner by `metric` and the winner's test,
    and the test of the winner by `other` (another validation metric) among the same trials."""
    sh(project, "git", "commit", "-q", "--allow-empty", "-m", f"{sampler} study")
    started = time.perf_counter()
    sh(project, sys.executable, "-m", "pipeline", "search", "--sampler", sampler,
       "--trials", str(trials), "--jobs", str(jobs), "--metric", metric)  # fmt: skip
    seconds = time.perf_counter() - started
    found = committed_experiments(cwd=project)
    requeued = [name for name in found if name.endswith("-again")]
    if requeued:
        print(f"{sampler}: DVC's queue dropped and search queued again: {requeued}", flush=True)
    ranked = rank(list(found.values()), metric)
    startup = study_module.TPE_STARTUP_TRIALS  # TPE's informed trials come after these
    informed = [e.metrics[metric] for e in ranked if trial_number(e.name) > startup]
    by_other = rank(list(found.values()), other) if other else []
    return {
        "pairs": [(e.metrics[metric], e.metrics[test]) for e in ranked if test in e.metrics],
        "val": ranked[0].metrics[metric],
        "informed": sum(informed) / len(informed) if informed else float("nan"),
        "test": ranked[0].metrics[test],
        **({"other_test": by_other[0].metrics[test]} if by_other else {}),
        "winner": ranked[0].name.split("-", 1)[1],  # search-tpe-7 -> tpe-7
        "finished": len(ranked),
        "minutes": seconds / 60,
    }


LEFT_OUT = {"winner": "-"}  # a sampler not run (--samplers): its cells print as -


def cell(result: dict, key: str, digits: int = 4) -> str:
    return f"{result[key]:.{digits}f}" if key in result else "-"


def ranking(table: quality.Table, rank: str) -> tuple[str, str | None]:
    """The metric that `--rank` chooses trials on, and the other validation metric (or None)
    whose winner among the same trials is reported beside it."""
    if rank == "cv":
        return f"cv.val.{table.metric}.mean", None
    own = f"val.{table.metric}"
    if table.task == "regression":  # rmse orders trials as r2 does: no other winner to show
        return ("val.rmse" if rank == "loss" else own), None
    return ("val.log_loss", own) if rank == "loss" else (own, "val.log_loss")


def measure(table: quality.Table, args: argparse.Namespace, overrides: dict) -> dict:
    """One table on one split: the baseline's HGB and defaults, each sampler's study."""
    metric, other = ranking(table, args.rank)
    test = f"test.{table.metric}"
    parent = Path(tempfile.mkdtemp(prefix=f"search-{table.name}-"))
    try:
        project = build(table, parent, args.space, overrides)
        baseline = json.loads((project / "reports" / "metrics.json").read_text())
        got = {
            s: study(project, s, args.trials, args.jobs, metric, test, other) for s in args.samplers
        }
    finally:
        if (parent / ".dvc").exists():
            sh(parent, "dvc", "queue", "stop")  # its idle workers
        if args.keep:
            print(f"kept {parent}", flush=True)
        else:
            time.sleep(2)
            shutil.rmtree(parent, ignore_errors=True)
    return {
        "metric": metric,
        "hgb": baseline["baselines"]["hist_gradient_boosting"]["test"][table.metric],
        "defaults": baseline["test"][table.metric],  # the MLP of params.yaml, same split
        "got": got,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=[t.name for t in quality.SUITE])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--rank", choices=("val", "loss", "cv"), default="val",
        help="choose on the validation metric, the validation loss, or k-fold CV",
    )  # fmt: skip
    parser.add_argument(
        "--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS),
        help="tpe alone measures its winner against HGB at half the cost; the columns of the "
        "sampler left out print as -",
    )  # fmt: skip
    parser.add_argument(
        "--seeds", nargs="+", type=int,
        help="split seeds (params' seed) to repeat each table on; the winner is then set against "
        "HGB by their means over the seeds (default: params.yaml's seed, one split)",
    )  # fmt: skip
    parser.add_argument("--space", type=Path, default=ROOT / "search.yaml")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary repositories")
    args = parser.parse_args()
    args.samplers = [s for s in SAMPLERS if s in args.samplers]  # each once, in this order
    overrides = quality.parse_overrides(args.set)
    if args.seeds and "seed" in overrides:
        parser.error("give the split seed once: --seeds or --set seed=S")
    if args.rank == "cv":
        overrides["cv.enabled"] = True
    chosen = [t for t in quality.SUITE if t.name in args.tables]
    seeds = (
        list(dict.fromkeys(args.seeds)) if args.seeds else [overrides.get("seed", "params.yaml")]
    )
    print(f"trials {args.trials}, jobs {args.jobs}, space {args.space}; overrides {overrides}")
    print(
        "| table | seed | metric | TPE best val | random best val | TPE better | TPE winner test | "
        "TPE winner test by the other rule | random winner test | defaults test | HGB test | "
        "winners (TPE, random) | "
        "mean val after start-up (TPE, random) | corr(val, test) | minutes (TPE, random) |\n"
        "|---|---|---|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|",
        flush=True,
    )
    better = 0
    gaps: dict[str, list[tuple[float, ...]]] = {}  # table: (winner, hgb, defaults, other rule's)
    signs: dict[str, float] = {}
    for table in chosen:
        for seed in seeds:
            split = overrides if args.seeds is None else {**overrides, "seed": seed}
            run = measure(table, args, split)
            got, hgb, metric = run["got"], run["hgb"], run["metric"]
            sign = -1.0 if lower_is_better(metric) else 1.0  # the ranking metric's direction
            test_sign = -1.0 if lower_is_better(table.metric) else 1.0  # the test metric's
            pairs = [(sign * v, test_sign * t) for s in got.values() for v, t in s["pairs"]]
            corr = correlation(pairs)  # > 0: a better ranking value, a better test value
            tpe, rnd = (got.get(s, LEFT_OUT) for s in SAMPLERS)
            tpe_better = "-"
            if len(got) == len(SAMPLERS):
                tpe_better = "yes" if sign * tpe["val"] > sign * rnd["val"] else "no"
                better += tpe_better == "yes"
            if "tpe" in got:
                other = tpe.get("other_test", float("nan"))
                gaps.setdefault(table.name, []).append((tpe["test"], hgb, run["defaults"], other))
                signs[table.name] = test_sign
            print(
                f"| {table.name} | {seed} | {metric} | {cell(tpe, 'val')} | {cell(rnd, 'val')} | "
                f"{tpe_better} | {cell(tpe, 'test')} | {cell(tpe, 'other_test')} | "
                f"{cell(rnd, 'test')} | "
                f"{run['defaults']:.4f} | {hgb:.4f} | {tpe['winner']}, {rnd['winner']} | "
                f"{cell(tpe, 'informed')}, {cell(rnd, 'informed')} | {corr:.2f} | "
                f"{cell(tpe, 'minutes', 1)}, {cell(rnd, 'minutes', 1)} |",
                flush=True,
            )
    if len(seeds) > 1 and gaps:
        print(
            f"\nMeans over seeds {seeds}:\n"
            "| table | TPE winner test | HGB test | winner - HGB (mean; per seed) | "
            "defaults test | other rule's winner test |\n|---|---:|---:|---|---:|---:|"
        )
        for name, rows in gaps.items():
            winner, hgb, defaults, other = (
                statistics.fmean(column) for column in zip(*rows, strict=True)
            )
            sign = signs[name]
            each = ", ".join(f"{sign * (w - h):+.4f}" for w, h, *_ in rows)
            print(
                f"| {name} | {winner:.4f} | {hgb:.4f} | {sign * (winner - hgb):+.4f} ({each}) | "
                f"{defaults:.4f} | {'-' if math.isnan(other) else f'{other:.4f}'} |"
            )
    beats_hgb = sum(
        signs[name] * statistics.fmean(w - h for w, h, *_ in rows) >= 0
        for name, rows in gaps.items()
    )  # one seed: that split's winner against its HGB
    startup = study_module.TPE_STARTUP_TRIALS
    note = ""
    if "tpe" in args.samplers and args.trials <= startup:
        note = f" (trials <= {startup}: TPE is still in its random start-up)"
    both = len(args.samplers) == len(SAMPLERS)
    over = " (means over seeds)" if len(seeds) > 1 else ""
    print(
        f"tables={len(chosen)} seeds={len(seeds)} tpe_better={better if both else '-'} "
        f"winner_beats_hgb={beats_hgb if gaps else '-'}{over}{note}"
    )


if __name__ == "__main__":
    main()
