"""The search space (search.yaml) and its seeded draws.

A space file holds per params key a log-uniform, uniform, integer or choice distribution. Keys
and every value a trial can draw are checked against the typed params before anything is
queued; each trial becomes `dvc exp run --queue -S key=value ...`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pipeline.core.config import (
    dump_yaml,
    load_yaml,
    param_key_problem,
    parse_params,
    read_params,
    yaml_problem,
)
from pipeline.core.errors import PipelineError

SPACE_FILE = Path("search.yaml")


KINDS = ("log_uniform", "uniform", "int_uniform", "int_log_uniform", "choice")


INT_KINDS = ("int_uniform", "int_log_uniform")


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
        text = dump_yaml(value, default_flow_style=True, width=math.inf).strip()
        text = text.removesuffix("\n...").removesuffix("...").strip()
        args += ["-S", f"{key}={text}"]
    return args


def load_space(path: Path, params_file: Path) -> tuple[list[Dimension], int]:
    try:
        raw = load_yaml(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"search --space: {str(path)!r} not found") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {yaml_problem(exc)}") from None
    base = read_params(params_file)
    dims = parse_space(raw, base, str(path))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise PipelineError(f"{path}: seed: expected an int >= 0, got {seed!r}")
    return dims, seed


def load_search(
    trials: int, jobs: int, space: Path, params_file: Path
) -> tuple[list[Dimension], int, dict[str, Any]]:
    """search's counts checked, then the space's dimensions, its seed and params.yaml."""
    if trials < 1:
        raise PipelineError(f"search --trials: expected an int >= 1, got {trials}")
    if jobs < 1:
        raise PipelineError(f"search --jobs: expected an int >= 1, got {jobs}")
    dims, seed = load_space(space, params_file)
    return dims, seed, read_params(params_file)
