"""search's space and draws, best's ranking, compare's verdicts: pure functions, no DVC."""

from __future__ import annotations

import json
import math
import re
import subprocess

import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from pipeline.core.config import PARAMS_FILE, flatten
from pipeline.core.errors import PipelineError
from pipeline.experiments import queue_runner
from pipeline.experiments.compare import verdict_lines
from pipeline.experiments.noise import noise, verdict
from pipeline.experiments.ranking import margin, rank, table
from pipeline.experiments.runs import (
    TIMED_OUT,
    Experiment,
    QueueTask,
    committed_experiments,
    exp_show,
    experiment_states,
    experiments_from_show,
    queue_tasks,
    task_started,
)
from pipeline.experiments.space import _set, load_space, parse_space, sample, set_args
from pipeline.experiments.study import (
    TPE_STARTUP_TRIALS,
    Past,
    distributions,
    own_values,
    past_trials,
    run_study,
    search_study,
    to_optuna,
    to_params,
)

from ..conftest import ROOT

BASE = yaml.safe_load((ROOT / PARAMS_FILE).read_text())
SPACE = {
    "space": {
        "train.lr": {"log_uniform": [0.0001, 0.1]},
        "model.dropout": {"uniform": [0.0, 0.5]},
        "model.hidden": {"choice": [[16], [32, 16]]},
    }
}


def test_shipped_space_file_is_valid_and_holds_the_defaults():
    dims, seed = load_space(ROOT / "search.yaml", ROOT / PARAMS_FILE)
    assert dims and seed >= 0
    start, outside = own_values(dims, BASE)  # a new study begins with the defaults
    assert start is not None and outside == []


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


def test_best_says_whether_the_winner_beats_the_commit_by_more_than_noise():
    commit = Experiment("abc", "abc", {}, {"val.accuracy": 0.80, "cv.val.accuracy.mean": 0.80})
    close = Experiment("tpe-7", "r", {}, {"val.accuracy": 0.805})
    # 2000 val rows: s.e. sqrt(.8 * .2 / 2000) = 0.0089 > 0.005
    said = margin(close, commit, "val.accuracy", 2000)
    assert "0.8 -> 0.805 (+0.005; noise +-0.00894, proportion s.e., n=2000)" in said
    assert "same within noise" in said and "either side" in said
    clear = Experiment("tpe-9", "r", {}, {"val.accuracy": 0.83})
    assert margin(clear, commit, "val.accuracy", 2000).endswith(": better")
    lower = Experiment("tpe-2", "r", {}, {"val.accuracy": 0.77})  # a winner can trail the commit
    assert margin(lower, commit, "val.accuracy", 2000).endswith(": worse")
    same = Experiment("tpe-1", "r", {}, {"val.accuracy": 0.80})  # the commit's params, rerun
    assert "0.8 -> 0.8: a tie (the same value" in margin(same, commit, "val.accuracy", 2000)
    # cv: the winner's fold-to-fold std is the noise
    folds = Experiment(
        "tpe-3", "r", {}, {"cv.val.accuracy.mean": 0.81, "cv.val.accuracy.std": 0.002}
    )
    assert "noise +-0.002, cv std): better" in margin(folds, commit, "cv.val.accuracy.mean", None)
    # no std on the winner: the commit's; no std at all: 5% of the value, never the val rows
    spread = Experiment(
        "abc", "abc", {}, {"cv.val.accuracy.mean": 0.8, "cv.val.accuracy.std": 0.05}
    )
    bare = Experiment("tpe-5", "r", {}, {"cv.val.accuracy.mean": 0.81})
    assert "cv std): same within noise" in margin(bare, spread, "cv.val.accuracy.mean", 2000)
    assert "5% of value): same within noise" in margin(bare, commit, "cv.val.accuracy.mean", 2000)
    # lower is better: a smaller loss is the gain
    loss = Experiment("abc", "abc", {}, {"val.log_loss": 0.50})
    lower = Experiment("tpe-4", "r", {}, {"val.log_loss": 0.40})
    assert margin(lower, loss, "val.log_loss", 2000).endswith(": better")
    # the commit's run measured its val R2's standard error: that, not 5% of 0.93 (0.047)
    measured = {"val.r2": 0.930, "standard_error.val.r2": 0.003}
    r2 = margin(
        Experiment("tpe-8", "r", {}, {"val.r2": 0.937}),
        Experiment("abc", "abc", {}, measured),
        "val.r2",
        1200,
    )
    assert "noise +-0.003, s.e. over the rows, n=1200): better" in r2
    # a commit from before standard errors: the winner's own
    old_commit = Experiment("abc", "abc", {}, {"val.r2": 0.930})
    winner = Experiment("tpe-8", "r", {}, {"val.r2": 0.931, "standard_error.val.r2": 0.003})
    assert "s.e. over the rows, n=1200): same within noise" in margin(
        winner, old_commit, "val.r2", 1200
    )
    # a commit without the metric (cv never ran there) is said, not guessed
    assert "has no cv.val.accuracy.mean" in margin(folds, loss, "cv.val.accuracy.mean", None)
    assert "has no val.accuracy" in margin(close, None, "val.accuracy", 2000)


def test_noise_rules():
    tol, rule = noise("accuracy", 0.9, 100)
    assert tol == pytest.approx(math.sqrt(0.9 * 0.1 / 100)) and "proportion" in rule
    assert noise("accuracy", 1.0, 40)[0] == pytest.approx(1 / 40)  # one row flipping
    assert noise("rmse", 2.0, 100)[0] == pytest.approx(0.1)
    assert noise("accuracy", 0.9, 100, cv_std=0.07) == (0.07, "cv std")
    # evaluate's standard error from the rows comes before the rules of thumb, after cv's std
    assert noise("r2", 0.93, 1200, row_se=0.004) == (0.004, "s.e. over the rows, n=1200")
    assert noise("accuracy", 1.0, 40, row_se=0.0)[0] == pytest.approx(1 / 40)
    assert noise("r2", 0.93, 1200, cv_std=0.01, row_se=0.004) == (0.01, "cv std")


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
    # the revision measured its standard errors: they set the noise
    base["standard_error"] = {"val": {"mae": 0.001}}
    lines = verdict_lines(base, new, {"val": 30, "test": 30})
    assert lines[1].startswith("- **val.mae**: worse") and "s.e. over the rows, n=30" in lines[1]


# ---------------------------------------------------------------- the Optuna study (fake runner)

STUDY_SPACE = {
    "seed": 5,
    "space": {
        "train.lr": {"log_uniform": [0.0001, 0.1]},
        "model.dropout": {"uniform": [0.0, 0.5]},
        "train.epochs": {"int_uniform": [5, 50]},
        "model.hidden": {"choice": [[16], [32, 16]]},
    },
}


def _score(params: dict) -> float:
    """A made-up validation accuracy, best at lr 0.01 and no dropout."""
    return 1.0 - (math.log10(params["train.lr"]) + 2) ** 2 / 10 - params["model.dropout"] / 5


class FakeRunner:
    """Runs trials instantly in memory; the oldest in flight ends first."""

    def __init__(self, fail=lambda params: False):
        self.fail = fail
        self.submitted: list[tuple[str, dict]] = []
        self.running: dict[str, dict] = {}
        self.max_in_flight = 0

    def submit(self, name: str, params: dict) -> None:
        self.submitted.append((name, params))
        self.running[name] = params
        self.max_in_flight = max(self.max_in_flight, len(self.running))

    def adopt(self, name: str, params: dict) -> None:
        self.running.setdefault(name, params)

    def wait(self, names: list[str]) -> dict:
        assert set(names) == set(self.running)
        name = names[0]
        params = self.running.pop(name)
        if params is None or self.fail(params):
            return {name: None}
        return {name: Experiment(name, "", params, {"val.accuracy": _score(params)})}


def _study(sampler="tpe", trials=8, jobs=1, runner=None, past=()):
    runner = runner or FakeRunner()
    dims = parse_space(STUDY_SPACE, BASE)
    study = run_study(
        dims, sampler, 5, trials, jobs, "val.accuracy", runner, past, "s", log=lambda _: None
    )
    return study, runner


def test_space_becomes_optuna_distributions():
    dims = parse_space(STUDY_SPACE, BASE)
    dists = distributions(dims)
    assert dists["train.lr"] == FloatDistribution(0.0001, 0.1, log=True)
    assert dists["model.dropout"] == FloatDistribution(0.0, 0.5)
    assert dists["train.epochs"] == IntDistribution(5, 50)
    assert dists["model.hidden"] == CategoricalDistribution(["[16]", "[32, 16]"])
    by_key = {d.key: d for d in dims}
    assert to_params(dims, {"train.lr": 0.01, "model.dropout": 0.1, "train.epochs": 7,
                            "model.hidden": "[32, 16]"})["model.hidden"] == [32, 16]  # fmt: skip
    assert to_optuna(by_key["model.hidden"], [32, 16]) == "[32, 16]"
    assert to_optuna(by_key["model.hidden"], [64]) is None
    assert to_optuna(by_key["train.lr"], 0.5) is None
    assert to_optuna(by_key["train.epochs"], 7.5) is None and to_optuna(by_key["train.epochs"], 7)
    assert to_optuna(by_key["model.dropout"], True) is None


def test_integer_kinds_need_integers_and_draw_integers():
    with pytest.raises(PipelineError, match="int_uniform: expected \\[low, high\\] integers"):
        parse_space({"space": {"train.epochs": {"int_uniform": [1.5, 9]}}}, BASE)
    dims = parse_space({"space": {"train.epochs": {"int_log_uniform": [2, 64]}}}, BASE)
    drawn = {t["train.epochs"] for t in sample(dims, 300, seed=0)}
    assert all(isinstance(v, int) for v in drawn) and min(drawn) == 2 and max(drawn) == 64


def test_ask_tell_runs_n_trials_in_the_space_reproducibly():
    study, runner = _study("tpe", trials=8)
    assert [name for name, _ in runner.submitted] == [f"s-{i}" for i in range(1, 9)]
    assert len(study.trials) == 8 and all(t.state == TrialState.COMPLETE for t in study.trials)
    for _, params in runner.submitted:
        assert 0.0001 <= params["train.lr"] <= 0.1 and 0.0 <= params["model.dropout"] <= 0.5
        assert isinstance(params["train.epochs"], int) and params["model.hidden"] in (
            [16],
            [32, 16],
        )
    assert study.best_value == max(_score(p) for _, p in runner.submitted)
    assert _study("tpe", trials=8)[1].submitted == runner.submitted
    # TPE starts with a few random trials: the same as the random sampler's from the same seed
    startup = TPE_STARTUP_TRIALS
    tpe = _study("tpe", trials=startup + 4)[1].submitted
    rnd = _study("random", trials=startup + 4)[1].submitted
    assert tpe[:startup] == rnd[:startup] and tpe[startup:] != rnd[startup:]


def test_tpe_learns_from_the_told_metrics():
    """On the made-up score, TPE's trials after its random start-up ones beat random's."""
    tpe = [_score(p) for _, p in _study("tpe", trials=30)[1].submitted[TPE_STARTUP_TRIALS:]]
    rnd = [_score(p) for _, p in _study("random", trials=30)[1].submitted[TPE_STARTUP_TRIALS:]]
    assert sum(tpe) / len(tpe) > sum(rnd) / len(rnd) + 0.05


def test_jobs_bounds_the_trials_in_flight():
    study, runner = _study("random", trials=7, jobs=3)
    assert runner.max_in_flight == 3 and len(runner.submitted) == 7 and len(study.trials) == 7
    assert _study("random", trials=7, jobs=1)[1].max_in_flight == 1


def test_failed_trials_are_told_as_failed_and_the_search_goes_on():
    runner = FakeRunner(fail=lambda params: params["model.dropout"] > 0.25)
    study, _ = _study("random", trials=10, runner=runner)
    states = [t.state for t in study.trials]
    assert len(states) == 10 and TrialState.FAIL in states and TrialState.COMPLETE in states
    failed = [p for _, p in runner.submitted if p["model.dropout"] > 0.25]
    assert states.count(TrialState.FAIL) == len(failed)
    assert study.best_trial.params["model.dropout"] <= 0.25


def test_a_resumed_study_proposes_what_the_uninterrupted_one_did():
    full, runner = _study("tpe", trials=12)
    dims = parse_space(STUDY_SPACE, BASE)
    past = [
        Past(name, "success", {d.key: to_optuna(d, p[d.key]) for d in dims}, _score(p))
        for name, p in runner.submitted[:9]
    ]
    resumed, runner2 = _study("tpe", trials=12, past=past)
    assert runner2.submitted == runner.submitted[9:]  # same names, same params
    assert [t.value for t in resumed.trials] == [t.value for t in full.trials]


def test_a_study_begins_with_its_start_values_and_a_resumed_one_does_not_repeat_them():
    dims = parse_space(STUDY_SPACE, BASE)
    start = {"train.lr": 0.001, "model.dropout": 0.1, "train.epochs": 7, "model.hidden": "[16]"}
    runs = {}
    for sampler in ("tpe", "random"):
        runner = FakeRunner()
        run_study(dims, sampler, 5, 6, 1, "val.accuracy", runner, (), "s", log=lambda _: None,
                  start=start)  # fmt: skip
        runs[sampler] = runner.submitted
        assert runner.submitted[0] == ("s-1", to_params(dims, start))
        assert len(runner.submitted) == 6
    one = FakeRunner()  # a one-trial study is its start values (not zero trials)
    study = run_study(dims, "tpe", 5, 1, 1, "val.accuracy", one, (), "s", log=lambda _: None,
                      start=start)  # fmt: skip
    assert one.submitted == [("s-1", to_params(dims, start))]
    assert [t.state for t in study.trials] == [TrialState.COMPLETE]
    past = [
        Past(name, "success", {d.key: to_optuna(d, p[d.key]) for d in dims}, _score(p))
        for name, p in runs["tpe"][:3]
    ]
    runner = FakeRunner()
    run_study(dims, "tpe", 5, 6, 1, "val.accuracy", runner, past, "s", log=lambda _: None,
              start=start)  # fmt: skip
    assert runner.submitted == runs["tpe"][3:]


def _fresh_commit(monkeypatch) -> None:
    """exp show of a commit with its metrics and no experiments yet."""
    show = [RESUME_SHOW[0], {**RESUME_SHOW[1], "experiments": None}]
    answer = subprocess.CompletedProcess([], 0, json.dumps(show), "")
    monkeypatch.setattr("pipeline.experiments.runs.dvc", lambda *args, **kw: answer)


def test_a_new_search_first_runs_params_yaml_values(study_dir, monkeypatch, capsys):
    _fresh_commit(monkeypatch)
    space = {"seed": 1, "space": {
        "train.lr": {"log_uniform": [0.0001, 0.1]},
        "model.dropout": {"uniform": [0.0, 0.5]},
        "model.hidden": {"choice": [[64], BASE["model"]["hidden"]]},
    }}  # fmt: skip
    (study_dir / "space.yaml").write_text(yaml.safe_dump(space))
    own = {
        "train.lr": BASE["train"]["lr"],
        "model.dropout": BASE["model"]["dropout"],
        "model.hidden": BASE["model"]["hidden"],
    }
    for sampler in ("tpe", "random"):
        runner = FakeRunner()
        search_study(sampler, 3, study_dir / "space.yaml", 1, None, study_dir / "params.yaml",
                     runner)  # fmt: skip
        assert runner.submitted[0] == (f"space-{sampler}-1", own)
        assert "(params.yaml's values)" in capsys.readouterr().out


def test_a_search_whose_space_excludes_params_yaml_says_so(study_dir, monkeypatch, capsys):
    _fresh_commit(monkeypatch)
    runner = FakeRunner()
    search_study("tpe", 2, study_dir / "space.yaml", 1, None, study_dir / "params.yaml", runner)
    out = capsys.readouterr().out
    assert "params.yaml's model.hidden, train.epochs lie(s) outside the space" in out
    assert "(params.yaml's values)" not in out and len(runner.submitted) == 2


def _show_exp(name: str, state: str, changes: dict, val: float | None = None) -> dict:
    params = BASE
    for key, value in changes.items():
        params = _set(params, key, value)
    metrics = {} if val is None else {"reports/metrics.json": {"data": {"val": {"accuracy": val}}}}
    data = {"rev": name, "timestamp": f"2026-01-01T00:00:{len(name):02d}",
            "params": {"params.yaml": {"data": params}}, "metrics": metrics}  # fmt: skip
    return {"name": name, "executor": {"state": state},
            "revs": [{"rev": name, "name": name, "data": data, "error": None}]}  # fmt: skip


IN_SPACE = {"train.lr": 0.01, "model.dropout": 0.1, "train.epochs": 10, "model.hidden": [16]}
RESUME_SHOW = [
    {"rev": "workspace", "data": {}, "experiments": None},
    {
        "rev": "abc",
        "name": "main",
        "data": {"metrics": {"reports/metrics.json": {"data": {"val": {"accuracy": 0.5}}}}},
        "experiments": [
            _show_exp("done-1", "success", IN_SPACE, 0.9),
            _show_exp("done-22", "success", {**IN_SPACE, "train.lr": 0.001}, 0.8),
            _show_exp("broken-333", "failed", {**IN_SPACE, "model.dropout": 0.4}),
            _show_exp("queued-4444", "queued", {**IN_SPACE, "train.epochs": 20}),
            _show_exp("far-55555", "success", {**IN_SPACE, "train.lr": 0.5}, 0.99),
            _show_exp("other-666666", "success", {**IN_SPACE, "split.seed": 1}, 0.99),
        ],
    },
]


@pytest.fixture
def study_dir(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(BASE))
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(STUDY_SPACE))

    def fake_dvc(*args, check=True, timeout=None):
        assert args == ("exp", "show", "--json")
        return subprocess.CompletedProcess(args, 0, json.dumps(RESUME_SHOW), "")

    monkeypatch.setattr("pipeline.experiments.runs.dvc", fake_dvc)  # exp_show's
    return tmp_path


def test_exp_show_retries_dvcs_race_with_a_starting_experiment_only(monkeypatch):
    race = "ERROR: failed to show experiments - directory '/p/.dvc/tmp/exps/x/.dvc' does not exist"
    gone = "ERROR: unexpected error - [Errno 2] No such file or directory: '/p/.dvc/tmp/exps/r.run'"
    answers = [(1, race), (1, gone), (0, "[]")]

    def fake_dvc(*args, check=True, timeout=None):
        code, text = answers.pop(0)
        return subprocess.CompletedProcess(args, code, text if code == 0 else "", text)

    monkeypatch.setattr("pipeline.experiments.runs.dvc", fake_dvc)
    monkeypatch.setattr("pipeline.experiments.runs.time.sleep", lambda s: None)
    assert exp_show() == [] and answers == []
    hung = (TIMED_OUT, "dvc exp show --json: no answer in 120 s")
    answers[:] = [hung, hung, (0, "[]")]  # a hang is retried, a few times
    assert exp_show() == [] and answers == []
    answers[:] = [hung, hung, hung, (0, "[]")]
    with pytest.raises(PipelineError, match="no answer in 120 s"):
        exp_show()
    answers[:] = [(1, "ERROR: not a git repository"), (0, "[]")]
    with pytest.raises(PipelineError, match="not a git repository"):
        exp_show()
    assert answers == [(0, "[]")]  # no retry for anything else


def test_committed_experiments_read_this_commits_exp_refs(tmp_path, monkeypatch):
    """A finished experiment as DVC keeps it, a commit under refs/exps/<head[:2]>/<head[2:]>/
    <name>, reads back with its params and metrics; other commits' and other names' are ignored."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    monkeypatch.chdir(tmp_path)
    git("init", "-q")
    git("config", "user.email", "t@example.invalid")
    git("config", "user.name", "t")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"lr": 0.001}}))
    git("add", "-A")
    git("commit", "-qm", "baseline")
    head = git("rev-parse", "HEAD")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"lr": 0.02}}))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "metrics.json").write_text(json.dumps({"val": {"accuracy": 0.9}}))
    (tmp_path / "reports" / "cv.json").write_text(json.dumps({"enabled": False}))
    git("add", "-A")
    git("commit", "-qm", "the experiment")
    exp = git("rev-parse", "HEAD")
    git("reset", "-q", "--hard", head)
    git("update-ref", f"refs/exps/{head[:2]}/{head[2:]}/study-tpe-1", exp)
    git("update-ref", f"refs/exps/{head[:2]}/{head[2:]}/other-2", exp)
    git("update-ref", "refs/exps/00/0000000000000000000000000000000000000/study-tpe-3", exp)

    found = committed_experiments(["study-tpe-1", "study-tpe-3", "study-tpe-4"])
    assert list(found) == ["study-tpe-1"]  # -3 is another commit's, -4 has no ref (yet)
    assert set(committed_experiments(cwd=tmp_path)) == {"study-tpe-1", "other-2"}
    one = found["study-tpe-1"]
    assert one.rev == exp and one.params == {"train.lr": 0.02}
    assert one.metrics == {"val.accuracy": 0.9, "cv.enabled": False}


def test_a_task_has_started_once_dvc_made_its_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert not task_started("857ba40")
    (tmp_path / ".dvc/tmp/exps/run/857ba407203a73a59923b6d83195927c18f09915").mkdir(parents=True)
    assert task_started("857ba40") and not task_started("0fb318b")


@pytest.fixture
def fake_queue(monkeypatch):
    """QueueRunner over a fake DVC: `refs` (name -> committed experiment), `tasks` (name ->
    QueueTask), `started` (revs whose run began), `calls` (the dvc commands it ran, answered by
    `answer(args)`: rc 0 unless it says otherwise), `on_poll(i)` (run at each poll's sleep)."""
    queue = {"refs": {}, "tasks": {}, "started": set(), "calls": []}
    queue["answer"] = lambda args: 0
    queue["on_poll"] = lambda i: None
    refs, tasks = queue["refs"], queue["tasks"]

    def dvc(*args, check=True, timeout=None):
        queue["calls"].append(args)
        return subprocess.CompletedProcess(args, queue["answer"](args), "", "")

    finished = lambda names: {n: refs[n] for n in names if n in refs}  # noqa: E731
    monkeypatch.setattr(queue_runner, "exp_refs", lambda: " ".join(refs))
    monkeypatch.setattr(queue_runner, "committed_experiments", finished)
    monkeypatch.setattr(
        queue_runner, "queue_tasks", lambda names: {n: tasks[n] for n in names if n in tasks}
    )
    monkeypatch.setattr(queue_runner, "task_started", lambda rev: rev in queue["started"])
    monkeypatch.setattr(queue_runner, "start_queue", lambda jobs: None)
    monkeypatch.setattr(queue_runner, "dvc", dvc)
    polls = iter(range(50))  # a wait that never ends fails the test (StopIteration)
    monkeypatch.setattr(queue_runner.time, "sleep", lambda s: queue["on_poll"](next(polls)))
    return queue


def _exp(name: str, r2: float = 0.5) -> Experiment:
    return Experiment(name, "c0ffee", {}, {"val.r2": r2})


def test_queue_runner_trusts_a_ref_over_a_stale_running_status(fake_queue):
    """DVC's queue can list a finished experiment as Running for good: its ref says it ended.
    A failed trial has no ref; the queue's status tells it."""
    fake_queue["refs"]["t-1"] = _exp("t-1")
    fake_queue["tasks"]["t-1"] = QueueTask("a1", "Running")
    fake_queue["tasks"]["t-2"] = QueueTask("a2", "Running")
    fake_queue["started"] |= {"a1", "a2"}
    runner = queue_runner.QueueRunner(jobs=2)
    assert runner.wait(["t-1", "t-2"]) == {"t-1": fake_queue["refs"]["t-1"]}
    fake_queue["tasks"]["t-2"] = QueueTask("a2", "Failed")
    assert runner.wait(["t-2"]) == {"t-2": None}
    assert fake_queue["calls"] == []  # nothing killed or queued again


def test_queue_runner_leaves_a_running_task_alone(fake_queue):
    """A task whose run has begun is never taken for lost, however long it runs."""
    fake_queue["tasks"]["t-1"] = QueueTask("a1", "Running")
    fake_queue["started"].add("a1")
    fake_queue["on_poll"] = lambda i: i == 5 and fake_queue["refs"].update({"t-1": _exp("t-1")})
    runner = queue_runner.QueueRunner(jobs=1, check_s=0.0, lost_s=0.0)
    assert runner.wait(["t-1"]) == {"t-1": fake_queue["refs"]["t-1"]}
    assert fake_queue["calls"] == []


def _finish_when_queued(fake_queue):
    """Fake DVC answers: `exp run --queue --name X` queues X, which finishes at once."""

    def answer(args):
        if args[:4] == ("exp", "run", "--queue", "--name"):
            fake_queue["refs"][args[4]] = _exp(args[4], 0.7)
        return 0

    fake_queue["answer"] = answer


def test_queue_runner_queues_a_lost_task_again(fake_queue, capsys):
    """A task DVC lists as Running whose run never began (a worker shutting down took it) is
    killed and queued again with the trial's params; the result comes back under the trial's
    own name. A trial carried over from an interrupted search (adopted) is queued again too."""
    for adopted in (False, True):
        fake_queue["calls"].clear()
        runner = queue_runner.QueueRunner(jobs=1, check_s=0.0, lost_s=0.0)
        if adopted:
            runner.adopt("t-1", {"train.lr": 0.01})
        else:
            runner.submit("t-1", {"train.lr": 0.01})
        fake_queue["tasks"]["t-1"] = QueueTask("b1", "Running")  # never begun
        _finish_when_queued(fake_queue)
        got = runner.wait(["t-1"])
        assert got == {"t-1": fake_queue["refs"]["t-1-again"]}
        kill, again = fake_queue["calls"][-2:]
        assert kill == ("queue", "kill", "t-1")
        assert again == ("exp", "run", "--queue", "--name", "t-1-again", "-S", "train.lr=0.01")
        assert "lost t-1" in capsys.readouterr().out
        del fake_queue["refs"]["t-1-again"]


def test_queue_runner_waits_on_a_task_dvc_will_not_kill(fake_queue):
    """A kill DVC refuses (a worker says it runs the task) queues nothing: the wait goes on."""
    runner = queue_runner.QueueRunner(jobs=1, check_s=0.0, lost_s=0.0)
    runner.submit("t-1", {"train.lr": 0.01})
    fake_queue["tasks"]["t-1"] = QueueTask("b1", "Running")

    def refuse(args):
        if args[:2] == ("queue", "kill"):
            fake_queue["refs"]["t-1"] = _exp("t-1")  # it was running after all, and ends
            return 1
        return 0

    fake_queue["answer"] = refuse
    assert runner.wait(["t-1"]) == {"t-1": fake_queue["refs"]["t-1"]}
    assert [c[:2] for c in fake_queue["calls"]] == [("exp", "run"), ("queue", "kill")]


def test_queue_runner_retries_dvcs_busy_lock_when_queuing(fake_queue, monkeypatch):
    """DVC's locks fail at once when held (a worker setting an experiment up holds the queue's);
    queuing retries them, and nothing else."""
    answers = [
        "'.dvc/tmp/exps/celery/stash' is busy, it is being blocked by:\n  (PID 7): exp run",
        "Unable to acquire lock. Most likely another DVC process is running",
        None,
    ]

    def busy(*args, check=True, timeout=None):
        fake_queue["calls"].append(args)
        text = answers.pop(0)
        if text:
            raise PipelineError(f"`dvc {' '.join(args)}` failed:\nERROR: {text}")
        return subprocess.CompletedProcess(args, 0, "", "")

    monkeypatch.setattr(queue_runner, "dvc", busy)
    queue_runner.QueueRunner(jobs=1).submit("t-1", {"train.lr": 0.01})
    assert len(fake_queue["calls"]) == 3 and answers == []
    answers[:] = ["params.yaml: train.lr is not a number", None]
    with pytest.raises(PipelineError, match="not a number"):
        queue_runner.QueueRunner(jobs=1).submit("t-2", {"train.lr": "x"})


def test_queue_runner_tells_a_trial_it_cannot_queue_again_as_failed(fake_queue, capsys):
    runner = queue_runner.QueueRunner(jobs=1, check_s=0.0, lost_s=0.0)
    runner.submit("t-1", {"train.lr": 0.01})
    fake_queue["tasks"]["t-1"] = QueueTask("b1", "Running")

    def locked(*args, check=True, timeout=None):
        fake_queue["calls"].append(args)
        if args[:2] == ("exp", "run"):
            raise PipelineError("`dvc exp run` failed:\nERROR: Unable to acquire lock")
        return subprocess.CompletedProcess(args, 0, "", "")

    queue_runner.dvc = locked  # the fixture's monkeypatch restores it
    assert runner.wait(["t-1"]) == {"t-1": None}
    assert "t-1 told as failed" in capsys.readouterr().out


def test_queue_runner_tells_a_trial_gone_from_the_queue_as_failed(fake_queue, capsys):
    """No ref and no status (removed from DVC's queue): failed once that lasts `lost_s`; a task
    missing from one status answer only is waited for."""
    runner = queue_runner.QueueRunner(jobs=1, check_s=0.0, lost_s=0.0)
    runner.submit("t-1", {"train.lr": 0.01})
    runner.submit("t-2", {"train.lr": 0.02})

    def on_poll(i):
        if i == 0:
            fake_queue["tasks"]["t-1"] = QueueTask("a1", "Queued")
        if i == 2:
            fake_queue["refs"]["t-1"] = _exp("t-1")

    fake_queue["on_poll"] = on_poll
    assert runner.wait(["t-1"]) == {"t-1": fake_queue["refs"]["t-1"]}
    assert "gone" not in capsys.readouterr().out
    assert runner.wait(["t-2"]) == {"t-2": None}  # never listed
    assert "t-2 is gone from DVC's queue" in capsys.readouterr().out


def test_a_trial_queued_again_stands_for_the_lost_one():
    """The killed original of a requeued trial is not a second (failed) trial on resume."""
    lost, again = _show_exp("s-1", "failed", IN_SPACE), _show_exp("s-1-again", "queued", IN_SPACE)
    show = [{"rev": "abc", "experiments": [lost, again]}]
    dims = parse_space(STUDY_SPACE, BASE)
    past, skipped = past_trials(experiment_states(show), dims, flatten(BASE), "val.accuracy")
    assert [(p.name, p.state) for p in past] == [("s-1-again", "queued")]
    assert skipped == ["s-1: lost by DVC's queue; s-1-again is the trial"]


def test_queue_tasks_prefer_the_live_task_of_a_recurring_name(monkeypatch):
    """A study rerun on a new commit reuses its names; DVC's queue lists every commit's tasks."""
    out = (
        "Task     Name      Created    Status\n"
        "aaaaaaa  s-tpe-1   09:26 PM   Running\n"
        "bbbbbbb  s-tpe-1   08:01 PM   Success\n"
        "ccccccc  s-tpe-2   08:02 PM   Failed\n"
        "\nWorker status: 1 active, 0 idle\n"
    )
    answer = subprocess.CompletedProcess([], 0, out, "")
    monkeypatch.setattr("pipeline.experiments.runs.dvc", lambda *args, **kw: answer)
    assert queue_tasks(["s-tpe-1", "s-tpe-2"]) == {
        "s-tpe-1": QueueTask("aaaaaaa", "Running"),
        "s-tpe-2": QueueTask("ccccccc", "Failed"),
    }


def test_queue_tasks_retry_dvcs_half_written_info_files(monkeypatch):
    broken = subprocess.CompletedProcess(
        [], 255, "", "ERROR: unexpected error - Expecting value: line 1 column 1 (char 0)"
    )
    good = subprocess.CompletedProcess([], 0, "aaaaaaa  s-tpe-1   09:26 PM   Running\n", "")
    answers = iter([broken, broken, good])
    monkeypatch.setattr("pipeline.experiments.runs.dvc", lambda *args, **kw: next(answers))
    monkeypatch.setattr("pipeline.experiments.runs.time.sleep", lambda s: None)
    assert queue_tasks(["s-tpe-1"]) == {"s-tpe-1": QueueTask("aaaaaaa", "Running")}
    monkeypatch.setattr("pipeline.experiments.runs.dvc", lambda *args, **kw: broken)
    with pytest.raises(PipelineError, match=r"`dvc queue status` failed:\n.*Expecting value"):
        queue_tasks(["s-tpe-1"], tries=3)


def test_random_search_run_waits_like_a_study_and_names_the_failed(study_dir, monkeypatch, capsys):
    queued = iter(["lusty-ants", "rapid-cobs"])
    dims, seed = load_space(study_dir / "space.yaml", study_dir / "params.yaml")
    first = sample(dims, 2, seed)[0]

    def fake_dvc(*args, check=True, timeout=None):
        assert args[:3] == ("exp", "run", "--queue")
        return subprocess.CompletedProcess(args, 0, f"Queued experiment '{next(queued)}'\n", "")

    class Runner(FakeRunner):  # the first draw's experiment fails
        def __init__(self, jobs):
            super().__init__(fail=lambda params: params == first)

    monkeypatch.setattr(queue_runner, "dvc", fake_dvc)
    monkeypatch.setattr(queue_runner, "start_queue", lambda jobs: None)
    monkeypatch.setattr(queue_runner, "QueueRunner", Runner)
    with pytest.raises(PipelineError, match=re.escape("1 trial(s) failed: ['lusty-ants']")):
        queue_runner.random_search(2, study_dir / "space.yaml", 2, True, study_dir / "params.yaml")
    out = capsys.readouterr().out
    assert "search: queued trial 2/2 rapid-cobs:" in out and "search: 2/2 done, 1 failed" in out


def test_resume_adds_this_commits_experiments_in_the_space(study_dir, capsys):
    runner = FakeRunner()
    runner.running["queued-4444"] = {**IN_SPACE, "train.epochs": 20}  # still in DVC's queue
    study = search_study(
        "tpe", 6, study_dir / "space.yaml", 1, None, study_dir / "params.yaml", runner
    )
    out = capsys.readouterr().out
    assert "far-55555: train.lr lies outside the space" in out
    assert "other-666666: split.seed differs from params.yaml" in out
    assert "resumed 3 finished trial(s) and 1 unfinished one(s)" in out
    # 6 in all: 2 done + 1 failed + the queued one (waited for) + 2 new
    assert [n for n, _ in runner.submitted] == ["space-tpe-5", "space-tpe-6"]
    assert len(study.trials) == 6
    by_name = {t.user_attrs.get("experiment"): t for t in study.trials}
    assert by_name["done-1"].value == 0.9 and by_name["broken-333"].state == TrialState.FAIL
    assert by_name["queued-4444"].params["train.epochs"] == 20
    assert by_name["queued-4444"].value == _score({**IN_SPACE, "train.epochs": 20})
    assert "search: done: 5 finished, 1 failed" in out


def test_resume_with_enough_trials_runs_nothing(study_dir):
    runner = FakeRunner()
    runner.running["queued-4444"] = {**IN_SPACE, "train.epochs": 20}
    study = search_study(
        "random", 3, study_dir / "space.yaml", 2, None, study_dir / "params.yaml", runner
    )
    assert runner.submitted == [] and len(study.trials) == 3  # the queued one is not waited for


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grid", 3, 1, None), "search --sampler: 'grid' is not one of tpe, random"),
        (("tpe", 0, 1, None), "search --trials: expected an int >= 1, got 0"),
        (("tpe", 3, 0, None), "search --jobs: expected an int >= 1, got 0"),
        (("tpe", 3, 1, "test.accuracy"), "is a test metric"),
    ],
)
def test_bad_study_args_are_refused(study_dir, args, message):
    sampler, trials, jobs, metric = args
    with pytest.raises(PipelineError, match=re.escape(message)):
        search_study(
            sampler, trials, study_dir / "space.yaml", jobs, metric, study_dir / "params.yaml",
            FakeRunner(),
        )  # fmt: skip


def test_a_space_key_that_is_not_a_param_is_refused(study_dir):
    (study_dir / "space.yaml").write_text(
        yaml.safe_dump({"space": {"train.rate": {"uniform": [0, 1]}}})
    )
    with pytest.raises(PipelineError, match=r"space\.train\.rate: not a param"):
        search_study("tpe", 3, study_dir / "space.yaml", 1, None, study_dir / "params.yaml")
