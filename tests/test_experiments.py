"""search's space and draws, best's ranking, compare's verdicts: pure functions, no DVC."""

from __future__ import annotations

import math

import pytest
import yaml

from pipeline.compare import noise, verdict, verdict_lines
from pipeline.config import PARAMS_FILE
from pipeline.errors import PipelineError
from pipeline.experiments import (
    experiments_from_show,
    load_space,
    parse_space,
    rank,
    sample,
    set_args,
    table,
)

from .conftest import ROOT

BASE = yaml.safe_load((ROOT / PARAMS_FILE).read_text())
SPACE = {
    "space": {
        "train.lr": {"log_uniform": [0.0001, 0.1]},
        "model.dropout": {"uniform": [0.0, 0.5]},
        "model.hidden": {"choice": [[16], [32, 16]]},
    }
}


def test_shipped_space_file_is_valid():
    dims, seed = load_space(ROOT / "search.yaml", ROOT / PARAMS_FILE)
    assert dims and seed >= 0


def test_draws_are_seeded_and_lie_in_the_space():
    dims = parse_space(SPACE, BASE)
    trials = sample(dims, 200, seed=3)
    assert trials == sample(dims, 200, seed=3)
    assert trials != sample(dims, 200, seed=4)
    lrs = [t["train.lr"] for t in trials]
    assert all(0.0001 <= v <= 0.1 for v in lrs)
    # log-uniform: about as many draws per decade
    per_decade = [sum(10**-k <= v < 10 ** (-k + 1) for v in lrs) for k in (4, 3, 2)]
    assert min(per_decade) > 40
    assert all(0.0 <= t["model.dropout"] <= 0.5 for t in trials)
    assert {tuple(t["model.hidden"]) for t in trials} == {(16,), (32, 16)}


def test_set_args_are_dvc_overrides():
    args = set_args({"train.lr": 0.001, "model.hidden": [32, 16], "train.batch_size": "full"})
    assert args == [
        "-S", "train.lr=0.001", "-S", "model.hidden=[32, 16]", "-S", "train.batch_size=full"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"space": {"train.learning_rate": {"uniform": [0, 1]}}}, "Did you mean 'train.lr'"),
        ({"space": {"trian.lr": {"uniform": [0, 1]}}}, "space.trian.lr: not a param"),
        ({"space": {"train": {"uniform": [0, 1]}}}, "space.train: a section"),
        ({"space": {"train.lr": {"log_uniform": [0, 1]}}}, "low must be > 0"),
        ({"space": {"train.lr": {"uniform": [1, 0.1]}}}, "low < high"),
        ({"space": {"train.lr": {"normal": [0, 1]}}}, "expected exactly one of"),
        ({"space": {"model.activation": {"choice": ["relu", "swish"]}}}, "'swish' is not allowed"),
        ({"space": {"train.epochs": {"choice": []}}}, "non-empty list"),
        ({"trials": 3, "space": {"train.lr": {"choice": [0.1]}}}, "unknown top-level key"),
        ({}, "non-empty `space:`"),
    ],
)
def test_bad_spaces_name_the_key(space, message):
    with pytest.raises(PipelineError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_space(space, BASE, "search.yaml")


def _exp(name: str, val: float, test: float, lr: float, state: str = "success") -> dict:
    data = {
        "rev": name * 4,
        "params": {"params.yaml": {"data": {"train": {"lr": lr}, "seed": 42}}},
        "metrics": {
            "reports/metrics.json": {
                "data": {"val": {"accuracy": val, "log_loss": 1 - val}, "test": {"accuracy": test}}
            },
            "reports/cv.json": {"data": {"enabled": True, "val": {"accuracy": {"mean": val}}}},
        },
    }
    return {
        "name": name,
        "executor": {"state": state},
        "revs": [{"rev": name * 4, "name": name, "data": data, "error": None}],
    }


SHOW = [
    {"rev": "workspace", "name": None, "data": {}, "error": None, "experiments": None},
    {
        "rev": "abc",
        "name": "main",
        "data": {},
        "error": None,
        "experiments": [
            _exp("val-best", val=0.95, test=0.80, lr=0.01),
            _exp("test-best", val=0.90, test=0.99, lr=0.1),
            _exp("middle", val=0.92, test=0.90, lr=0.001),
            _exp("broken", val=0.99, test=0.99, lr=0.5, state="failed"),
        ],
    },
]


def test_best_ranks_on_validation_even_when_test_disagrees():
    experiments = experiments_from_show(SHOW)
    assert [e.name for e in experiments] == ["val-best", "test-best", "middle"]  # failed: out
    assert [e.name for e in rank(experiments, "val.accuracy")] == [
        "val-best",
        "middle",
        "test-best",
    ]
    # lower is better for losses; cv metrics carry a cv. prefix
    assert rank(experiments, "val.log_loss")[0].name == "val-best"
    assert rank(experiments, "cv.val.accuracy.mean")[0].name == "val-best"
    shown = table(rank(experiments, "val.accuracy"), "val.accuracy")
    assert "train.lr" in shown and "seed" not in shown  # only params that differ
    assert shown.splitlines()[2].startswith("| 1 | val-best | 0.95 | 0.01 |")


@pytest.mark.parametrize("metric", ["test.accuracy", "baselines.logistic.test.accuracy"])
def test_best_refuses_test_metrics(metric):
    with pytest.raises(PipelineError, match="test metric; experiments are chosen on validation"):
        rank(experiments_from_show(SHOW), metric)


def test_best_refuses_non_validation_metrics():
    with pytest.raises(PipelineError, match="not a validation metric"):
        rank(experiments_from_show(SHOW), "train.lr")


def test_noise_rules():
    tol, rule = noise("accuracy", 0.9, 100)
    assert tol == pytest.approx(math.sqrt(0.9 * 0.1 / 100)) and "proportion" in rule
    assert noise("accuracy", 1.0, 40)[0] == pytest.approx(1 / 40)  # one row flipping
    assert noise("rmse", 2.0, 100)[0] == pytest.approx(0.1)
    assert noise("accuracy", 0.9, 100, cv_std=0.07) == (0.07, "cv std")


def test_verdicts_follow_the_metric_direction_and_noise():
    assert verdict("accuracy", 0.90, 0.95, 0.01) == "better"
    assert verdict("accuracy", 0.90, 0.85, 0.01) == "worse"
    assert verdict("accuracy", 0.90, 0.905, 0.01) == "same within noise"
    assert verdict("rmse", 2.0, 1.5, 0.1) == "better"
    assert verdict("log_loss", 0.2, 0.4, 0.01) == "worse"


def test_verdict_lines_cover_val_and_test_headlines():
    base = {"val": {"rmse": 2.0, "mae": 1.0, "r2": 0.8}, "test": {"rmse": 2.0, "mae": 1.0}}
    new = {"val": {"rmse": 1.0, "mae": 1.01, "r2": 0.5}, "test": {"rmse": 3.0, "mae": 1.0}}
    lines = verdict_lines(base, new, {"val": 30, "test": 30})
    assert len(lines) == 6
    assert lines[0].startswith("- **val.rmse**: better (2 → 1")
    assert lines[1].startswith("- **val.mae**: same within noise")
    assert lines[2].startswith("- **val.r2**: worse")
    assert lines[3].startswith("- **test.rmse**: worse")
    assert "not comparable" in lines[5]
