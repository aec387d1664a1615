"""cv: folds of the non-test rows, preprocessing per fold, mean ± std of the fold scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.evaluation.cross_validation import aggregate, cross_validate, fold_table
from pipeline.splitting.assign import FOLD

from ..conftest import binary_table
from ..helpers import split_dataset


def _parts(params, df, target="label", task="binary"):
    result = split_dataset(df, target, task, params.split, params.seed)
    parts = dict(result.parts)
    if result.folds is not None:
        parts["folds"] = result.folds
    return parts


@pytest.mark.parametrize("scheme", ["train_val_test", "kfold"])
def test_folds_partition_the_non_test_rows(scheme):
    params = parse_params({"data": {"target": "label"}, "split": {"scheme": scheme}})
    df = binary_table()
    parts = _parts(params, df)
    table = fold_table(parts, params, "binary")
    non_test = df.index.difference(parts["test"].index)
    assert sorted(table.index) == sorted(non_test)  # every non-test row once, no test row
    assert set(table[FOLD]) == set(range(params.split.folds))
    sizes = np.bincount(table[FOLD])
    assert sizes.max() - sizes.min() <= 1
    if scheme == "kfold":  # split's own assignment is reused as is
        assert table[FOLD].equals(parts["folds"][FOLD])


def test_oversampled_copies_do_not_enter_the_folds():
    params = parse_params({"data": {"target": "label"}, "split": {"oversample": "random"}})
    df = binary_table()
    parts = _parts(params, df)
    assert parts["train"].index.duplicated().any()
    table = fold_table(parts, params, "binary")
    assert not table.index.duplicated().any()


def test_groups_need_the_kfold_scheme():
    params = parse_params({"data": {"target": "label"}, "split": {"group": "color"}})
    parts = _parts(params, binary_table())
    with pytest.raises(PipelineError, match=r"split\.group needs split\.scheme: kfold"):
        fold_table(parts, params, "binary")


def test_aggregate_gives_mean_and_sample_std_and_skips_undefined():
    summary = aggregate(
        [
            {"accuracy": 0.8, "roc_auc": None},
            {"accuracy": 0.9, "roc_auc": 0.7},
            {"accuracy": 1.0, "roc_auc": 0.9},
        ]
    )
    assert summary["accuracy"]["mean"] == pytest.approx(0.9)
    assert summary["accuracy"]["std"] == pytest.approx(0.1)
    assert summary["roc_auc"]["mean"] == pytest.approx(0.8)
    assert summary["roc_auc"]["std"] == pytest.approx(math.sqrt(0.02))


@pytest.mark.parametrize(
    "scale",
    [{}, {"method": "quantile", "sample_rows": 50}, {"method": "robust", "clip": 3.0}],
    ids=["standard", "quantile", "robust_clip"],
)
def test_cross_validate_reports_mean_and_std_per_metric(scale):
    params = parse_params(
        {
            "data": {"target": "label"},
            "split": {"folds": 3},
            "scale": scale,
            "train": {"epochs": 3, "progress": False},
            "cv": {"enabled": True},
        }
    )
    parts = _parts(params, binary_table())
    report = cross_validate(fold_table(parts, params, "binary"), params, "binary", {}, "drop")
    assert report["k"] == 3 and len(report["per_fold"]) == 3
    assert sum(report["rows"]) == len(parts["train"]) + len(parts["val"])
    assert {"accuracy", "f1_macro", "log_loss", "roc_auc"} <= set(report["val"])
    for stats in report["val"].values():
        assert set(stats) == {"mean", "std"} and stats["std"] >= 0
    again = cross_validate(fold_table(parts, params, "binary"), params, "binary", {}, "drop")
    assert again == report  # seeded: the same folds and scores
