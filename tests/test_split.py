import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.config import SplitParams
from pipeline.errors import PipelineError
from pipeline.split import split_table

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
