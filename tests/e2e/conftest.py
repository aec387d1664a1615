"""The end-to-end tests' project: the tracked files in their own git repository, built by one
`dvc repro` with tiny params once per test run (all pytest-xdist workers share it through a file
lock), then copied for each test, so a test can change it freely."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from filelock import FileLock

from ..conftest import Project, _copy_project

# A small net that learns penguins in seconds; baselines stay on (the report shows them).
TINY = {
    "model": {"hidden": [32, 16], "ensemble": 1, "num_embeddings": "none"},
    "train": {"epochs": 10, "patience": 5, "lr": 0.01, "batch_size": 32, "progress": False},
    "evaluate": {"dpi": 50},
}

# Every stage in dvc.yaml, in order (cv is opt-in: disabled, it runs in ~1 s and writes
# {"enabled": false}).
ALL_STAGES = ["validate", "split", "fit_scaler", "encode", "train", "evaluate", "cv"]


@pytest.fixture(scope="session")
def built_once(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Folder of the built project and `ran.json` (the stages its `dvc repro` ran). The
    committed dvc.lock is removed first, so the build runs every stage from nothing."""
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":  # xdist: the workers' temp folders share a parent
        shared = shared.parent
    folder = shared / "e2e-built"
    with FileLock(str(shared / "e2e-built.lock")):
        if not (folder / "ran.json").exists():
            project = _copy_project(folder)
            project.set_params(**TINY)
            (project.path / "dvc.lock").unlink()
            first = project.dvc("repro")
            project.commit("built with tiny params")
            (folder / "ran.json").write_text(json.dumps(first.ran))
    return folder


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Project:
    """A copy of the built project (its git history, DVC cache and outputs) for this test."""
    dest = tmp_path / "project"
    shutil.copytree(built_once / "project", dest, symlinks=True)
    return Project(dest)


@pytest.fixture
def first_run(built_once: Path) -> list[str]:
    return json.loads((built_once / "ran.json").read_text())
