"""End to end: sweeps, random search, best, compare, cv and the run-cache, with real DVC in a
throwaway git repository: each test on its own copy of the project built once with tiny params
(tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

from ..conftest import BIN, Project

pytestmark = pytest.mark.e2e


def pipeline(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=project.path,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


def experiments(project: Project) -> dict[str, dict]:
    """name -> params of each finished experiment of HEAD (dvc exp show --json)."""
    show = json.loads(project.dvc("exp", "show", "--json").output)
    found = {}
    for baseline in show:
        for exp in baseline.get("experiments") or []:
            if exp["executor"]["state"] == "success":
                tip = exp["revs"][0]
                found[exp["name"]] = tip["data"]["params"]["params.yaml"]["data"]
    return found


def wait_for_queue(project: Project, timeout: float = 300) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        status = project.dvc("queue", "status").output
        if " Queued" not in status and " Running" not in status:
            assert " Failed" not in status, status
            return
        time.sleep(3)  # each `dvc queue status` costs most of a second of CPU
    raise AssertionError("queue did not finish")


@pytest.mark.slow
def test_two_processes_compare_then_run_cache_round_trip(built: Project):
    """lr 0.01 on one process (built) -> 0.005 on two (`dvc exp run -S train.processes=2`: the
    one stage command launches 2 gloo workers) -> back: the third run restores train from the
    run-cache."""
    first = built.dvc("exp", "run", "-S", "train.lr=0.005", "-S", "train.processes=2")
    assert first.ran[:2] == ["train", "evaluate"]
    assert "on 2 processes (cpu)" in first.output
    metrics = json.loads((built.path / "reports/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8

    result = pipeline(built, "compare", "--rev", "HEAD")
    assert result.returncode == 0, result.stderr
    report = (built.path / "reports/compare.md").read_text()
    params_table = report.split("## Params")[1].split("##")[0]
    assert re.search(r"\| train\.lr +\| 0\.01 +\| 0\.005 ", params_table), params_table
    assert re.search(r"\| train\.processes +\| 1 +\| 2 ", params_table), params_table
    metrics_table = report.split("## Metrics")[1].split("##")[0]
    assert "| HEAD " in metrics_table and "| workspace " in metrics_table
    assert "- **val.accuracy**: " in report and "- **test.log_loss**: " in report
    curves = built.path / "reports/compare_curves.png"
    assert curves.read_bytes()[:4] == b"\x89PNG" and "not available" not in report

    back = built.dvc("exp", "run", "-S", "train.lr=0.01", "-S", "train.processes=1")
    assert "train" not in back.ran
    assert "Stage 'train' is cached - skipping run" in back.output


@pytest.mark.slow
def test_grid_and_search_run_in_one_queue_and_best_applies_the_winner(built: Project):
    """A queued 2 x 1 grid and `search --trials 1 --run` (which starts the queue, grid first)."""
    queued = built.dvc(
        "exp", "run", "--queue", "-S", "train.lr=0.01,0.005", "-S", "model.dropout=0.2"
    ).output  # fmt: skip
    grid_names = re.findall(r"Queued experiment '([^']+)'", queued)
    assert len(grid_names) == 2
    space = {
        "seed": 7,
        "space": {
            "train.lr": {"log_uniform": [0.001, 0.05]},
            "model.dropout": {"choice": [0.0, 0.3]},
        },
    }
    (built.path / "space.yaml").write_text(yaml.safe_dump(space))
    result = pipeline(
        built, "search", "--trials", "1", "--space", "space.yaml", "--run", "--jobs", "2"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "search: 1/1 done, 0 failed" in result.stdout
    search_names = re.findall(r"queued trial 1/1 (\S+):", result.stdout)
    assert len(search_names) == 1
    wait_for_queue(built)

    found = experiments(built)
    assert set(found) == {*grid_names, *search_names}
    grid = {(found[n]["train"]["lr"], found[n]["model"]["dropout"]) for n in grid_names}
    assert grid == {(0.01, 0.2), (0.005, 0.2)}
    for name in search_names:
        assert 0.001 <= found[name]["train"]["lr"] <= 0.05
        assert found[name]["model"]["dropout"] in (0.0, 0.3)
    table = built.dvc(
        "exp", "show", "--md", "--only-changed", "--drop",
        "Created|State|Executor|baselines|(standard_error\\.)?test\\.|^(data|pipeline|models|reports)/",
    ).output  # fmt: skip
    # validation metrics only (val.accuracy, 1.0 for every run here, is dropped as unchanged)
    assert "val.log_loss" in table and "test." not in table and "pipeline/" not in table
    assert all(name in table for name in found)

    refused = pipeline(built, "best", "--metric", "test.accuracy")
    assert refused.returncode == 1 and "is a test metric" in refused.stderr
    best = pipeline(built, "best", "--metric", "val.log_loss", "--apply")
    assert best.returncode == 0, best.stderr
    winner = best.stdout.split("| 1 | ")[1].split(" |")[0]
    assert f"applied {winner}" in best.stdout and "looked at once" in best.stdout
    # the winner set against the commit's own run, beside the validation split's noise
    assert f"margin: {winner} against this commit's own run, val.log_loss " in best.stdout
    assert (
        yaml.safe_load((built.path / "params.yaml").read_text())["train"] == found[winner]["train"]
    )


def test_cv_stage_writes_mean_and_std(built: Project):
    disabled = json.loads((built.path / "reports/cv.json").read_text())
    assert disabled == {"enabled": False}
    result = built.dvc("exp", "run", "-S", "cv.enabled=true")
    assert result.ran == ["cv"]
    report = json.loads((built.path / "reports/cv.json").read_text())
    assert report["k"] == 5 and report["folds_from"] == "cv" and len(report["per_fold"]) == 5
    for name in ("accuracy", "f1_macro", "log_loss"):
        assert set(report["val"][name]) == {"mean", "std"}
    shown = built.dvc("metrics", "show", "--json").output
    assert "val.accuracy.mean" in shown or '"mean"' in shown


@pytest.mark.slow
def test_tpe_study_resumes_after_an_interruption_and_best_ranks_it(built: Project):
    """`search --sampler tpe --trials 3 --jobs 1`: trial 1 is params.yaml's own values (in the
    space; DVC's run-cache restores it), the search is interrupted once trial 2 is queued, then
    run again: the study takes trial 1, waits for trial 2 (found in DVC), runs the third."""
    space = {
        "seed": 3,
        "space": {
            "train.lr": {"log_uniform": [0.001, 0.05]},
            "model.dropout": {"uniform": [0.0, 0.3]},
        },
    }
    (built.path / "study.yaml").write_text(yaml.safe_dump(space))
    args = ["search", "--sampler", "tpe", "--trials", "3", "--jobs", "1", "--space", "study.yaml"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=built.path,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Ctrl-C's disposition: a suite started with `&` by a shell without job control (a CI
        # script, nohup) inherits SIGINT as ignored, and the search would never see it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    for line in first.stdout:  # type: ignore[union-attr]
        lines.append(line)
        if "trial 2/3 study-tpe-2:" in line:
            first.send_signal(signal.SIGINT)
            break
    lines.append(first.communicate(timeout=60)[0])
    told = "".join(lines)
    assert first.returncode == 1 and "interrupted" in told, told
    assert "trial 1/3 study-tpe-1: model.dropout=0.1 train.lr=0.01 (params.yaml's values)" in told

    second = pipeline(built, *args)
    out = second.stdout
    assert second.returncode == 0, second.stderr + out
    assert "resumed 1 finished trial(s) and 1 unfinished one(s)" in out, out
    assert re.search(r"study-tpe-2 val.accuracy [\d.]+ \(best so far", out), out
    assert re.findall(r"trial \d/3 (\S+):", out) == ["study-tpe-3"], out
    assert "search: done: 3 finished, 0 failed" in out
    wait_for_queue(built)

    found = experiments(built)
    assert set(found) == {"study-tpe-1", "study-tpe-2", "study-tpe-3"}
    proposed = dict(re.findall(r"(study-tpe-\d): .*train.lr=([\d.e-]+)", told + out))
    for name, params in found.items():
        assert 0.001 <= params["train"]["lr"] <= 0.05 and 0 <= params["model"]["dropout"] <= 0.3
        assert params["train"]["lr"] == float(proposed[name])  # DVC kept every digit
    best = pipeline(built, "best")
    assert best.returncode == 0, best.stderr
    assert best.stdout.count("| study-tpe-") == 3
