"""The category cap (encode.max_categories, encode.min_frequency) and the missing-value
indicators of clean.missing: impute: fitted on train rows, applied by transform, saved in
preprocessor.json, followed by predict; the default JSON unchanged."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.checks.new_rows import prepare
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.schema import EncodeRule, TableSchema
from pipeline.features.categories import cap_categories
from pipeline.features.preprocessor import UNSEEN_CODE, Preprocessor
from pipeline.model.feature_layout import feature_layout
from pipeline.stages import fit_preprocessor as scale
from pipeline.stages.fit_preprocessor import fit_notes


def planes() -> pd.DataFrame:
    """`plane`: a 6 times, b and c 5, d 2, e 1; `x` numeric."""
    plane = ["a"] * 6 + ["b"] * 5 + ["c"] * 5 + ["d"] * 2 + ["e"]
    n = len(plane)
    return pd.DataFrame(
        {"x": np.arange(n, dtype=float), "plane": plane, "y": ["p", "q"] * 9 + ["p"]}
    )


def capped(**settings_) -> Preprocessor:
    return Preprocessor("y", "binary", scale="none", **settings_).fit_frame(planes())


def test_rare_categories_share_one_other_code_and_unseen_ones_follow_unknown():
    pre = capped(max_categories=2, min_frequency=3)
    # the two most frequent with >= 3 rows; b and c tie on 5: the smaller value wins
    assert pre.categories_["plane"] == ["a", "b", "__other__"]
    assert pre.other_["plane"] == {"label": "__other__", "members": ["c", "d", "e"]}
    assert pre.features_ == ["x", "plane=a", "plane=b", "plane=__other__"]
    new = pd.DataFrame({"x": [0.0] * 4, "plane": ["a", "c", "e", "zzz"], "y": ["p"] * 4})
    encoded = pre.transform(new)
    onehot = encoded.table[["plane=a", "plane=b", "plane=__other__"]].to_numpy().tolist()
    assert onehot == [[1, 0, 0], [0, 0, 1], [0, 0, 1], [0, 0, 0]]  # zzz: unseen, all zeros
    assert encoded.unseen == {"plane": 1}
    strict = capped(max_categories=2, min_frequency=3, unknown="error")
    with pytest.raises(PipelineError, match="categories not seen in train rows"):
        strict.transform(new)
    strict.transform(new.iloc[:3])  # rare categories are known: no error


def test_ordinal_codes_put_other_last_and_a_declared_order_is_never_capped():
    pre = capped(max_categories=1, encode="ordinal")
    assert pre.categories_["plane"] == ["a", "__other__"]
    new = pd.DataFrame({"x": [0.0] * 3, "plane": ["a", "d", "new"], "y": ["p"] * 3})
    assert pre.transform(new).table["plane"].tolist() == [0.0, 1.0, UNSEEN_CODE]
    rules = {"plane": EncodeRule(method="ordinal", order=list("edcba"))}
    kept = capped(max_categories=1, rules=rules)
    assert kept.categories_["plane"] == list("edcba") and kept.other_ == {}


def test_no_cap_and_no_nulls_leave_the_json_as_it_was():
    pre = capped(max_categories=100, min_frequency=1)
    saved = pre.to_json()
    assert "other" not in saved and "indicators" not in saved
    assert saved["categorical"]["plane"] == list("abcde")


def test_the_other_label_never_takes_a_category_name():
    df = planes()
    df.loc[:5, "plane"] = "__other__"
    pre = Preprocessor("y", "binary", max_categories=1).fit_frame(df)
    assert pre.categories_["plane"] == ["__other__", "__other___"]


@settings(max_examples=40, deadline=None)
@given(
    counts=st.dictionaries(st.text("abcxyz", min_size=1, max_size=3), st.integers(1, 30)),
    max_categories=st.one_of(st.none(), st.integers(1, 8)),
    min_frequency=st.integers(1, 10),
)
def test_the_cap_keeps_at_most_max_categories_the_most_frequent_ones(
    counts, max_categories, min_frequency
):
    kept, folded = cap_categories(counts, max_categories, min_frequency)
    assert sorted(kept + folded) == sorted(counts) and not set(kept) & set(folded)
    assert max_categories is None or len(kept) <= max_categories
    assert all(counts[v] >= min_frequency for v in kept)
    if kept and folded:  # nothing folded is more frequent than something kept
        assert max(counts[v] for v in folded) <= min(counts[v] for v in kept)
    assert cap_categories(dict(reversed(counts.items())), max_categories, min_frequency) == (
        kept,
        folded,
    )  # the order rows come in changes nothing


@settings(max_examples=15, deadline=None)
@given(
    values=st.lists(st.sampled_from(list("abcdefgh")), min_size=2, max_size=60),
    max_categories=st.integers(1, 5),
)
def test_fitted_categories_never_exceed_max_categories_plus_other(values, max_categories):
    df = pd.DataFrame(
        {"c": values, "y": ["p", "q"] * (len(values) // 2) + ["p"] * (len(values) % 2)}
    )
    pre = Preprocessor("y", "binary", max_categories=max_categories, min_frequency=2)
    pre.fit_frame(df)
    assert len(pre.categories_["c"]) <= max_categories + 1
    table = pre.transform(df).table
    assert (table.drop(columns="_target").sum(axis=1) == 1).all()  # every train row has a code


def imputed_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame(
        {
            "x": [1.0, np.nan, 3.0, 10.0],
            "x__missing": [0.0, 1.0, 2.0, 3.0],  # a column already named like an indicator
            "z": [1.0, 2.0, 3.0, 4.0],  # no null in train rows: no indicator
            "c": ["a", None, "b", "b"],
            "y": ["p", "q", "p", "q"],
        }
    )
    val = pd.DataFrame(
        {"x": [np.nan, 5.0], "x__missing": [0.0, 0.0], "z": [np.nan, 1.0], "c": [None, "a"]}
    )
    return train, val.assign(y=["p", "q"])


def test_impute_adds_an_indicator_per_column_with_nulls_in_train_rows():
    train, val = imputed_frames()
    pre = Preprocessor("y", "binary", missing="impute", scale="none").fit_frame(train)
    assert pre.indicators_ == {"x": "x__missing_", "c": "c__missing"}
    assert pre.features_[-2:] == ["x__missing_", "c__missing"]
    table = pre.transform(val).table
    assert table["x__missing_"].tolist() == [1.0, 0.0] and table["c__missing"].tolist() == [1, 0]
    assert table["x"].tolist() == [3.0, 5.0] and table["z"].tolist() == [2.5, 1.0]
    # the indicators are plain inputs: numeric embeddings take the scaled columns only
    saved = pre.to_json()
    slot = {name: i for i, name in enumerate(saved["features"])}
    assert feature_layout(saved).numeric == [slot["x"], slot["x__missing"], slot["z"]]


def test_json_round_trip_keeps_indicators_and_other():
    train, val = imputed_frames()
    train = pd.concat([train] * 3, ignore_index=True)
    pre = Preprocessor("y", "binary", missing="impute", max_categories=1).fit_frame(train)
    saved = json.loads(json.dumps(pre.to_json()))
    assert saved["indicators"] == {"x": "x__missing_", "c": "c__missing"}
    assert saved["other"] == {"c": {"label": "__other__", "members": ["a"]}}
    again = Preprocessor.from_json(saved)
    pd.testing.assert_frame_equal(again.transform(val).table, pre.transform(val).table)
    assert again.to_json() == saved


def test_predict_applies_the_indicators_to_new_rows():
    train, val = imputed_frames()
    pre = Preprocessor("y", "binary", missing="impute").fit_frame(train)
    cleaning = {"missing": "impute", "schema": TableSchema().model_dump(mode="json")}
    features, skipped, _ = prepare(val.drop(columns="y"), cleaning, pre)
    assert skipped == {} and list(features.columns) == pre.features_
    assert features["x__missing_"].tolist() == [1.0, 0.0]


def test_fit_refuses_an_unresolved_auto_and_says_what_it_decided():
    with pytest.raises(PipelineError, match="validate resolves it to drop or impute"):
        Preprocessor("y", "binary", missing="auto").fit_frame(planes())
    params = parse_params({"data": {"target": "y"}, "encode": {"max_categories": 1}})
    train, _ = imputed_frames()
    pre = Preprocessor.from_params(params, "binary", {}, "impute")
    pre.fit_frame(pd.concat([train] * 3, ignore_index=True))
    notes = fit_notes(pre, params)
    assert notes[0].startswith("column 'c': 1 of 2 train categories keep their own code, 1 share")
    assert "(encode.max_categories 1, encode.min_frequency 5)" in notes[0]
    assert "2 missing-value indicator input(s)" in notes[1]


DATES = {"d": ["d_year", "d_month", "d_days"]}  # date column -> its features, as validate made


def dated(nulls: list[int], n: int = 6) -> pd.DataFrame:
    """A date's features (null together in `nulls`), a numeric `x` with one null, a target."""
    days = np.arange(n, dtype=float) * 40
    df = pd.DataFrame(
        {
            "d_year": 2020 + days // 365,
            "d_month": 1 + (days // 30) % 12,
            "d_days": 18262 + days,
            "x": [np.nan, *range(1, n)],
            "y": ["p", "q"] * (n // 2),
        }
    )
    df.loc[nulls, list(DATES["d"])] = np.nan
    return df


def test_a_date_gets_one_indicator_for_all_its_features():
    train, val = dated([1, 4]), dated([0])
    pre = Preprocessor("y", "binary", missing="impute", dates=DATES).fit_frame(train)
    assert pre.indicators_ == {"d": "d__missing", "x": "x__missing"}
    assert pre.features_ == [*DATES["d"], "x", "d__missing", "x__missing"]
    table = pre.transform(val).table
    assert table["d__missing"].tolist() == [1, 0, 0, 0, 0, 0]
    # saved for encode and predict: the features the date's indicator covers
    saved = json.loads(json.dumps(pre.to_json()))
    assert saved["indicated"] == DATES and saved["indicators"]["d"] == "d__missing"
    again = Preprocessor.from_json(saved)
    pd.testing.assert_frame_equal(again.transform(val).table, table)
    assert again.to_json() == saved
    # a feature null alone (never made so by validate) still marks its date as not whole
    val.loc[2, "d_month"] = np.nan
    assert pre.transform(val).table["d__missing"].tolist() == [1, 0, 1, 0, 0, 0]
    # without the map each feature would be an input of its own
    plain = Preprocessor("y", "binary", missing="impute").fit_frame(train)
    assert len(plain.indicators_) == 4 and "indicated" not in plain.to_json()


def test_a_date_with_no_date_in_train_rows_is_named_as_the_user_can_drop_it():
    train = dated(list(range(6))).assign(e=np.nan)
    with pytest.raises(PipelineError) as info:
        Preprocessor("y", "binary", missing="impute", dates=DATES).fit_frame(train)
    message = str(info.value)
    assert "date column(s) ['d'] have no dates (features ['d_year', 'd_month', 'd_days']" in (
        message
    )
    assert "column(s) ['e'] have no values" in message
    assert message.endswith("drop: [d, e] in the schema file, or clean.dates: drop for the dates")
    with pytest.raises(PipelineError) as info:
        Preprocessor("y", "binary", missing="impute", dates=DATES).fit_frame(train.iloc[:, :-1])
    assert str(info.value).endswith("; drop: [d] in the schema file, or clean.dates: drop")


def test_fit_scaler_takes_the_dates_from_cleaning_json(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    io.write_table(dated([1, 4]), scale.TRAIN)
    io.write_json({"target": "y", "task": "binary", "reason": ""}, io.TASK)
    roles = {"drop": [], "dates": {"d": ["year", "month", "days"]}}
    io.write_json({"missing": "impute", "roles": roles}, io.CLEANING)
    scale.run(parse_params({"data": {"target": "y"}}))
    saved = io.read_json(io.PREPROCESSOR)
    assert saved["indicators"] == {"d": "d__missing", "x": "x__missing"}
    io.write_json({"missing": "impute"}, io.CLEANING)  # an older validate's
    with pytest.raises(PipelineError, match=r"fit_scaler: .* lacks `missing` or `roles\.dates`"):
        scale.run(parse_params({"data": {"target": "y"}}))
