"""DVC's experiments from Python: the `dvc` command, `dvc exp show`, the queue and its tasks, and
each experiment as a record of its flattened params and metrics (read from git refs when
committed, in milliseconds)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core import io
from pipeline.core.config import PARAMS_FILE, flatten, params_mapping
from pipeline.core.errors import PipelineError

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


# ---------------------------------------------------------------- ranking


@dataclass
class Experiment:
    name: str
    rev: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    created: str = ""  # dvc's timestamp of the experiment, for ordering


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


def git(*args: str, cwd: Path | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)


def exp_refs() -> str:
    """DVC's experiment refs, listed (a finished experiment changes them; 10 ms to list)."""
    return git("for-each-ref", "refs/exps", cwd=None).stdout


def committed_experiments(
    names: list[str] | None = None, cwd: Path | None = None
) -> dict[str, Experiment]:
    """The experiments of the current commit that DVC has committed (all, or the named ones),
    read from git (refs/exps/<commit>/<name>: params.yaml and the metrics files) in milliseconds,
    without `dvc exp show`, which also reads every queued and running experiment's files and
    races with their start-up and clean-up. A name without a ref (unfinished, failed) is absent."""
    sha = git("rev-parse", "HEAD", cwd=cwd).stdout.strip()
    base = f"refs/exps/{sha[:2]}/{sha[2:]}/"
    refs = git("for-each-ref", "--format=%(objectname) %(refname)", base, cwd=cwd).stdout
    found = {}
    for line in refs.splitlines():
        rev, ref = line.split(" ", 1)
        name = ref.removeprefix(base)
        if names is not None and name not in names:
            continue
        shown = git("show", f"{rev}:{PARAMS_FILE}", cwd=cwd).stdout
        params = params_mapping(shown, f"{name}:{PARAMS_FILE}")
        files = {}
        for path in (io.METRICS, io.CV_REPORT):
            shown = git("show", f"{rev}:{path}", cwd=cwd)
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
