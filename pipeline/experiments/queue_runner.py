"""Trials through DVC's experiment queue: `QueueRunner` queues a study's trials and collects
their metrics as they finish; `random_search` queues seeded random draws."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from pipeline.core.config import PARAMS_FILE
from pipeline.core.errors import PipelineError
from pipeline.experiments.runs import (
    Experiment,
    QueueTask,
    committed_experiments,
    dvc,
    exp_refs,
    exp_show,
    experiment_states,
    queue_tasks,
    start_queue,
    task_started,
)
from pipeline.experiments.space import check_trial, load_search, sample, set_args


def queue_experiment(params: dict[str, Any], name: str | None = None, tries: int = 10) -> str:
    """`dvc exp run --queue [--name NAME] -S key=value ...`; the experiment's name ("" if DVC's
    answer does not say it). DVC's locks do not wait (the queue's stash is locked while a worker
    sets an experiment up), so a busy lock is retried for 30 s."""
    named = ["--name", name] if name else []
    for attempt in range(tries):
        try:
            out = dvc("exp", "run", "--queue", *named, *set_args(params)).stdout
            break
        except PipelineError as exc:
            busy = "is busy, it is being blocked by" in str(exc) or "acquire lock" in str(exc)
            if not busy or attempt == tries - 1:
                raise
            time.sleep(3)
    found = re.findall(r"Queued experiment '([^']+)'", out)
    return found[0] if found else (name or "")


class QueueRunner:
    """Each trial is `dvc exp run --queue --name <name> -S ...`; `dvc queue start -j J` keeps J
    workers (a worker stops after 10 s of empty queue, so waiting restarts them if needed).

    A trial has finished when its commit appears under this commit's experiment refs (read from
    git in milliseconds). The queue's status tells the failed ones (no ref) and idle workers; it
    costs about a CPU-second, taken from the trials on a small machine, so it is asked when the
    refs change or every `check_s`. DVC's queue can drop a task: a worker that is shutting down
    for want of work receives it, and it stays Running without ever starting (seen three times
    in about 170 trials on a busy 2-core machine). One listed as Running whose run has not
    begun after `lost_s` is killed and queued again under `<name>-again`; the trial keeps its
    name. One that has no ref and is missing from the queue's status for `lost_s` (removed from
    the queue by hand, or its record lost) is told as failed rather than waited for.
    """

    def __init__(
        self, jobs: int, poll_s: float = 1.0, check_s: float = 5.0, lost_s: float = 30.0
    ) -> None:
        self.jobs = jobs
        self.poll_s = poll_s
        self.check_s = check_s
        self.lost_s = lost_s
        self.params: dict[str, dict[str, Any]] = {}  # trial name -> its params
        self.running_as: dict[str, str] = {}  # trial name -> its experiment's name in DVC
        self.unstarted: dict[str, float] = {}  # experiment listed Running, not begun: since
        self.unlisted: dict[str, float] = {}  # experiment missing from the queue's status: since

    def submit(self, name: str, params: dict[str, Any]) -> None:
        self.params[name] = params
        self._queue(name, name)

    def adopt(self, name: str, params: dict[str, Any]) -> None:
        self.params[name] = params

    def _queue(self, trial: str, name: str) -> None:
        queue_experiment(self.params[trial], name)
        self.running_as[trial] = name
        start_queue(self.jobs)

    def wait(self, names: list[str]) -> dict[str, Experiment | None]:
        refs, checked, busy = "", 0.0, time.monotonic()
        while True:
            now_refs = exp_refs()
            if now_refs != refs or time.monotonic() - checked > self.check_s:
                refs, checked = now_refs, time.monotonic()
                trial_of = {self.running_as.get(n, n): n for n in names}
                finished = committed_experiments(list(trial_of))
                if finished:
                    return {trial_of[n]: exp for n, exp in finished.items()}
                tasks = queue_tasks(list(trial_of))
                status = {n: task.status for n, task in tasks.items()}
                ended = [n for n in trial_of if status.get(n) not in ("Queued", "Running", None)]
                if ended:
                    return {trial_of[n]: exp for n, exp in self._ended(ended, status).items()}
                unqueued = self._requeue_lost(tasks, trial_of) | self._gone(tasks, trial_of)
                if unqueued:
                    return unqueued
                if "Running" in status.values():
                    busy = time.monotonic()
                elif time.monotonic() - busy > 15:  # queued, but no worker took it
                    start_queue(self.jobs)
                    busy = time.monotonic()
            time.sleep(self.poll_s)

    def _requeue_lost(
        self, tasks: dict[str, QueueTask], trial_of: dict[str, str]
    ) -> dict[str, Experiment | None]:
        """Kill each task listed as Running whose run has not begun for `lost_s` and queue its
        trial again; the trials that could not be queued again, as failed."""
        now, unqueued = time.monotonic(), {}
        for name, task in tasks.items():
            if task.status != "Running" or task_started(task.rev):
                self.unstarted.pop(name, None)
                continue
            if now - self.unstarted.setdefault(name, now) <= self.lost_s:
                continue
            self.unstarted.pop(name)
            if dvc("queue", "kill", name, check=False).returncode != 0:
                continue  # DVC would not (a worker says it runs it): wait on it
            trial, again = trial_of[name], f"{name}-again"
            print(
                f"search: DVC's queue lost {name} (Running, never begun); queuing {again}",
                flush=True,
            )
            try:
                self._queue(trial, again)
            except PipelineError as exc:  # e.g. DVC's queue lock, held by a starting worker
                print(f"search: {trial} told as failed: {exc}", flush=True)
                unqueued[trial] = None
        return unqueued

    def _gone(
        self, tasks: dict[str, QueueTask], trial_of: dict[str, str]
    ) -> dict[str, Experiment | None]:
        """The trials whose experiment the queue has not listed for `lost_s`, as failed."""
        now, gone = time.monotonic(), {}
        for name, trial in trial_of.items():
            if name in tasks:
                self.unlisted.pop(name, None)
            elif now - self.unlisted.setdefault(name, now) > self.lost_s:
                self.unlisted.pop(name)
                print(
                    f"search: {name} is gone from DVC's queue (no status, no result for "
                    f"{self.lost_s:g} s); told as failed",
                    flush=True,
                )
                gone[trial] = None
        return gone

    @staticmethod
    def _ended(ended: list[str], status: dict[str, str]) -> dict[str, Experiment | None]:
        """Ended without a ref when last looked: failed, or (Success) committed since, or
        somewhere only exp show finds."""
        succeeded = [n for n in ended if status[n] == "Success"]
        records: dict[str, Experiment] = committed_experiments(succeeded) if succeeded else {}
        if set(succeeded) - set(records):
            show = exp_show()
            records = {e.name: e for state, e in experiment_states(show) if state == "success"}
        return {n: records.get(n) if n in succeeded else None for n in ended}


def random_search(
    trials: int, space: Path, jobs: int, run: bool, params_file: Path = PARAMS_FILE
) -> list[str]:
    """`pipeline search --trials N [--run]`: queue N seeded random draws of the space as DVC
    experiments (DVC names them); with `run`, start the queue and wait for them as a study
    waits for its trials (a task DVC's queue drops is queued again). Returns their names."""
    dims, seed, base = load_search(trials, jobs, space, params_file)
    draws = sample(dims, trials, seed)
    for i, trial in enumerate(draws, 1):
        check_trial(trial, base, f"{space}: trial {i}")
    runner = QueueRunner(jobs)
    names = []
    for i, trial in enumerate(draws, 1):
        name = queue_experiment(trial)
        if name:
            runner.adopt(name, trial)
            names.append(name)
        shown = " ".join(f"{k}={v}" for k, v in trial.items())
        print(f"search: queued trial {i}/{trials} {name}: {shown}")
    if not run:
        print(
            f"search: start them with `dvc queue start -j {jobs}`; "
            f"rank them with `python -m pipeline best`"
        )
        return names
    start_queue(jobs)
    pending, failed = list(names), []
    while pending:
        for name, exp in runner.wait(pending).items():
            pending.remove(name)
            if exp is None:
                failed.append(name)
        print(f"search: {len(names) - len(pending)}/{len(names)} done, {len(failed)} failed",
              flush=True)  # fmt: skip
    if failed:
        raise PipelineError(
            f"search: {len(failed)} trial(s) failed: {failed}; see `dvc queue logs <name>`"
        )
    print("search: done; rank them with `python -m pipeline best`")
    return names
