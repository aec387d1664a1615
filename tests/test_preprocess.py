"""fit_scaler and encode: fitted on train rows only, applied everywhere, saved as plain JSON."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from pipeline import encode, io, scale, split, validate
from pipeline.config import parse_params
from pipeline.encode import LABEL, UNSEEN_CODE, decode_values, encode_table, fit_encoder
from pipeline.errors import PipelineError
from pipeline.scale import apply_imputer, apply_scaler, fit_imputer, fit_scaler, numeric_features
from pipeline.schema import EncodeRule

from .conftest import ROOT

REFERENCE = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


@settings(max_examples=30, deadline=None)
@given(
    x=arrays(np.float64, (20, 3), elements=st.floats(-1e3, 1e3)),
    method=st.sampled_from(sorted(REFERENCE)),
)
def test_saved_scaler_reproduces_scikit_learn(x, method):
    df = pd.DataFrame(x, columns=["a", "b", "c"])
    fitted = fit_scaler(df, ["a", "b", "c"], method)
    expected = REFERENCE[method]().fit_transform(x)
    np.testing.assert_allclose(apply_scaler(df, fitted).to_numpy(), expected, atol=1e-9)


def test_numeric_features_skip_target_and_categories():
    df = pd.DataFrame({"n": [1.0], "c": ["x"], "b": [True], "y": [0.5]})
    assert numeric_features(df, "y") == ["n"]


def small_splits():
    def table(colors, labels, xs):
        df = pd.DataFrame({"x": xs, "color": colors, "y": labels})
        df.index.name = io.ROW
        return df

    train = table(["red", "blue", "red", "blue"], ["a", "b", "a", "b"], [1.0, 2.0, 3.0, 4.0])
    val = table(["green", "red"], ["a", "b"], [5.0, 6.0])
    return train, val


def test_unseen_category_is_all_zero_and_counted():
    train, val = small_splits()
    scaler = fit_scaler(train, ["x"], "standard")
    encoder = fit_encoder(train, ["x"], "y", "binary", "ignore")
    assert encoder["features"] == ["x", "color=blue", "color=red"]
    table, unseen = encode_table(val, scaler, encoder, "val")
    assert unseen == {"color": 1}
    assert table.loc[0, ["color=blue", "color=red"]].tolist() == [0.0, 0.0]
    assert table[LABEL].tolist() == [0, 1]
    assert (table.drop(columns=[LABEL]).dtypes == np.float32).all()


def test_unseen_category_errors_when_configured():
    train, val = small_splits()
    encoder = fit_encoder(train, ["x"], "y", "binary", "error")
    with pytest.raises(PipelineError, match="column 'color' has categories not seen in train"):
        encode_table(val, fit_scaler(train, ["x"], "none"), encoder, "val")


def test_class_missing_from_train_is_an_error_naming_the_split():
    train, val = small_splits()
    val.loc[1, "y"] = "c"
    encoder = fit_encoder(train, ["x"], "y", "binary", "ignore")
    with pytest.raises(PipelineError, match="val split has classes absent from train rows"):
        encode_table(val, fit_scaler(train, ["x"], "none"), encoder, "val")


def _with_nulls(df: pd.DataFrame, every: int) -> pd.DataFrame:
    """Null out some numeric and some categorical values (as validate keeps them under impute)."""
    df = df.copy()
    df.loc[df.index[::every], "bill_depth_mm"] = np.nan
    df.loc[df.index[1::every], "island"] = None
    return df


@pytest.mark.parametrize(
    ("method", "missing"),
    [("standard", "drop"), ("minmax", "drop"), ("robust", "drop"), ("standard", "impute")],
)
def test_val_and_test_rows_never_reach_fitted_preprocessing(tmp_path, monkeypatch, method, missing):
    """Change val/test rows and refit: imputer, scaler and encoder JSON stay byte-identical;
    change a train row and they change."""
    (tmp_path / "data/raw").mkdir(parents=True)
    for name in ("penguins.csv", "penguins.schema.yaml"):
        (tmp_path / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    params = parse_params({"scale": {"method": method}, "clean": {"missing": missing}})
    validate.run(params)
    split.run(params)
    if missing == "impute":  # validate keeps null rows then; add nulls to more columns too
        for name in io.SPLITS:
            path = io.SPLIT_DIR / f"{name}.parquet"
            io.write_table(_with_nulls(io.read_table(path), 7), path)

    def fitted() -> tuple[bytes, bytes, bytes]:
        scale.run(params)
        encode.run(params)
        return io.IMPUTER.read_bytes(), io.SCALER.read_bytes(), io.ENCODER.read_bytes()

    before = fitted()
    for name in ("val", "test"):
        path = io.SPLIT_DIR / f"{name}.parquet"
        df = io.read_table(path)
        df["bill_length_mm"] = df["bill_length_mm"] * 10
        df["island"] = "Elsewhere"
        if missing == "impute":
            df = _with_nulls(df, 2)
        io.write_table(df, path)
    assert fitted() == before

    path = io.SPLIT_DIR / "train.parquet"
    df = io.read_table(path)
    first = df.index[0]
    df.loc[first, "bill_length_mm"] = df["bill_length_mm"].max() + 5.0
    df.loc[first, "island"] = "Elsewhere"
    if missing == "impute":  # move the median and the most frequent island
        lowest = df["bill_depth_mm"].idxmin()
        df.loc[lowest, "bill_depth_mm"] = df["bill_depth_mm"].max() + 1.0
        rare = df["island"].value_counts().index[-1]
        df.loc[df.index[: len(df) // 2], "island"] = rare
    io.write_table(df, path)
    imputer, scaler, encoder = fitted()
    assert scaler != before[1]
    assert encoder != before[2]
    if missing == "impute":
        assert imputer != before[0]
        report = io.read_json(io.ENCODE_REPORT)
        val_nulls = io.read_table(io.SPLIT_DIR / "val.parquet").isna().sum()
        assert report["imputed"]["val"] == {c: int(n) for c, n in val_nulls.items() if n}
        assert {"bill_depth_mm", "island"} <= set(report["imputed"]["val"])
        for name in io.SPLITS:
            table = io.read_table(io.ENCODED_DIR / f"{name}.parquet")
            assert not table.isna().any().any()


def test_imputer_fits_median_and_most_frequent_on_train_rows():
    train = pd.DataFrame(
        {"x": [1.0, np.nan, 3.0, 10.0], "c": ["a", None, "b", "b"], "y": ["p", "q", "p", "q"]}
    )
    imputer = fit_imputer(train, "y", "impute")
    assert imputer["numeric"] == {"x": 3.0} and imputer["categorical"] == {"c": "b"}
    val = pd.DataFrame({"x": [np.nan, 5.0], "c": [None, None], "y": ["p", "q"]})
    filled, counts = apply_imputer(val, imputer)
    assert filled["x"].tolist() == [3.0, 5.0] and filled["c"].tolist() == ["b", "b"]
    assert counts == {"x": 1, "c": 2}
    assert fit_imputer(train, "y", "drop") == {"missing": "drop", "numeric": {}, "categorical": {}}


def test_imputer_refuses_a_column_with_no_train_values():
    train = pd.DataFrame({"x": [np.nan, np.nan], "y": ["p", "q"]})
    with pytest.raises(PipelineError, match=r"column\(s\) \['x'\] have no values in the 2 train"):
        fit_imputer(train, "y", "impute")


def test_nulls_left_without_imputation_are_a_clear_error():
    train, val = small_splits()
    val.loc[0, "x"] = np.nan
    encoder = fit_encoder(train, ["x"], "y", "binary", "ignore")
    with pytest.raises(PipelineError, match=r"val split has nulls in \{'x': 1\}.*clean.missing"):
        encode_table(val, fit_scaler(train, ["x"], "none"), encoder, "val")


def test_ordinal_encoding_with_declared_order_and_a_reserved_code_for_unseen():
    train, val = small_splits()
    rules = {"color": EncodeRule(method="ordinal", order=["red", "blue"])}
    encoder = fit_encoder(train, ["x"], "y", "binary", "ignore", rules=rules)
    assert encoder["features"] == ["x", "color"]
    assert encoder["categorical"]["color"] == ["red", "blue"]
    table, unseen = encode_table(val, fit_scaler(train, ["x"], "none"), encoder, "val")
    assert table["color"].tolist() == [UNSEEN_CODE, 0.0]  # green unseen, red first in order
    assert unseen == {"color": 1}
    by_default = fit_encoder(train, ["x"], "y", "binary", "ignore", method="ordinal")
    assert by_default["categorical"]["color"] == ["blue", "red"]  # sorted train categories
    assert encode_table(train, fit_scaler(train, ["x"], "none"), by_default, "train")[0][
        "color"
    ].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_ordinal_rules_are_checked_against_the_train_rows():
    train, _ = small_splits()
    with pytest.raises(PipelineError, match=r"encode.color.order: train rows hold \['blue'\]"):
        fit_encoder(
            train,
            ["x"],
            "y",
            "binary",
            "ignore",
            rules={"color": EncodeRule(method="ordinal", order=["red"])},
        )
    with pytest.raises(PipelineError, match=r"schema encode: \['x'\] are not categorical"):
        fit_encoder(train, ["x"], "y", "binary", "ignore", rules={"x": EncodeRule(method="onehot")})
    with pytest.raises(ValidationError, match="order is only used with method: ordinal"):
        EncodeRule(method="onehot", order=["a"])


def test_unseen_categories_are_counted_per_split_and_column_in_the_report(tmp_path, monkeypatch):
    (tmp_path / "data/raw").mkdir(parents=True)
    for name in ("penguins.csv", "penguins.schema.yaml"):
        (tmp_path / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    (tmp_path / "data/raw/penguins.schema.yaml").open("a").write(
        "encode:\n  sex: {method: ordinal, order: [female, male]}\n"
    )
    monkeypatch.chdir(tmp_path)
    params = parse_params({})
    validate.run(params)
    split.run(params)
    path = io.SPLIT_DIR / "test.parquet"
    df = io.read_table(path)
    df.loc[df.index[:3], "island"] = "Elsewhere"
    df.loc[df.index[:2], "sex"] = "unknown"
    io.write_table(df, path)
    scale.run(params)
    encode.run(params)
    report = io.read_json(io.ENCODE_REPORT)
    assert report["unseen"] == {"train": {}, "val": {}, "test": {"island": 3, "sex": 2}}
    assert report["encoding"] == {"island": "onehot", "sex": "ordinal"}
    test = io.read_table(io.ENCODED_DIR / "test.parquet")
    assert test["sex"].iloc[:2].tolist() == [UNSEEN_CODE] * 2
    assert test.filter(like="island=").iloc[:3].to_numpy().sum() == 0

    preview = io.PREVIEW.read_text()
    rows = [line for line in preview.splitlines() if line.startswith("| ") and "→ |" in line][1:]
    train = io.read_table(io.SPLIT_DIR / "train.parquet")
    assert len(rows) == 25
    assert rows[0].startswith(f"| {train.index[0]} | {train['island'].iloc[0]} |")
    assert f"**{train['species'].iloc[0]}**" in rows[0] and rows[0].endswith("| **0** |")

    params = parse_params({"encode": {"unknown": "error"}})
    with pytest.raises(PipelineError, match=r"column 'island' has categories not seen.*test split"):
        encode.run(params)


def test_regression_target_is_standardized_with_train_rows_and_inverts_exactly():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [100.0, 200.0, 300.0, 400.0]})
    val = pd.DataFrame({"x": [5.0], "y": [1000.0]})
    encoder = fit_encoder(train, ["x"], "y", "regression", "ignore", scale_target=True)
    assert encoder["target_scaling"]["center"] == 250.0
    table, _ = encode_table(val, fit_scaler(train, ["x"], "none"), encoder, "val")
    assert table[LABEL].iloc[0] == pytest.approx((1000 - 250) / np.std([100, 200, 300, 400]))
    assert decode_values(table[LABEL].to_numpy(), encoder)[0] == pytest.approx(1000.0, abs=1e-9)
    unscaled = fit_encoder(train, ["x"], "y", "regression", "ignore", scale_target=False)
    assert unscaled["target_scaling"] is None
