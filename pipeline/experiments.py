"""Experiments: the search space and its seeded draws, DVC's experiments and queue, `best`.

A space file (search.yaml) holds per params key a log-uniform, uniform, integer or choice
distribution. Keys and every value a trial can draw are checked against the typed params before
anything is queued; each trial becomes `dvc exp run --queue -S key=value ...`. The searches
themselves (random draws queued, or an Optuna study) are in pipeline/study.py.

`best` ranks the experiments of the current commit (`dvc exp show --json`) by a validation
metric, never a test metric, sets the winner against the commit's own run beside the metric's
noise (a `margin:` line), and with `--apply` applies the winner (`dvc exp apply`); its test
metrics are then printed once.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pipeline import io
from pipeline.config import PARAMS_FILE, param_key_problem, parse_params
from pipeline.errors import PipelineError
from pipeline.noise import noise, verdict
from pipeline.task import lower_is_better

SPACE_FILE = Path("search.yaml")
KINDS = ("log_uniform", "uniform", "int_uniform", "int_log_uniform", "choice")
INT_KINDS = ("int_uniform", "int_log_uniform")


TIMED_OUT = -9  # dvc's return code when `timeout` ran out (it was killed)
SHOW_TIMEOUT = 120.0  # seconds for one `dvc exp show` (a few seconds when all is well)
EXPS_RUN = Path(".dvc/tmp/exps/run")  # DVC's per-run folders of queued experiments


def _dvc_command() -> tuple[str, dict[str, str]]:
    """dvc (on PATH, or beside this interpreter) and an environment whose PATH starts with this
    interpreter's folder: DVC's queue starts its workers as `dvc`, so with an unactivated venv
    (`.venv/bin/python -m pipeline search`) they would never start and the queue would wait."""
    here = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([here, os.environ.get("PATH", "")])}
    return shutil.which("dvc", path=env["PATH"]) or str(Path(here) / "dvc"), env


def dvc(
    *args: str, check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run dvc (see _dvc_command); a failure becomes a PipelineError. Past `timeout` seconds it
    is killed and returns TIMED_OUT."""
    exe, env = _dvc_command()
    try:
        proc = subprocess.run(
            [exe, *args], text=True, capture_output=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        proc = subprocess.CompletedProcess(
            [exe, *args], TIMED_OUT, "", f"dvc {' '.join(args)}: no answer in {timeout:g} s"
        )
    if check and proc.returncode != 0:
        raise PipelineError(
            f"`dvc {' '.join(args)}` failed:\n{(proc.stderr or proc.stdout).strip()}"
        )
    return proc


def exp_show(tries: int = 40, hangs: int = 3) -> list[dict]:
    """`dvc exp show --json`, parsed. It reads the files of running queued experiments under
    .dvc/tmp/exps and fails ("does not exist", "No such file or directory") when one is created
    or removed under it; that race is retried for up to two minutes (a finishing experiment's
    clean-up on a busy 2-core machine kept it failing for over 30 s). Reading an experiment's
    metrics as it is cleaned up can also hang for good (seen once: pygit2's blob reader waiting
    on a thread that was gone), so a call gets SHOW_TIMEOUT seconds, `hangs` times. Any other
    failure is raised at once."""
    for attempt in range(tries):
        proc = dvc("exp", "show", "--json", check=False, timeout=SHOW_TIMEOUT)
        if proc.returncode == 0:
            return json.loads(proc.stdout or "[]")
        gone = "does not exist" in proc.stderr or "No such file or directory" in proc.stderr
        hangs -= proc.returncode == TIMED_OUT
        racing = (gone and "/tmp/exps/" in proc.stderr) or (
            proc.returncode == TIMED_OUT and hangs > 0
        )
        if not racing or attempt == tries - 1:
            break
        time.sleep(3)  # a queued experiment's start-up can keep it racing for seconds
    raise PipelineError(f"`dvc exp show --json` failed:\n{(proc.stderr or proc.stdout).strip()}")


# ---------------------------------------------------------------- the space and its draws


@dataclass(frozen=True)
class Dimension:
    key: str  # params key, e.g. train.lr
    kind: str  # one of KINDS
    values: tuple[Any, ...]  # (low, high) or the choices


def _check_key(key: str, where: str) -> None:
    problem = param_key_problem(key)
    if problem is not None:
        what, hint = problem
        suggestion = f" Did you mean '{hint}'?" if hint else ""
        raise PipelineError(f"{where}: space.{key}: {what} of params.yaml.{suggestion}")


def parse_space(raw: Any, base: dict[str, Any], where: str = str(SPACE_FILE)) -> list[Dimension]:
    """The space's dimensions, each key and every value it can take checked against `base`
    (the params.yaml mapping) through the typed params."""
    if not isinstance(raw, dict) or not isinstance(raw.get("space"), dict) or not raw["space"]:
        raise PipelineError(f"{where}: expected a mapping with a non-empty `space:` mapping")
    unknown = set(raw) - {"seed", "space"}
    if unknown:
        raise PipelineError(
            f"{where}: unknown top-level key(s) {sorted(unknown)}; allowed: seed, space"
        )
    dims = []
    for key, spec in raw["space"].items():
        _check_key(str(key), where)
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise PipelineError(
                f"{where}: space.{key}: expected exactly one of {', '.join(KINDS)}, "
                f"e.g. {{log_uniform: [0.0001, 0.1]}}; got {spec!r}"
            )
        kind, values = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(values, list) or not values:
                raise PipelineError(f"{where}: space.{key}.choice: expected a non-empty list")
        else:
            ok = (
                isinstance(values, list)
                and len(values) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
                and values[0] < values[1]
            )
            if ok and kind in INT_KINDS:
                ok = all(isinstance(v, int) for v in values)
            if not ok:
                what = "integers" if kind in INT_KINDS else "numbers"
                raise PipelineError(
                    f"{where}: space.{key}.{kind}: expected [low, high] {what} with low < high, "
                    f"got {values!r}"
                )
            if kind in ("log_uniform", "int_log_uniform") and values[0] <= 0:
                raise PipelineError(f"{where}: space.{key}.log_uniform: low must be > 0")
        dim = Dimension(str(key), kind, tuple(values))
        for value in dim.values:  # the bounds / every choice must be a valid param value
            check_trial({dim.key: value}, base, f"{where}: space.{key}")
        dims.append(dim)
    return dims


def _set(params: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(params))  # deep copy of plain YAML data
    *parents, leaf = key.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def check_trial(trial: dict[str, Any], base: dict[str, Any], where: str) -> None:
    params = base
    for key, value in trial.items():
        params = _set(params, key, value)
    parse_params(params, source=where)


def _round(value: float, low: float, high: float) -> float:
    """4 significant digits (readable in `dvc exp show`), kept within [low, high]."""
    return min(max(float(f"{value:.4g}"), low), high)


def sample(dims: list[Dimension], trials: int, seed: int) -> list[dict[str, Any]]:
    """`trials` seeded draws: one value per dimension each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(trials):
        trial: dict[str, Any] = {}
        for dim in dims:
            if dim.kind == "choice":
                trial[dim.key] = dim.values[int(rng.integers(len(dim.values)))]
            elif dim.kind in INT_KINDS:
                low, high = dim.values
                if dim.kind == "int_uniform":
                    trial[dim.key] = int(rng.integers(low, high + 1))
                else:  # uniform in log space over [low, high + 1), floored
                    value = math.exp(rng.uniform(math.log(low), math.log(high + 1)))
                    trial[dim.key] = min(max(math.floor(value), low), high)
            else:
                low, high = dim.values
                if dim.kind == "log_uniform":
                    value = math.exp(rng.uniform(math.log(low), math.log(high)))
                else:
                    value = rng.uniform(low, high)
                trial[dim.key] = _round(value, low, high)
        out.append(trial)
    return out


def set_args(trial: dict[str, Any]) -> list[str]:
    """`-S key=value` arguments, values in YAML flow style as DVC parses them."""
    args = []
    for key, value in trial.items():
        text = yaml.safe_dump(value, default_flow_style=True, width=math.inf).strip()
        text = text.removesuffix("\n...").removesuffix("...").strip()
        args += ["-S", f"{key}={text}"]
    return args


def load_space(path: Path, params_file: Path) -> tuple[list[Dimension], int]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"search --space: {str(path)!r} not found") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from None
    base = yaml.safe_load(params_file.read_text()) or {}
    dims = parse_space(raw, base, str(path))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise PipelineError(f"{path}: seed: expected an int >= 0, got {seed!r}")
    return dims, seed


def start_queue(jobs: int) -> None:
    """`dvc queue start`; its output goes to a file, not a pipe: the worker it forks keeps its
    output open, so a captured pipe would block until the whole queue has run."""
    exe, env = _dvc_command()
    with tempfile.TemporaryFile("w+") as log:
        code = subprocess.call(
            [exe, "queue", "start", "-j", str(jobs)], stdout=log, stderr=log, env=env
        )
        if code != 0:
            log.seek(0)
            raise PipelineError(f"`dvc queue start` failed:\n{log.read().strip()}")


@dataclass(frozen=True)
class QueueTask:
    rev: str  # the queued experiment's commit, as `dvc queue status` abbreviates it
    status: str  # Queued / Running / Success / Failed ...


def queue_tasks(names: list[str], tries: int = 10) -> dict[str, QueueTask]:
    """The named tasks of `dvc queue status`. It reads each task's info file, which a starting
    or ending experiment may be writing ("unexpected error - Expecting value: line 1 column 1",
    seen once in a study; treeverse/dvc#8014 has its kin), so a failure is retried for 20 s."""
    for attempt in range(tries):
        proc = dvc("queue", "status", check=False)
        if proc.returncode == 0 or attempt == tries - 1:
            break
        time.sleep(2)
    if proc.returncode != 0:
        raise PipelineError(f"`dvc queue status` failed:\n{(proc.stderr or proc.stdout).strip()}")
    out = proc.stdout
    tasks = {}
    for line in out.splitlines():
        cells = line.split()
        if len(cells) >= 4 and cells[1] in names:
            seen = tasks.get(cells[1])  # a name can recur on another commit: the live one
            if seen is None or seen.status not in ("Queued", "Running"):
                tasks[cells[1]] = QueueTask(cells[0], cells[-1])
    return tasks


def task_started(rev: str) -> bool:
    """Whether a queue task's run has begun: DVC's executor writes its info under
    .dvc/tmp/exps/run/<rev>/ when it sets the experiment up (and leaves it there)."""
    return any(EXPS_RUN.glob(f"{rev}*"))


def load_search(
    trials: int, jobs: int, space: Path, params_file: Path
) -> tuple[list[Dimension], int, dict[str, Any]]:
    """search's counts checked, then the space's dimensions, its seed and params.yaml."""
    if trials < 1:
        raise PipelineError(f"search --trials: expected an int >= 1, got {trials}")
    if jobs < 1:
        raise PipelineError(f"search --jobs: expected an int >= 1, got {jobs}")
    dims, seed = load_space(space, params_file)
    return dims, seed, yaml.safe_load(params_file.read_text()) or {}


# ---------------------------------------------------------------- ranking


@dataclass
class Experiment:
    name: str
    rev: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    created: str = ""  # dvc's timestamp of the experiment, for ordering


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def _metrics(files: dict[str, Any]) -> dict[str, Any]:
    """Metrics files' contents by path, flattened into one dict (cv.json's keys under cv.)."""
    metrics: dict[str, Any] = {}
    for path, content in files.items():
        prefix = "cv" if Path(path).name == io.CV_REPORT.name else ""
        metrics.update(flatten(content or {}, prefix))
    return metrics


def _record(name: str, data: dict[str, Any]) -> Experiment:
    params = flatten(((data.get("params") or {}).get("params.yaml") or {}).get("data") or {})
    files = {path: (c or {}).get("data") for path, c in (data.get("metrics") or {}).items()}
    created = data.get("timestamp") or ""
    return Experiment(name, data.get("rev", ""), params, _metrics(files), created)


def _git(*args: str, cwd: Path | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def exp_refs() -> str:
    """DVC's experiment refs, listed (a finished experiment changes them; 10 ms to list)."""
    return _git("for-each-ref", "refs/exps", cwd=None).stdout


def committed_experiments(
    names: list[str] | None = None, cwd: Path | None = None
) -> dict[str, Experiment]:
    """The experiments of the current commit that DVC has committed (all, or the named ones),
    read from git (refs/exps/<commit>/<name>: params.yaml and the metrics files) in milliseconds,
    without `dvc exp show`, which also reads every queued and running experiment's files and
    races with their start-up and clean-up. A name without a ref (unfinished, failed) is absent."""
    sha = _git("rev-parse", "HEAD", cwd=cwd).stdout.strip()
    base = f"refs/exps/{sha[:2]}/{sha[2:]}/"
    refs = _git("for-each-ref", "--format=%(objectname) %(refname)", base, cwd=cwd).stdout
    found = {}
    for line in refs.splitlines():
        rev, ref = line.split(" ", 1)
        name = ref.removeprefix(base)
        if names is not None and name not in names:
            continue
        params = yaml.safe_load(_git("show", f"{rev}:{PARAMS_FILE}", cwd=cwd).stdout) or {}
        files = {}
        for path in (io.METRICS, io.CV_REPORT):
            shown = _git("show", f"{rev}:{path}", cwd=cwd)
            if shown.returncode == 0:
                files[str(path)] = json.loads(shown.stdout)
        found[name] = Experiment(name, rev, flatten(params), _metrics(files))
    return found


def experiment_states(show: list[dict[str, Any]]) -> list[tuple[str, Experiment]]:
    """(state, experiment) for each experiment (not the workspace or baseline commits) in
    `dvc exp show --json`; state: queued, running, failed (also one with an error) or success."""
    found = []
    for baseline in show:
        for exp in baseline.get("experiments") or []:
            state = (exp.get("executor") or {}).get("state") or "success"
            tip = (exp.get("revs") or [{}])[0]
            if tip.get("error"):
                state = "failed"
            name = exp.get("name") or tip.get("name") or tip.get("rev", "")[:7]
            found.append((state, _record(name, tip.get("data") or {})))
    return found


def baselines_from_show(show: list[dict[str, Any]]) -> list[Experiment]:
    """The commits' own records in `dvc exp show --json` (their metrics tell the task)."""
    return [_record(b.get("rev", ""), b.get("data") or {}) for b in show if b.get("data")]


def experiments_from_show(show: list[dict[str, Any]]) -> list[Experiment]:
    """The finished experiments (not the workspace or baseline commits) in `dvc exp show`."""
    return [
        e for state, e in experiment_states(show) if state not in ("queued", "running", "failed")
    ]


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
        cells = [str(i), e.name, f"{e.metrics[metric]:.6g}", *(str(e.params.get(k)) for k in keys)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def margin(winner: Experiment, commit: Experiment | None, metric: str, val_rows: int | None) -> str:
    """The winner against the commit's own run on `metric`, beside the metric's noise
    (pipeline/noise.py): for a cv.val.<name>.mean the fold std (the winner's, else the commit's),
    for a val.<name> the standard error evaluate measured on the val rows (the commit's run's,
    else the winner's), else a proportion's on `val_rows` rows, else 5% of the value.
    "same within noise" means the validation split cannot tell the two apart."""
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
    shown = _git("show", f"HEAD:{io.SPLIT_REPORT}", cwd=None)
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
