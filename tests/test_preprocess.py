"""fit_scaler and encode: fitted on train rows only, applied everywhere, saved as plain JSON."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from pipeline import encode, io, scale, split, validate
from pipeline.config import parse_params
from pipeline.encode import LABEL, decode_values, encode_table, fit_encoder
from pipeline.errors import PipelineError
from pipeline.scale import apply_scaler, fit_scaler, numeric_features

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


@pytest.mark.parametrize("method", ["standard", "minmax", "robust"])
def test_val_and_test_rows_never_reach_fitted_preprocessing(tmp_path, monkeypatch, method):
    """Change val/test rows and refit: scaler and encoder JSON stay byte-identical;
    change a train row and they change."""
    (tmp_path / "data/raw").mkdir(parents=True)
    for name in ("penguins.csv", "penguins.schema.yaml"):
        (tmp_path / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    params = parse_params({"scale": {"method": method}})
    validate.run(params)
    split.run(params)

    def fitted() -> tuple[bytes, bytes]:
        scale.run(params)
        encode.run(params)
        return io.SCALER.read_bytes(), io.ENCODER.read_bytes()

    before = fitted()
    for name in ("val", "test"):
        path = io.SPLIT_DIR / f"{name}.parquet"
        df = io.read_table(path)
        df["bill_length_mm"] = df["bill_length_mm"] * 10
        df["island"] = "Elsewhere"
        io.write_table(df, path)
    assert fitted() == before

    path = io.SPLIT_DIR / "train.parquet"
    df = io.read_table(path)
    first = df.index[0]
    df.loc[first, "bill_length_mm"] = df["bill_length_mm"].max() + 5.0
    df.loc[first, "island"] = "Elsewhere"
    io.write_table(df, path)
    scaler, encoder = fitted()
    assert scaler != before[0]
    assert encoder != before[1]


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
