"""End to end: sweeps, random search, best, compare, cv and the run-cache, with real DVC in a
throwaway git repository. Params are tiny (5 epochs, no baselines) to keep this file ~2.5 min."""

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

from .conftest import BIN, Project, _copy_project

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = _copy_project(tmp_path_factory.mktemp("experiments"))
    project.set_params(  # a small net and the old lr/batch: 5 epochs must learn penguins
        model={"hidden": [32, 16], "ensemble": 1, "num_embeddings": "none"},
        train={"epochs": 5, "progress": False, "lr": 0.01, "batch_size": 32},
        evaluate={
            "dpi": 50,
            "baselines": {"majority": False, "linear": False, "hist_gradient_boosting": False},
        },
    )
    project.dvc("repro")
    project.commit("built with tiny params")
    return project


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
        time.sleep(1)
    raise AssertionError("queue did not finish")


def test_compare_then_run_cache_round_trip(tiny: Project):
    """lr 0.01 (built) -> 0.005 -> 0.01: the third run restores train from the run-cache."""
    first = tiny.dvc("exp", "run", "-S", "train.lr=0.005")
    assert "train" in first.ran

    result = pipeline(tiny, "compare", "--rev", "HEAD")
    assert result.returncode == 0, result.stderr
    report = (tiny.path / "reports/compare.md").read_text()
    params_table = report.split("## Params")[1].split("##")[0]
    assert "| params.yaml | train.lr | 0.01" in params_table and "0.005" in params_table
    metrics_table = report.split("## Metrics")[1].split("##")[0]
    assert "| HEAD " in metrics_table and "| workspace " in metrics_table
    assert "- **val.accuracy**: " in report and "- **test.log_loss**: " in report
    curves = tiny.path / "reports/compare_curves.png"
    assert curves.read_bytes()[:4] == b"\x89PNG" and "not available" not in report

    back = tiny.dvc("exp", "run", "-S", "train.lr=0.01")
    assert "train" not in back.ran
    assert "Stage 'train' is cached - skipping run" in back.output


def test_grid_and_search_run_in_one_queue_and_best_applies_the_winner(tiny: Project):
    """A queued 2 x 1 grid and `search --trials 2 --run` (which starts the queue, grid first)."""
    tiny.dvc("exp", "remove", "-A")  # the round trip's experiments
    queued = tiny.dvc(
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
    (tiny.path / "space.yaml").write_text(yaml.safe_dump(space))
    result = pipeline(
        tiny, "search", "--trials", "2", "--space", "space.yaml", "--run", "--jobs", "2"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "search: 2/2 done, 0 failed" in result.stdout
    search_names = re.findall(r"queued trial \d/2 (\S+):", result.stdout)
    wait_for_queue(tiny)

    found = experiments(tiny)
    assert set(found) == {*grid_names, *search_names}
    grid = {(found[n]["train"]["lr"], found[n]["model"]["dropout"]) for n in grid_names}
    assert grid == {(0.01, 0.2), (0.005, 0.2)}
    for name in search_names:
        assert 0.001 <= found[name]["train"]["lr"] <= 0.05
        assert found[name]["model"]["dropout"] in (0.0, 0.3)
    table = tiny.dvc(
        "exp", "show", "--md", "--only-changed", "--drop",
        "Created|State|Executor|baselines|(standard_error\\.)?test\\.|^(data|pipeline|models|reports)/",
    ).output  # fmt: skip
    assert "val.accuracy" in table and "test.accuracy" not in table and "pipeline/" not in table
    assert all(name in table for name in found)

    refused = pipeline(tiny, "best", "--metric", "test.accuracy")
    assert refused.returncode == 1 and "is a test metric" in refused.stderr
    best = pipeline(tiny, "best", "--metric", "val.log_loss", "--apply")
    assert best.returncode == 0, best.stderr
    winner = best.stdout.split("| 1 | ")[1].split(" |")[0]
    assert f"applied {winner}" in best.stdout and "looked at once" in best.stdout
    # the winner set against the commit's own run, beside the validation split's noise
    assert f"margin: {winner} against this commit's own run, val.log_loss " in best.stdout
    assert (
        yaml.safe_load((tiny.path / "params.yaml").read_text())["train"] == found[winner]["train"]
    )


def test_exp_run_trains_on_two_processes(tiny: Project):
    """`dvc exp run -S train.processes=2`: the one stage command launches 2 gloo workers."""
    result = tiny.dvc("exp", "run", "-S", "train.processes=2")
    assert result.ran[:2] == ["train", "evaluate"]
    assert "on 2 processes (cpu)" in result.output
    metrics = json.loads((tiny.path / "reports/metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.8


def test_cv_stage_writes_mean_and_std(tiny: Project):
    disabled = json.loads((tiny.path / "reports/cv.json").read_text())
    assert disabled == {"enabled": False}
    result = tiny.dvc("exp", "run", "-S", "cv.enabled=true")
    assert result.ran == ["cv"]
    report = json.loads((tiny.path / "reports/cv.json").read_text())
    assert report["k"] == 5 and report["folds_from"] == "cv" and len(report["per_fold"]) == 5
    for name in ("accuracy", "f1_macro", "log_loss"):
        assert set(report["val"][name]) == {"mean", "std"}
    shown = tiny.dvc("metrics", "show", "--json").output
    assert "val.accuracy.mean" in shown or '"mean"' in shown


def test_tpe_study_resumes_after_an_interruption_and_best_ranks_it(tiny: Project):
    """`search --sampler tpe --trials 3 --jobs 1`: trial 1 is params.yaml's own values (in the
    space; DVC's run-cache restores it), the search is interrupted once trial 2 is queued, then
    run again: the study takes trial 1, waits for trial 2 (found in DVC), runs the third."""
    tiny.git("checkout", "--", ".")  # earlier tests' workspace runs
    tiny.dvc("checkout", "--force")
    tiny.commit("a fresh baseline for the study")
    space = {
        "seed": 3,
        "space": {
            "train.lr": {"log_uniform": [0.001, 0.05]},
            "model.dropout": {"uniform": [0.0, 0.3]},
        },
    }
    (tiny.path / "study.yaml").write_text(yaml.safe_dump(space))
    args = ["search", "--sampler", "tpe", "--trials", "3", "--jobs", "1", "--space", "study.yaml"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    first = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        cwd=tiny.path,
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

    second = pipeline(tiny, *args)
    out = second.stdout
    assert second.returncode == 0, second.stderr + out
    assert "resumed 1 finished trial(s) and 1 unfinished one(s)" in out, out
    assert re.search(r"study-tpe-2 val.accuracy [\d.]+ \(best so far", out), out
    assert re.findall(r"trial \d/3 (\S+):", out) == ["study-tpe-3"], out
    assert "search: done: 3 finished, 0 failed" in out
    wait_for_queue(tiny)

    found = experiments(tiny)
    assert set(found) == {"study-tpe-1", "study-tpe-2", "study-tpe-3"}
    proposed = dict(re.findall(r"(study-tpe-\d): .*train.lr=([\d.e-]+)", told + out))
    for name, params in found.items():
        assert 0.001 <= params["train"]["lr"] <= 0.05 and 0 <= params["model"]["dropout"] <= 0.3
        assert params["train"]["lr"] == float(proposed[name])  # DVC kept every digit
    best = pipeline(tiny, "best")
    assert best.returncode == 0, best.stderr
    assert best.stdout.count("| study-tpe-") == 3
