"""Search: seeded random draws queued as DVC experiments (`random_search`), or a search that
learns: an Optuna study (TPE or random) whose trials are DVC experiments (`search_study`).

Each trial's params come from `study.ask()` with distributions built from the space file
(search.yaml); the trial runs as a queued DVC experiment named `<study>-<n>`, at most `--jobs`
in flight, and its validation metric (the one `pipeline best` ranks by) goes back with
`study.tell`; a trial that fails, or ends without the metric, is told as failed and the search
goes on. The experiments are the study's only storage: on start, the experiments of the current
commit whose params lie in the space (and equal params.yaml elsewhere) are added as completed or
failed trials, and queued or running ones are waited for, so an interrupted search continues
where it stopped and `--trials N` counts them all. A new study's first trial is params.yaml's
own values when they lie in the space (either sampler): the search measures where it starts,
and its winner is never worse on the metric than not searching. The sampler is reseeded before
each ask from the space file's seed and the trial's number: the same results give the same
proposals, interrupted or not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from pipeline.core.config import PARAMS_FILE, flatten
from pipeline.core.errors import PipelineError
from pipeline.core.task import lower_is_better
from pipeline.experiments.queue_runner import QueueRunner
from pipeline.experiments.ranking import check_metric, default_metric
from pipeline.experiments.runs import (
    Experiment,
    baselines_from_show,
    exp_show,
    experiment_states,
)
from pipeline.experiments.space import Dimension, check_trial, load_search

SAMPLERS = ("tpe", "random")
UNFINISHED = ("queued", "running")


# TPE's random start-up trials before it models the finished ones. Optuna's default is 10, half
# of a 20-trial budget; 5 leaves TPE 15 informed proposals (the goal is 20 trials).
TPE_STARTUP_TRIALS = 5


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=TPE_STARTUP_TRIALS)
    return optuna.samplers.RandomSampler(seed=seed)


# ---------------------------------------------------------------- space <-> optuna


def _category(value: Any) -> str:
    """A choice as Optuna stores it: its JSON text (choices may be lists, e.g. model.hidden)."""
    return json.dumps(value)


def distribution(dim: Dimension) -> BaseDistribution:
    if dim.kind == "choice":
        return CategoricalDistribution([_category(v) for v in dim.values])
    low, high = dim.values
    if dim.kind in ("int_uniform", "int_log_uniform"):
        return IntDistribution(low, high, log=dim.kind == "int_log_uniform")
    return FloatDistribution(float(low), float(high), log=dim.kind == "log_uniform")


def distributions(dims: list[Dimension]) -> dict[str, BaseDistribution]:
    return {dim.key: distribution(dim) for dim in dims}


def to_params(dims: list[Dimension], optuna_params: dict[str, Any]) -> dict[str, Any]:
    """A trial's Optuna values as params.yaml values."""
    out = {}
    for dim in dims:
        value = optuna_params[dim.key]
        if dim.kind == "choice":
            value = dim.values[[_category(v) for v in dim.values].index(value)]
        out[dim.key] = value
    return out


def to_optuna(dim: Dimension, value: Any) -> Any | None:
    """A params.yaml value as Optuna's value of `dim`; None when it lies outside the space."""
    if dim.kind == "choice":
        for choice in dim.values:
            if isinstance(choice, bool) != isinstance(value, bool):
                continue
            numbers = _number(choice) and _number(value)
            if (numbers and choice == value) or _category(choice) == _category(value):
                return _category(choice)
        return None
    if not _number(value):
        return None
    low, high = dim.values
    if dim.kind in ("int_uniform", "int_log_uniform"):
        if float(value) != int(value):
            return None
        value = int(value)
    return value if low <= value <= high else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def own_values(
    dims: list[Dimension], base: dict[str, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    """params.yaml's values of the space keys as Optuna values (None unless all lie in the
    space), and the keys whose value lies outside it."""
    flat = flatten(base)
    values = {dim.key: to_optuna(dim, flat.get(dim.key)) for dim in dims}
    outside = [key for key, value in values.items() if value is None]
    return (None if outside else values), outside


# ---------------------------------------------------------------- the experiments already run


@dataclass(frozen=True)
class Past:
    """An experiment of this commit that lies in the space: finished or still in the queue."""

    name: str
    state: str  # success | failed | queued | running
    params: dict[str, Any]  # space key -> Optuna value
    value: float | None  # the metric; None when failed, unfinished or without it


def metric_value(exp: Experiment | None, metric: str) -> float | None:
    value = None if exp is None else exp.metrics.get(metric)
    return float(value) if _number(value) else None


def past_trials(
    states: list[tuple[str, Experiment]],
    dims: list[Dimension],
    base: dict[str, Any],
    metric: str,
) -> tuple[list[Past], list[str]]:
    """The experiments in `states` that lie in the space (space keys inside their ranges, every
    other param as in `base`, the flattened params.yaml), oldest first; and why others don't."""
    keys = {dim.key for dim in dims}
    names = {exp.name for _, exp in states}
    found, skipped = [], []
    for state, exp in sorted(states, key=lambda se: se[1].created):
        if f"{exp.name}-again" in names:
            skipped.append(f"{exp.name}: lost by DVC's queue; {exp.name}-again is the trial")
            continue
        if not exp.params:
            skipped.append(f"{exp.name}: no params")
            continue
        other = sorted(
            k
            for k in {*exp.params, *base} - keys
            if exp.params.get(k, "<missing>") != base.get(k, "<missing>")
        )
        values = {dim.key: to_optuna(dim, exp.params.get(dim.key)) for dim in dims}
        outside = [k for k, v in values.items() if v is None]
        if other or outside:
            why = [f"{k} differs from params.yaml" for k in other]
            why += [f"{k} lies outside the space" for k in outside]
            skipped.append(f"{exp.name}: {'; '.join(why)}")
            continue
        value = metric_value(exp, metric) if state == "success" else None
        if state == "success" and value is None:
            state = "failed"  # finished without the metric: nothing to learn from
        found.append(Past(exp.name, state, values, value))
    return found, skipped


# ---------------------------------------------------------------- the ask/tell loop


class Runner(Protocol):
    """Runs trials as experiments: `submit` starts one, `wait` blocks until at least one of the
    named ones has ended and returns each ended one's record (None when it failed)."""

    def submit(self, name: str, params: dict[str, Any]) -> None: ...

    def adopt(self, name: str, params: dict[str, Any]) -> None:
        """A trial an interrupted search queued, to be waited for like a submitted one."""

    def wait(self, names: list[str]) -> dict[str, Experiment | None]: ...


def asked(study: optuna.Study) -> int:
    """Trials asked so far: an enqueued one (the start values) waits in study.trials until the
    next ask takes it, and is not yet a trial of the count."""
    return sum(t.state != TrialState.WAITING for t in study.trials)


def run_study(
    dims: list[Dimension],
    sampler: str,
    seed: int,
    trials: int,
    jobs: int,
    metric: str,
    runner: Runner,
    past: Sequence[Past] = (),
    prefix: str = "search",
    reserved: frozenset[str] = frozenset(),
    check: Callable[[dict[str, Any]], None] = lambda params: None,
    log: Callable[[str], None] = lambda line: print(line, flush=True),
    start: dict[str, Any] | None = None,
) -> optuna.Study:
    """Ask, run (at most `jobs` at once) and tell until the study holds `trials` trials; a new
    study (no `past`) begins with `start` (Optuna values), when given, before any sampled trial."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "minimize" if lower_is_better(metric) else "maximize"
    study = optuna.create_study(direction=direction, sampler=make_sampler(sampler, seed))
    dists = distributions(dims)
    taken = {p.name for p in past} | reserved  # experiment names already used
    in_flight: dict[str, optuna.Trial] = {}
    for p in past:
        if p.state in UNFINISHED:
            continue
        study.add_trial(
            create_trial(
                state=TrialState.COMPLETE if p.value is not None else TrialState.FAIL,
                value=p.value,
                params=p.params,
                distributions=dists,
                user_attrs={"experiment": p.name},
            )
        )
    for p in past:  # an interrupted search's trials, still in DVC's queue: wait for them
        if p.state in UNFINISHED and asked(study) < trials:
            study.enqueue_trial(p.params, user_attrs={"experiment": p.name})
            in_flight[p.name] = study.ask(dists)
            runner.adopt(p.name, to_params(dims, p.params))
    if start is not None and not past:
        study.enqueue_trial(start, user_attrs={"start": True})
    if past:
        told = sum(p.state not in UNFINISHED for p in past)
        log(
            f"search: resumed {told} finished trial(s) and {len(in_flight)} unfinished one(s) "
            f"from the experiments of this commit"
        )
    while True:
        while len(in_flight) < jobs and asked(study) < trials:
            study.sampler = make_sampler(sampler, seed + len(study.trials))
            trial = study.ask(dists)
            params = to_params(dims, trial.params)
            number = trial.number + 1
            while f"{prefix}-{number}" in taken:
                number += 1
            name = f"{prefix}-{number}"
            taken.add(name)
            trial.set_user_attr("experiment", name)
            shown = " ".join(f"{k}={v!r}" for k, v in params.items())
            try:
                check(params)
                runner.submit(name, params)
            except PipelineError as exc:
                study.tell(trial, state=TrialState.FAIL)
                log(f"search: trial {trial.number + 1}/{trials} {name} failed: {exc}")
                continue
            in_flight[name] = trial
            own = " (params.yaml's values)" if trial.user_attrs.get("start") else ""
            log(f"search: trial {trial.number + 1}/{trials} {name}: {shown}{own}")
        if not in_flight:
            break
        for name, exp in runner.wait(list(in_flight)).items():
            trial = in_flight.pop(name)
            value = metric_value(exp, metric)
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
                why = "failed" if exp is None else f"has no {metric}"
                log(f"search: {name} {why}; told as failed (see `dvc queue logs {name}`)")
            else:
                study.tell(trial, value)
                log(f"search: {name} {metric} {value:.6g} (best so far {study.best_value:.6g})")
    return study


# ---------------------------------------------------------------- DVC's queue as the runner


def search_study(
    sampler: str,
    trials: int,
    space: Path,
    jobs: int,
    metric: str | None,
    params_file: Path = PARAMS_FILE,
    runner: Runner | None = None,
) -> optuna.Study:
    """`pipeline search --sampler tpe|random`: resume from this commit's experiments, then run
    the study until it holds `trials` trials; best prints the ranking afterwards."""
    if sampler not in SAMPLERS:
        raise PipelineError(
            f"search --sampler: {sampler!r} is not one of {', '.join(SAMPLERS)} "
            f"(leave it out to queue seeded random draws without running them)"
        )
    dims, seed, base = load_search(trials, jobs, space, params_file)
    show = exp_show()
    states = experiment_states(show)
    if metric is None:
        known = baselines_from_show(show) + [e for _, e in states]
        if not any(m.startswith("val.") for e in known for m in e.metrics):
            raise PipelineError(
                "search: no metrics yet to tell the task by; run `dvc repro` once or pass "
                "--metric val.<name>"
            )
        metric = default_metric(known)
    check_metric(metric)
    past, skipped = past_trials(states, dims, flatten(base), metric)
    for why in skipped:
        print(f"search: not a trial of this space: {why}")
    start, outside = own_values(dims, base)
    if outside and not past:
        print(
            f"search: params.yaml's {', '.join(outside)} lie(s) outside the space, so the study "
            f"does not begin with params.yaml's own values"
        )
    print(
        f"search: {sampler} study of {space}, {trials} trial(s), {jobs} at a time, {metric}",
        flush=True,
    )
    study = None
    try:
        study = run_study(
            dims,
            sampler,
            seed,
            trials,
            jobs,
            metric,
            runner or QueueRunner(jobs),
            past,
            prefix=f"{space.stem}-{sampler}",
            reserved=frozenset(e.name for _, e in states),
            check=lambda params: check_trial(params, base, f"{space}: trial"),
            start=start,
        )
    except KeyboardInterrupt:
        raise PipelineError(
            "search: interrupted; trials already queued go on in DVC's queue (`dvc queue "
            "status`); run the same command to continue the study"
        ) from None
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    if not done:
        raise PipelineError(
            f"search: all {len(failed)} trial(s) failed; see `dvc queue logs <name>`"
        )
    best = study.best_trial
    print(
        f"search: done: {len(done)} finished, {len(failed)} failed; best "
        f"{best.user_attrs.get('experiment')} {metric} {best.value:.6g}; rank them with "
        f"`python -m pipeline best --metric {metric}`"
    )
    return study
