"""Shared fixtures: small tables of each task, and a throwaway copy of the project for DVC runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core.config import parse_params
from pipeline.core.params import Params
from pipeline.training import torch_setup

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: dvc and python for stage commands

# Tests of the pipeline's mechanics train small nets in seconds: one [32, 16] MLP on the scaled
# inputs (no embeddings), Adam at lr 0.01
# on batches of 32 (the course's settings). The shipped defaults (params.yaml, chosen for tables
# of thousands of rows) are what the end-to-end tests run and benchmarks/quality.py measures.
SMALL_MODEL = {"hidden": [32, 16], "ensemble": 1, "num_embeddings": "none"}
SMALL_TRAIN = {
    "batch_size": 32,
    "optimizer": "adam",
    "lr": 0.01,
    "weight_decay": 0.0,
    "threads": 1,  # make test runs two workers on 2 cores
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order for `pytest -n auto --dist worksteal`, which hands each worker one contiguous part
    of this list and lets an idle worker steal from the end of another's: the `slow` tests are
    dealt in turn to the start of each part (so no worker runs them one after another while the
    others idle), then the e2e tests, then the rest, which fill the gaps at the end."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    # those that build the shared e2e project last: the first to need it builds it while
    # the other workers run what needs no project
    slow = [item for item in items if item.get_closest_marker("slow")]
    slow.sort(key=lambda item: "built" in getattr(item, "fixturenames", ()))
    rest = [item for item in items if not item.get_closest_marker("slow")]
    rest.sort(key=lambda item: item.get_closest_marker("e2e") is None)
    ordered: list[pytest.Item] = []
    left = len(items)
    for worker in range(workers):  # the sizes of xdist's parts
        size = left // (workers - worker)
        dealt = slow[worker::workers]
        ordered += dealt + rest[: size - len(dealt)]
        rest = rest[size - len(dealt) :]
        left -= size
    items[:] = ordered + rest


@pytest.fixture(autouse=True)
def one_torch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """ONE_THREAD: make test runs two workers on 2 cores, so a stage that runs in a test uses
    one torch thread whatever train.threads says (2 by default: 4 threads on 2 cores doubled
    the suite's time); the projects of the end-to-end tests say train.threads: 1."""
    configure = torch_setup.configure
    monkeypatch.setattr(
        torch_setup, "configure", lambda threads, *args, **kwargs: configure(1, *args, **kwargs)
    )


def small(sections: dict | None = None) -> dict:
    """Params sections over the small-net settings (what `sections` sets wins)."""
    sections = dict(sections or {})
    sections["model"] = {**SMALL_MODEL, **sections.get("model", {})}
    sections["train"] = {**SMALL_TRAIN, **sections.get("train", {})}
    return sections


def small_params(sections: dict | None = None) -> Params:
    """Typed params of `sections` over the small-net settings."""
    return parse_params(small(sections))


def penguins() -> pd.DataFrame:
    return pd.read_csv(ROOT / "data/raw/penguins.csv")


def binary_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, one categorical; the label is a noisy linear rule."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    score = 2 * x1 - x2 + (color == "red") + rng.normal(scale=0.3, size=n)
    return pd.DataFrame(
        {"x1": x1, "x2": x2, "color": color, "label": np.where(score > 0, "yes", "no")}
    )


def regression_table(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.uniform(0, 10, size=n)
    group = rng.choice(["a", "b"], size=n)
    y = 3 * x1 + 0.5 * x2 + np.where(group == "a", 2.0, -1.0) + rng.normal(scale=0.1, size=n)
    return pd.DataFrame({"x1": x1, "x2": x2, "group": group, "y": y})


@dataclass
class DvcResult:
    returncode: int
    output: str

    @property
    def ran(self) -> list[str]:
        """Stages DVC actually executed, in order."""
        return re.findall(r"Running stage '([^']+)'", self.output)


@dataclass
class Project:
    """A copy of the tracked project in its own git repository, for dvc repro / exp run."""

    path: Path

    def dvc(self, *args: str, check: bool = True) -> DvcResult:
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1",
        }
        proc = subprocess.run(
            [str(BIN / "dvc"), *args],
            cwd=self.path,
            env=env,
            text=True,
            capture_output=True,
            timeout=600,
        )
        result = DvcResult(proc.returncode, proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"dvc {' '.join(args)} failed:\n{result.output}")
        return result

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=self.path, check=True, text=True, capture_output=True
        ).stdout

    def params(self) -> dict:
        return yaml.safe_load((self.path / "params.yaml").read_text())

    def set_params(self, **sections: dict) -> None:
        """Merge {section: {key: value}} into params.yaml (comments are not kept)."""
        params = self.params()
        for section, values in sections.items():
            if isinstance(values, dict):
                params.setdefault(section, {}).update(values)
            else:
                params[section] = values
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str = "test state") -> None:
        self.git("add", "-A")
        self.git("commit", "-qm", message, "--allow-empty")


def _tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def _copy_project(parent: Path) -> Project:
    """Tracked (and untracked, not ignored) files of this repo, committed in a fresh git repo;
    its stages train on one thread (ONE_THREAD)."""
    dest = parent / "project"
    for rel in _tracked_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    proj = Project(dest)
    shipped = (dest / "params.yaml").read_text()
    one, found = re.subn(r"(?m)^(  threads:) \d+", r"\1 1", shipped)  # comments kept
    assert found == 1, "params.yaml: train.threads not found"
    (dest / "params.yaml").write_text(one)
    proj.git("init", "-q")
    proj.git("config", "user.email", "tests@example.invalid")
    proj.git("config", "user.name", "tests")
    proj.commit("copy of the project")
    return proj


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return _copy_project(tmp_path)
