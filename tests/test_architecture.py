"""The package's shape (docs/ARCHITECTURE.md), read from the source's imports (every `import`,
also inside functions: lazy imports run too):

- dvc.yaml's deps tell the truth: every module of `pipeline` that a stage's command can import is
  inside a path that stage lists as a dep, so changing any code a stage runs reruns that stage
  (`python -m pipeline <stage>` runs `pipeline/__main__.py`'s module-level imports and the
  stage's module, `STAGES`);
- imports point down the layers, and no stage imports another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from pipeline.__main__ import STAGES

from .conftest import ROOT

PACKAGE = ROOT / "pipeline"


def module_file(name: str) -> Path | None:
    """The file of module `name` (pipeline.x.y), or None when it is not a module of ours."""
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported(path: Path, top_level_only: bool = False) -> set[Path]:
    """Files of `pipeline` that `path` imports (anywhere in it, or only at module level), with
    the package __init__ files that importing them runs."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    found: set[Path] = set()
    for name in names:
        if name.split(".")[0] != "pipeline":
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # pipeline/__init__.py, pipeline/x/__init__.py ...
            file = module_file(".".join(parts[:i]))
            if file is not None:
                found.add(file)
    return found


def closure(start: set[Path]) -> set[Path]:
    seen: set[Path] = set()
    todo = list(start)
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imported(path) - seen)
    return seen


def stage_files(stage: str) -> set[Path]:
    """Every file of `pipeline` that `python -m pipeline <stage>` can run."""
    main = PACKAGE / "__main__.py"  # its function-level imports serve the other commands
    start = {PACKAGE / "__init__.py", module_file(STAGES[stage])}
    return {main, *closure(start | imported(main, top_level_only=True))}


def dvc_stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def uncovered(files: set[Path], deps: list[str]) -> list[str]:
    paths = [ROOT / dep for dep in deps]
    return sorted(
        str(f.relative_to(ROOT)) for f in files if not any(f == p or p in f.parents for p in paths)
    )


@pytest.mark.parametrize("stage", sorted(dvc_stages()))
def test_every_module_a_stage_can_import_is_in_its_deps(stage):
    command = dvc_stages()[stage]["cmd"]
    assert command == f"python -m pipeline {stage}", "a stage runs as `python -m pipeline <name>`"
    missing = uncovered(stage_files(stage), dvc_stages()[stage]["deps"])
    assert not missing, f"dvc.yaml: stage {stage} runs {missing} but does not list it in deps"


def test_the_closure_follows_lazy_imports_and_package_inits():
    files = stage_files("train")
    assert PACKAGE / "model" / "ensemble.py" in files  # the TabM layers the default model uses
    assert PACKAGE / "model" / "__init__.py" in files
    assert uncovered({PACKAGE / "model" / "ensemble.py"}, ["pipeline/model"]) == []
    assert uncovered({PACKAGE / "model" / "ensemble.py"}, ["pipeline/model.py"]) != []


# Which layers each layer may import (besides itself): docs/ARCHITECTURE.md's table.
MAY_IMPORT = {
    "core": set(),
    "features": {"core"},
    "splitting": {"core"},
    "model": {"core", "features"},
    "checks": {"core", "features", "model"},
    "training": {"core", "model"},
    "evaluation": {"core", "features", "model", "training", "splitting"},
    "experiments": {"core"},
    "stages": {"core", "checks", "splitting", "features", "model", "training", "evaluation"},
}


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0] if path.parent != PACKAGE else "pipeline"


def test_every_folder_of_the_package_is_a_layer_with_its_rules():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(MAY_IMPORT)


def test_imports_point_down_the_layers_and_no_stage_imports_another():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = layer(path)
        if here == "pipeline":
            continue
        for target in imported(path):
            there = layer(target)
            if there == "stages" and here == "stages" and target.name != "__init__.py":
                wrong.append(f"{path.relative_to(ROOT)} imports the stage {target.name}")
            elif there not in {here, "pipeline", *MAY_IMPORT[here]}:
                wrong.append(f"{path.relative_to(ROOT)} ({here}) imports {there}: {target.name}")
    assert not wrong, "\n".join(wrong)


def test_no_module_is_too_long_to_read_in_one_sitting():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 450
    }
    assert not long, f"split these by what they do: {long}"
