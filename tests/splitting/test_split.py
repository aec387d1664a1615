import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import SplitParams
from pipeline.splitting.assign import FOLD, read_labels
from pipeline.splitting.drift import distribution_shift
from pipeline.splitting.duplicates import duplicate_report_parts
from pipeline.stages.split import run as split_run

from ..helpers import assign_splits, duplicate_report, split_dataset, split_table

DEFAULT = SplitParams()


@st.composite
def labelled_tables(draw):
    """Tables of 30-300 rows with 2-4 classes of at least 10 rows each."""
    sizes = draw(st.lists(st.integers(10, 80), min_size=2, max_size=4))
    labels = [f"c{i}" for i, size in enumerate(sizes) for _ in range(size)]
    df = pd.DataFrame({"x": range(len(labels)), "y": labels})
    df.index.name = "_row"
    return df


@settings(max_examples=40, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1))
def test_splits_are_disjoint_and_cover_every_row(df, seed):
    parts = split_table(df, df["y"], DEFAULT, seed)
    indices = [set(p.index) for p in parts.values()]
    assert sum(len(i) for i in indices) == len(df)
    assert set().union(*indices) == set(df.index)


@settings(max_examples=40, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1))
def test_stratified_class_counts_are_within_one_row_of_exact(df, seed):
    parts = split_table(df, df["y"], DEFAULT, seed)
    totals = df["y"].value_counts()
    for name, part in parts.items():
        share = getattr(DEFAULT, name)
        counts = part["y"].value_counts().reindex(totals.index, fill_value=0)
        exact = totals * share
        assert ((counts - exact).abs() <= 1 + 1e-9).all(), (name, counts.to_dict(), exact.to_dict())


@settings(max_examples=20, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_split(df, seed):
    first = split_table(df, df["y"], DEFAULT, seed)
    again = split_table(df, df["y"], DEFAULT, seed)
    for name in first:
        assert first[name].index.equals(again[name].index)


def test_different_seed_different_split():
    df = pd.DataFrame({"x": range(200), "y": ["a", "b"] * 100})
    assert not split_table(df, df["y"], DEFAULT, 1)["test"].index.equals(
        split_table(df, df["y"], DEFAULT, 2)["test"].index
    )


def test_class_too_small_to_stratify_is_a_clear_error():
    df = pd.DataFrame({"x": range(41), "y": ["a"] * 40 + ["b"]})
    with pytest.raises(PipelineError, match=r"fewer than 2 rows \{.b.: 1\}"):
        split_table(df, df["y"], DEFAULT, 0)


# --- schemes, folds, groups, oversampling, checks -------------------------------------------

SCHEMES = {
    "train_val_test": SplitParams(),
    "train_test": SplitParams(scheme="train_test", train=0.7, val=0.15, test=0.3),
    "kfold": SplitParams(scheme="kfold", folds=4, fold=1, test=0.2),
}


@settings(max_examples=30, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1), scheme=st.sampled_from(list(SCHEMES)))
def test_every_scheme_gives_disjoint_splits_covering_every_row(df, seed, scheme):
    parts = split_table(df, df["y"], SCHEMES[scheme], seed)
    sizes = [len(p) for p in parts.values()]
    assert min(sizes) > 0 and sum(sizes) == len(df)
    assert (
        pd.Index(np.concatenate([p.index for p in parts.values()])).sort_values().equals(df.index)
    )


@settings(max_examples=30, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1))
def test_train_test_scheme_carves_val_from_train_within_one_row_per_class(df, seed):
    params = SCHEMES["train_test"]
    parts = split_table(df, df["y"], params, seed)
    totals = df["y"].value_counts()
    for name, share in params.shares().items():
        counts = parts[name]["y"].value_counts().reindex(totals.index, fill_value=0)
        assert ((counts - totals * share).abs() <= 1 + 1e-9).all(), name
    assert params.shares()["val"] == pytest.approx(0.7 * 0.15)


@settings(max_examples=30, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1))
def test_k_folds_partition_the_non_test_rows_stratified_within_one_row(df, seed):
    params = SCHEMES["kfold"]
    where = assign_splits(df, df["y"], params, seed)
    rest = where[where["split"] != "test"]
    assert (where.loc[where["split"] == "test", FOLD] == -1).all()
    assert set(rest[FOLD]) == set(range(params.folds))  # every row in exactly one of k folds
    assert (rest["split"] == np.where(rest[FOLD] == params.fold, "val", "train")).all()
    totals = df["y"].value_counts()
    test_counts = df.loc[where["split"] == "test", "y"].value_counts()
    test_counts = test_counts.reindex(totals.index, fill_value=0)
    assert ((test_counts - totals * params.test).abs() <= 1 + 1e-9).all()
    rest_totals = totals - test_counts
    for f in range(params.folds):
        counts = df.loc[rest.index[rest[FOLD] == f], "y"].value_counts()
        counts = counts.reindex(totals.index, fill_value=0)
        assert ((counts - rest_totals / params.folds).abs() <= 1 + 1e-9).all(), f


@settings(max_examples=15, deadline=None)
@given(df=labelled_tables(), seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_folds(df, seed):
    params = SCHEMES["kfold"]
    assert assign_splits(df, df["y"], params, seed).equals(assign_splits(df, df["y"], params, seed))


@st.composite
def grouped_tables(draw):
    """60-240 rows in 12-40 groups of uneven size, two classes."""
    n_groups = draw(st.integers(12, 40))
    sizes = draw(st.lists(st.integers(1, 6), min_size=n_groups, max_size=n_groups))
    groups = [f"g{g}" for g, size in enumerate(sizes) for _ in range(size)]
    labels = draw(st.lists(st.sampled_from(["a", "b"]), min_size=len(groups), max_size=len(groups)))
    df = pd.DataFrame({"x": range(len(groups)), "g": groups, "y": labels})
    df.index.name = "_row"
    return df


@settings(max_examples=30, deadline=None)
@given(df=grouped_tables(), seed=st.integers(0, 2**31 - 1), scheme=st.sampled_from(list(SCHEMES)))
def test_rows_of_one_group_never_straddle_splits_or_folds(df, seed, scheme):
    params = SCHEMES[scheme].model_copy(update={"group": "g", "test": 0.25})
    if scheme == "train_test":
        params = params.model_copy(update={"train": 0.75})
    if scheme == "train_val_test":
        params = params.model_copy(update={"train": 0.55, "val": 0.2})
    try:
        where = assign_splits(df, None, params, seed, groups=df["g"].to_numpy())
    except PipelineError as exc:  # a tiny draw can leave a split without a group: said clearly
        assert "would be empty" in str(exc) and "groups of split.group 'g'" in str(exc)
        return
    column = FOLD if scheme == "kfold" else "split"
    per_group = df.assign(where=where[column].astype(str)).groupby("g")["where"].nunique()
    assert (per_group == 1).all()


def test_split_dataset_drops_the_group_column_and_reports_groups():
    df = pd.DataFrame({"x": range(60), "g": [i // 3 for i in range(60)], "y": ["a", "b"] * 30})
    result = split_dataset(df, "y", "binary", SplitParams(group="g"), 0)
    assert all("g" not in part.columns for part in result.parts.values())
    assert sum(result.report["groups"].values()) == 20


def test_group_column_must_exist_and_not_be_the_target():
    df = pd.DataFrame({"x": range(60), "y": ["a", "b"] * 30})
    with pytest.raises(PipelineError, match=r"split.group: column 'patient' is not in the"):
        split_dataset(df, "y", "binary", SplitParams(group="patient"), 0)
    with pytest.raises(PipelineError, match=r"split.group: 'y' is the target"):
        split_dataset(df, "y", "binary", SplitParams(group="y"), 0)


def test_too_few_rows_for_k_folds_is_a_clear_error():
    df = pd.DataFrame({"x": range(40), "y": ["a"] * 34 + ["b"] * 6})
    params = SplitParams(scheme="kfold", folds=8, test=0.2)
    with pytest.raises(PipelineError, match=r"fewer rows than split.folds \(8\).*'b': 5"):
        split_table(df, df["y"], params, 0)
    with pytest.raises(PipelineError, match=r"split.folds is 8 but only 4 rows"):
        split_table(df.head(5), None, params, 0)


def test_folds_file_matches_train_and_val_of_the_chosen_fold():
    df = pd.DataFrame({"x": np.arange(100.0), "y": ["a", "b", "c", "d"] * 25})
    result = split_dataset(df, "y", "multiclass", SCHEMES["kfold"], 3)
    folds = result.folds
    assert folds is not None and len(folds) + len(result.parts["test"]) == len(df)
    assert folds.index[folds[FOLD] == 1].equals(result.parts["val"].index)
    assert folds.index[folds[FOLD] != 1].equals(result.parts["train"].index)
    assert result.report["folds"]["rows"] == [20, 20, 20, 20]


def test_oversampling_touches_train_only_and_balances_it():
    df = pd.DataFrame({"x": np.arange(200.0), "y": ["a"] * 160 + ["b"] * 40})
    plain = split_dataset(df, "y", "binary", DEFAULT, 7)
    over = split_dataset(df, "y", "binary", DEFAULT.model_copy(update={"oversample": "random"}), 7)
    for name in ("val", "test"):
        assert over.parts[name].equals(plain.parts[name])
    train = over.parts["train"]
    assert train.iloc[: len(plain.parts["train"])].equals(plain.parts["train"])
    assert train["y"].value_counts().to_dict() == {"a": 128, "b": 128}
    copies = train.iloc[len(plain.parts["train"]) :]
    assert (copies["y"] == "b").all() and set(copies.index) <= set(plain.parts["train"].index)
    assert over.report["oversampling"]["before"] == {"a": 128, "b": 32}
    assert over.report["oversampling"]["after"] == {"a": 128, "b": 128}
    assert over.report["rows"] == {"train": 256, "val": 20, "test": 20}


def test_oversampling_a_regression_target_is_refused():
    df = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0)})
    with pytest.raises(PipelineError, match=r"split.oversample: 'random' needs a classification"):
        split_dataset(df, "y", "regression", SplitParams(oversample="random"), 0)


def test_identical_feature_rows_across_splits_are_counted():
    df = pd.DataFrame({"x": [1.0, 2.0] * 50, "c": ["u", "v"] * 50, "y": ["a", "b"] * 50})
    report = split_dataset(df, "y", "binary", DEFAULT, 0).report
    pairs = report["duplicates"]["pairs"]
    assert pairs["train/val"]["rows"] == 10 and pairs["train/test"]["rows"] == 10
    assert pairs["val/test"]["rows"] == 10 and report["duplicates"]["rows"] == 100
    unique = pd.DataFrame({"x": np.arange(100.0), "y": ["a", "b"] * 50})
    report = split_dataset(unique, "y", "binary", DEFAULT, 0).report
    assert report["duplicates"]["rows"] == 0


def test_duplicates_fail_policy_stops_split_with_a_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = pd.DataFrame({"x": [1.0, 2.0] * 50, "y": ["a", "b"] * 50})
    df.index.name = "_row"
    io.write_table(df, io.VALIDATED)
    io.write_json({"target": "y", "task": "binary", "reason": "test"}, io.TASK)
    params = parse_params({"data": {"target": "y"}, "split": {"duplicates": "fail"}})
    with pytest.raises(PipelineError, match=r"split: 100 row\(s\) have feature values identical"):
        split_run(params)
    assert io.SPLIT_REPORT.exists() and not io.SPLIT_DIR.exists()
    split_run(parse_params({"data": {"target": "y"}}))  # warn: written, and said
    assert (io.SPLIT_DIR / "train.parquet").exists()
    assert (
        "Identical feature rows across splits: 100"
        in io.SPLIT_REPORT.with_suffix(".md").read_text()
    )


def test_distribution_shift_flags_a_moved_feature_only():
    rng = np.random.default_rng(0)
    train = pd.DataFrame(
        {"same": rng.normal(size=300), "moved": rng.normal(size=300), "c": ["p", "q"] * 150}
    )
    test = pd.DataFrame(
        {
            "same": rng.normal(size=100),
            "moved": rng.normal(3, size=100),
            "c": ["p"] * 90 + ["q"] * 10,
        }
    )
    rows = {r["column"]: r for r in distribution_shift(train, test, ["same", "moved", "c"], 0.01)}
    assert rows["moved"]["shifted"] and rows["moved"]["test"] == "ks"
    assert not rows["same"]["shifted"]
    assert rows["c"]["shifted"] and rows["c"]["test"] == "chi2"


def test_default_split_is_unchanged_by_the_new_schemes():
    """The train_val_test rows depend only on the seed, as before kfold/groups/oversampling."""
    df = pd.DataFrame({"x": range(30), "y": ["a", "b", "c"] * 10})
    parts = split_table(df, df["y"], DEFAULT, 42)
    assert {n: len(p) for n, p in parts.items()} == {"train": 24, "val": 3, "test": 3}
    assert list(parts["test"].index) == list(split_table(df, df["y"], DEFAULT, 42)["test"].index)


def test_split_and_duplicate_counts_are_the_same_worked_in_slices(monkeypatch):
    """Class positions gathered and hashes searched a few rows at a time change nothing."""
    from pipeline.splitting import assign, duplicates

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0] * 40, "y": ["a", "b"] * 60})
    whole = split_dataset(df, "y", "binary", DEFAULT, 0)
    monkeypatch.setattr(assign, "CHUNK_ROWS", 3)
    monkeypatch.setattr(duplicates, "CHUNK_ROWS", 3)
    sliced = split_dataset(df, "y", "binary", DEFAULT, 0)
    assert sliced.report["duplicates"] == whole.report["duplicates"]
    for name, part in whole.parts.items():
        assert list(sliced.parts[name].index) == list(part.index)
    assert whole.report["duplicates"]["rows"] == 120
    assert whole.report["duplicates"]["pairs"]["train/val"]["rows"] == 12


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=0, max_size=60),
    st.lists(st.integers(0, 40), min_size=0, max_size=30),
    st.lists(st.integers(0, 40), min_size=0, max_size=30),
    st.integers(1, 7),
)
def test_duplicate_report_over_parts_equals_the_whole(train, val, test, parts):
    """Hashes spilled in parts (equal hashes share a part) give the same report as in memory."""
    hashes = {
        name: np.array(values, dtype=np.uint64)
        for name, values in (("train", train), ("val", val), ("test", test))
    }

    def row_numbers(wanted):  # row number = 1000 * split + position: checks the mapping too
        return {
            name: {int(p): 1000 * list(hashes).index(name) + int(p) for p in positions}
            for name, positions in wanted.items()
        }

    cut = [
        {
            name: (values[values % parts == k], np.flatnonzero(values % parts == k))
            for name, values in hashes.items()
        }
        for k in range(parts)
    ]
    assert duplicate_report_parts(cut, row_numbers) == duplicate_report(hashes, row_numbers)


@pytest.mark.parametrize("classes", [3, 300])
def test_read_labels_codes_follow_the_sorted_names_across_batches(classes):
    """Codes are one byte up to 127 classes and widen past them, whichever batch brings the
    new ones; either way the labels read back as the column's text."""
    values = pd.Series([f"c{(i * 7) % classes}" for i in range(900)], name="y")
    batches = [values.iloc[start : start + 64].to_frame() for start in range(0, 900, 64)]
    labels = read_labels(batches, "y", len(values))
    assert list(labels.cat.categories) == sorted(values.unique())
    assert labels.astype(str).tolist() == values.tolist()
    assert labels.cat.codes.dtype == (np.int8 if classes < 128 else np.int16)
