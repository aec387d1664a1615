"""Kill-and-rerun harness: every stage SIGKILLed at seeded random moments leaves its outputs
absent or complete (never truncated), `dvc repro` then finishes with the bytes of an
uninterrupted run, a `dvc repro` stopped by SIGTERM stops its train stage too and the next one
resumes from its checkpoint, raw input is never touched, and a failed stage does not make
`dvc repro` rerun the stages before it."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ..conftest import BIN, Project
from .conftest import TINY

KILLS_PER_STAGE = 1  # 7 kill attempts: over removed outputs (even stages) or the last (odd)
SEED = 8


def stages(project: Project) -> dict[str, list[str]]:
    """Stage name -> its output paths, in pipeline order, from dvc.yaml."""
    spec = yaml.safe_load((project.path / "dvc.yaml").read_text())["stages"]
    return {
        name: [
            next(iter(o)) if isinstance(o, dict) else o
            for o in [*s.get("outs", []), *s.get("metrics", [])]
        ]
        for name, s in spec.items()
    }


def state(root: Path, paths: list[str]) -> dict[str, object]:
    """Each output path -> None (absent), its bytes, or {file in folder: bytes}."""
    out: dict[str, object] = {}
    for rel in paths:
        path = root / rel
        if path.is_dir():
            out[rel] = {
                str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()
            }
        else:
            out[rel] = path.read_bytes() if path.exists() else None
    return out


def digest(root: Path, folder: str) -> str:
    h = hashlib.sha256()
    for p in sorted((root / folder).rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


def start(project: Project, stage: str) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", stage],
        cwd=project.path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def restore(root: Path, saved: dict[str, object]) -> None:
    """Put outputs back as `state` recorded them (so the next stage has its inputs)."""
    remove(root, list(saved))
    for rel, content in saved.items():
        files = content if isinstance(content, dict) else {"": content}
        for name, data in files.items():
            if data is not None:
                path = root / rel / name if name else root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)


def remove(root: Path, paths: list[str]) -> None:
    """What DVC does to a stage's outputs before it runs the stage."""
    for rel in paths:
        path = root / rel
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


@pytest.mark.e2e
@pytest.mark.slow
def test_killed_stages_leave_no_partial_output_and_repro_ends_identical(project):
    project.set_params(
        model=TINY["model"],
        train={"epochs": 12, "patience": 5, "progress": False},
        evaluate={"baselines": {"hist_gradient_boosting": False}},  # time, not coverage
    )
    project.commit("small params")
    root = project.path
    outs = stages(project)
    every_out = [p for paths in outs.values() for p in paths]
    raw = digest(root, "data/raw")

    # The uninterrupted run: each stage timed, its outputs the reference bytes.
    seconds = {}
    for stage in outs:
        began = time.perf_counter()
        proc = start(project, stage)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{stage}: {err}"
        seconds[stage] = time.perf_counter() - began
    reference = state(root, every_out)

    rng = random.Random(SEED)
    kills = finished = 0
    seen = {False: 0, True: 0}  # outputs found absent / complete after a run
    for index, (stage, paths) in enumerate(outs.items()):
        for attempt in range(KILLS_PER_STAGE):
            if (index + attempt) % 2 == 0:
                remove(root, paths)  # as under `dvc repro`; else over the previous outputs
            proc = start(project, stage)
            time.sleep(rng.uniform(0.3, 1.0) * seconds[stage])
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=300)
            assert proc.returncode in (0, -signal.SIGKILL), f"{stage}: {err}"
            kills += proc.returncode == -signal.SIGKILL
            finished += proc.returncode == 0
            now = state(root, paths)
            for rel in paths:
                assert now[rel] is None or now[rel] == reference[rel], (
                    f"{stage} killed: {rel} is neither absent nor the complete output"
                )
                seen[now[rel] is not None] += 1
        restore(root, {rel: reference[rel] for rel in paths})
    print(
        f"\nkill harness (stage loops): {kills} SIGKILLs over {len(outs)} stages "
        f"({finished} runs finished first); outputs then absent {seen[False]}, "
        f"complete {seen[True]}; stage seconds "
        + ", ".join(f"{s} {t:.1f}" for s, t in seconds.items())
    )
    assert kills >= len(outs) * KILLS_PER_STAGE // 2

    # Then `dvc repro` of train stopped by SIGTERM to dvc alone (a CI runner cancelling) once an
    # epoch is checkpointed: its stage stops too (it holds dvc's stderr: communicate returns
    # once it is gone), with one line, keeping the checkpoint. `dvc repro` over whatever the
    # kills left: its lock is stale (the code and params changed), so it reruns every stage;
    # train resumes from the stopped run's checkpoint and everything ends with the
    # uninterrupted run's bytes.
    remove(root, outs["train"] + outs["evaluate"])
    # a checkpoint a SIGKILL above left would end the wait below before the stage starts
    (root / "checkpoints/train.pt").unlink(missing_ok=True)
    leftovers = set(root.rglob(".*.tmp"))  # of the SIGKILLs above
    proc = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "--single-item", "train"],
        cwd=root,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not (root / "checkpoints/train.pt").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM and (root / "checkpoints/train.pt").exists()
    assert "error: train: stopped by SIGTERM, as the dvc that ran it has stopped" in err, err
    assert "Traceback" not in err and set(root.rglob(".*.tmp")) == leftovers
    result = project.dvc("repro")
    assert result.ran == list(outs)
    assert "ignoring checkpoints/train.pt" not in result.output  # resumed, not started over
    assert state(root, every_out) == reference, f"repro after kills differs ({result.ran})"
    assert "modified" not in project.dvc("status").output
    assert not (root / "checkpoints/train.pt").exists()
    print(f"kill harness: {kills} SIGKILLs in all; repro resumed train from a stopped dvc's")
    assert digest(root, "data/raw") == raw

    # A failing stage: the next repro reruns it (and what follows), never the stages before.
    project.set_params(train={"monitor": "val_rmse"})  # not a classification monitor
    failed = project.dvc("repro", check=False)
    assert failed.returncode != 0 and failed.ran == ["train"]
    assert "train.monitor: 'val_rmse' does not apply" in failed.output
    assert "Traceback" not in failed.output
    project.set_params(train={"monitor": "val_loss", "epochs": 11})
    assert project.dvc("repro").ran == ["train", "evaluate", "cv"]  # cv: disabled, ~1 s
    assert digest(root, "data/raw") == raw
