"""`best`: rank the experiments of the current commit by a validation metric, never a test
metric; set the winner against the commit's own run beside the metric's noise (a `margin:`
line), and with `--apply` apply the winner (`dvc exp apply`), printing its test metrics once."""

from __future__ import annotations

import json

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.markdown import cell
from pipeline.core.task import lower_is_better
from pipeline.experiments.noise import noise, verdict
from pipeline.experiments.runs import (
    Experiment,
    baselines_from_show,
    dvc,
    exp_show,
    experiments_from_show,
    git,
)


def check_metric(metric: str) -> None:
    if metric.startswith("test.") or ".test." in metric:
        raise PipelineError(
            f"best --metric: {metric!r} is a test metric; experiments are chosen on validation "
            f"metrics only (val.<name>, or cv.val.<name>.mean), so the test split stays unseen "
            f"until the winner's report"
        )
    if not (metric.startswith("val.") or metric.startswith("cv.val.")):
        raise PipelineError(
            f"best --metric: {metric!r} is not a validation metric; use val.<name> (e.g. "
            f"val.accuracy, val.rmse) or cv.val.<name>.mean"
        )


def rank(experiments: list[Experiment], metric: str) -> list[Experiment]:
    """Experiments holding `metric`, best first (ties keep their order)."""
    check_metric(metric)
    scored = [e for e in experiments if isinstance(e.metrics.get(metric), int | float)]
    sign = 1.0 if lower_is_better(metric) else -1.0
    return sorted(scored, key=lambda e: sign * e.metrics[metric])


def default_metric(experiments: list[Experiment]) -> str:
    regression = any("val.rmse" in e.metrics for e in experiments)
    return "val.rmse" if regression else "val.accuracy"


def table(ranked: list[Experiment], metric: str) -> str:
    """Markdown: rank, name, the metric, the params that differ between the experiments."""
    keys = sorted(
        {k for e in ranked for k in e.params if len({repr(x.params.get(k)) for x in ranked}) > 1}
    )
    head = ["rank", "experiment", metric, *keys]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, e in enumerate(ranked, 1):
        cells = [
            str(i),
            cell(e.name),
            f"{e.metrics[metric]:.6g}",
            *(cell(e.params.get(k)) for k in keys),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margin(winner: Experiment, commit: Experiment | None, metric: str, val_rows: int | None) -> str:
    """The winner against the commit's own run on `metric`, beside the metric's noise
    (pipeline/experiments/noise.py): for a cv.val.<name>.mean the fold std (the winner's, else
    the commit's), for a val.<name> the standard error evaluate measured on the val rows (the
    commit's run's, else the winner's), else a proportion's on `val_rows` rows, else 5% of the
    value. "same within noise" means the validation split cannot tell the two apart."""
    old = commit.metrics.get(metric) if commit else None
    if not isinstance(old, int | float):
        return (
            f"margin: this commit's own run has no {metric} to set {winner.name} against "
            f"(run `dvc repro` with the committed params and commit its metrics)"
        )
    new = winner.metrics[metric]
    head = f"margin: {winner.name} against this commit's own run, {metric} {old:.4g} -> {new:.4g}"
    if new == old:
        return f"{head}: a tie (the same value; often the commit's own params, run again)"
    name = metric.removeprefix("cv.").removeprefix("val.").removesuffix(".mean")
    cv_std = None
    if metric.startswith("cv."):
        std = f"cv.val.{name}.std"
        cv_std = winner.metrics.get(std, commit.metrics.get(std) if commit else None)
    rows = None if metric.startswith("cv.") else val_rows  # a cv mean is not over the val rows
    row_se = None
    if metric.startswith("val."):  # the commit's run's own, else the winner's
        key = f"standard_error.{metric}"
        row_se = commit.metrics.get(key) if commit else None
        row_se = row_se if row_se is not None else winner.metrics.get(key)
    tolerance, rule = noise(name, old, rows, cv_std, row_se)
    said = verdict(metric, old, new, tolerance)
    line = f"{head} ({new - old:+.4g}; noise +-{tolerance:.3g}, {rule}): {said}"
    if said == "same within noise":
        line += "; on the test rows the winner may land on either side of the commit's run"
    return line


def committed_val_rows() -> int | None:
    """Validation rows of the commit's split (reports/split.json is committed, cache: false)."""
    shown = git("show", f"HEAD:{io.SPLIT_REPORT}", cwd=None)
    if shown.returncode != 0:
        return None
    return (json.loads(shown.stdout).get("rows") or {}).get("val")


def best(metric: str | None, apply: bool) -> Experiment:
    show = exp_show()
    experiments = experiments_from_show(show)
    metric = metric or default_metric(experiments)
    ranked = rank(experiments, metric)
    if not ranked:
        raise PipelineError(
            f"best: no finished experiment of this commit has {metric!r}; run some with "
            f"`dvc exp run` or `python -m pipeline search --trials N --run`"
        )
    direction = "lower" if lower_is_better(metric) else "higher"
    print(f"Experiments ranked by {metric} ({direction} is better):\n")
    print(table(ranked, metric))
    winner = ranked[0]
    commit = next((b for b in baselines_from_show(show) if b.name != "workspace"), None)
    print(f"\n{margin(winner, commit, metric, committed_val_rows())}")
    if not apply:
        print(f"\nbest: {winner.name}; apply it with `python -m pipeline best --apply`")
        return winner
    dvc("exp", "apply", winner.name)
    print(f"\nbest: applied {winner.name} to the workspace (commit it to keep it)")
    if io.METRICS.exists():
        test = io.read_json(io.METRICS).get("test", {})
        shown = ", ".join(f"{k} {v:.4f}" for k, v in test.items() if isinstance(v, int | float))
        print(f"Its test metrics, looked at once: {shown}")
    return winner
