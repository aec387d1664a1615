"""The preprocessing core and the fit_scaler / encode stages: fitted on train rows only, applied
everywhere, saved as plain JSON, the same whatever the batch size."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from pydantic import ValidationError
from sklearn.preprocessing import (
    MinMaxScaler,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.sampling import sample_positions
from pipeline.core.schema import EncodeRule
from pipeline.core.tables import LABEL, fixed_chunks, numeric_features
from pipeline.features import preprocessor as preprocess
from pipeline.features import scaling
from pipeline.features.preprocessor import UNSEEN_CODE, Preprocessor, decode_values
from pipeline.features.scaling import clip_values
from pipeline.features.statistics import Moments
from pipeline.stages import encode, split, validate
from pipeline.stages import fit_preprocessor as scale

from ..conftest import ROOT

REFERENCE = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}


def fitted_scaling(reference) -> tuple[np.ndarray, np.ndarray]:
    """(center, scale) of a fitted scikit-learn scaler, as x -> (x - center) / scale."""
    if isinstance(reference, StandardScaler):
        return reference.mean_, reference.scale_
    if isinstance(reference, MinMaxScaler):
        return reference.data_min_, 1.0 / reference.scale_
    return reference.center_, reference.scale_


@settings(max_examples=30, deadline=None)
@given(
    x=arrays(np.float64, (20, 3), elements=st.floats(-1e3, 1e3)),
    method=st.sampled_from(sorted(REFERENCE)),
)
def test_saved_scaler_reproduces_scikit_learn(x, method):
    df = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=0.0)
    pre = Preprocessor("y", "regression", scale=method).fit_frame(df)
    reference = REFERENCE[method]().fit(x)
    center, scale_ = fitted_scaling(reference)
    np.testing.assert_allclose(pre.center_, center, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(pre.scale_, scale_, rtol=1e-9, atol=1e-12)
    table = pre.transform(df, target=False).table
    np.testing.assert_allclose(table.to_numpy(), reference.transform(x), rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    x=arrays(np.float64, st.tuples(st.integers(1, 60), st.just(2)), elements=st.floats(-1e6, 1e6)),
    rows=st.integers(1, 70),
    shift=st.floats(-1e8, 1e8),
)
def test_chunked_moments_match_numpy_whatever_the_chunk(x, rows, shift):
    x = x + shift  # a large offset is where sum/sum-of-squares formulas lose every digit
    moments = Moments(2)
    for chunk in fixed_chunks([pd.DataFrame(x)], rows):
        moments.update(chunk.to_numpy())
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(moments.var, x.var(axis=0), rtol=1e-9, atol=1e-6)


def test_fit_over_batches_equals_fit_on_the_whole_frame(monkeypatch):
    monkeypatch.setattr(preprocess, "CHUNK_ROWS", 64)  # many chunks to merge
    rng = np.random.default_rng(0)
    n = 1000
    df = pd.DataFrame(
        {
            "a": rng.normal(5e6, 3.0, n),
            "b": np.where(rng.random(n) < 0.1, np.nan, rng.exponential(2.0, n)),
            "c": rng.choice(["x", "y", "z"], n),
            "y": rng.normal(10.0, 2.0, n),
        }
    )
    settings_ = {"missing": "impute", "scale_target": True}

    def batches(size):
        return lambda columns: (
            (df if columns is None else df[columns]).iloc[i : i + size] for i in range(0, n, size)
        )

    whole = Preprocessor("y", "regression", **settings_).fit_frame(df).to_json()
    variants = [
        {"scale": "standard"},
        {"scale": "robust"},
        {"scale": "robust", "clip": 3.0},
        {"scale": "quantile", "quantiles": 50, "sample_rows": 300, "seed": 3},
        {"scale": "quantile", "clip": 2.0, "clip_mode": "hard"},
    ]
    for size in (7, 64, 999):
        for variant in variants:
            batched = Preprocessor("y", "regression", **variant, **settings_)
            reference = Preprocessor("y", "regression", **variant, **settings_).fit_frame(df)
            got, want = batched.fit(batches(size)).to_json(), reference.to_json()
            assert got == want  # fixed chunks and sampled positions: not just close, identical
    assert whole["imputer"]["b"] == float(np.nanmedian(df["b"]))
    filled = df[["a", "b"]].fillna({"b": whole["imputer"]["b"]}).to_numpy()
    reference = StandardScaler().fit(filled)
    np.testing.assert_allclose(whole["scaler"]["center"], reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(whole["scaler"]["scale"], reference.scale_, rtol=1e-9)
    assert whole["target_scaling"]["scale"] == pytest.approx(df["y"].std(ddof=0), rel=1e-9)


def test_unfitted_preprocessor_refuses_to_transform():
    with pytest.raises(RuntimeError, match="not fitted"):
        Preprocessor("y", "binary").transform(pd.DataFrame({"y": ["a"]}))


def test_json_round_trip_transforms_the_same():
    train, val = small_splits()
    pre = Preprocessor("y", "binary").fit_frame(train)
    saved = json.loads(json.dumps(pre.to_json()))
    again = Preprocessor.from_json(saved)
    assert again.to_json() == pre.to_json()
    pd.testing.assert_frame_equal(again.transform(val).table, pre.transform(val).table)


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
    pre = Preprocessor("y", "binary").fit_frame(train)
    assert pre.features_ == ["x", "color=blue", "color=red"]
    encoded = pre.transform(val, "val")
    table = encoded.table
    assert encoded.unseen == {"color": 1}
    assert table.loc[0, ["color=blue", "color=red"]].tolist() == [0.0, 0.0]
    assert table[LABEL].tolist() == [0, 1]
    assert (table.drop(columns=[LABEL]).dtypes == np.float32).all()


def test_unseen_category_errors_when_configured():
    train, val = small_splits()
    pre = Preprocessor("y", "binary", scale="none", unknown="error").fit_frame(train)
    with pytest.raises(PipelineError, match="column 'color' has categories not seen in train"):
        pre.transform(val, "val")


def test_class_missing_from_train_is_an_error_naming_the_split():
    train, val = small_splits()
    val.loc[1, "y"] = "c"
    pre = Preprocessor("y", "binary", scale="none").fit_frame(train)
    with pytest.raises(PipelineError, match="val split has classes absent from train rows"):
        pre.transform(val, "val")


def _with_nulls(df: pd.DataFrame, every: int) -> pd.DataFrame:
    """Null out some numeric and some categorical values (as validate keeps them under impute)."""
    df = df.copy()
    df.loc[df.index[::every], "bill_depth_mm"] = np.nan
    df.loc[df.index[1::every], "island"] = None
    return df


@pytest.mark.parametrize(
    ("method", "missing"),
    [
        ("standard", "drop"),
        ("minmax", "drop"),
        ("robust", "drop"),
        ("quantile", "drop"),
        ("standard", "impute"),
        ("quantile", "impute"),
    ],
)
def test_val_and_test_rows_never_reach_fitted_preprocessing(tmp_path, monkeypatch, method, missing):
    """Change val/test rows and refit: the preprocessor JSON stays byte-identical; change a
    train row and it changes."""
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

    def fitted() -> tuple[dict, dict, dict, bytes]:
        scale.run(params)
        encode.run(params)
        saved = io.read_json(io.PREPROCESSOR)
        parts = saved["imputer"], saved["scaler"], saved["categorical"]
        return (*parts, io.PREPROCESSOR.read_bytes())

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
    imputer, scaler, categorical, _ = fitted()
    assert scaler != before[1]
    assert categorical != before[2]
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
    pre = Preprocessor("y", "binary", missing="impute").fit_frame(train)
    assert pre.fill_ == {"x": 3.0, "c": "b"}
    val = pd.DataFrame({"x": [np.nan, 5.0], "c": [None, None], "y": ["p", "q"]})
    filled, counts = pre.impute(val)
    assert filled["x"].tolist() == [3.0, 5.0] and filled["c"].tolist() == ["b", "b"]
    assert counts == {"x": 1, "c": 2}
    encoded = pre.transform(val)
    assert encoded.imputed == {"x": 1, "c": 2}
    # the scaler is fitted on the imputed train rows, as Pipeline(SimpleImputer, scaler)
    assert pre.center_ == [pytest.approx(np.mean([1.0, 3.0, 3.0, 10.0]), rel=1e-12)]
    assert pre.categories_["c"] == ["a", "b"]
    dropped = Preprocessor("y", "binary").fit_frame(train.dropna())
    assert dropped.fill_ == {}


def test_imputer_refuses_a_column_with_no_train_values():
    train = pd.DataFrame({"x": [np.nan, np.nan], "y": ["p", "q"]})
    with pytest.raises(PipelineError, match=r"column\(s\) \['x'\] have no values in the 2 train"):
        Preprocessor("y", "binary", missing="impute").fit_frame(train)


def test_nulls_left_without_imputation_are_a_clear_error():
    train, val = small_splits()
    val.loc[0, "x"] = np.nan
    pre = Preprocessor("y", "binary", scale="none").fit_frame(train)
    with pytest.raises(PipelineError, match=r"val split has nulls in \{'x': 1\}.*clean.missing"):
        pre.transform(val, "val")


def test_ordinal_encoding_with_declared_order_and_a_reserved_code_for_unseen():
    train, val = small_splits()
    rules = {"color": EncodeRule(method="ordinal", order=["red", "blue"])}
    pre = Preprocessor("y", "binary", scale="none", rules=rules).fit_frame(train)
    assert pre.features_ == ["x", "color"]
    assert pre.categories_["color"] == ["red", "blue"]
    encoded = pre.transform(val, "val")
    assert encoded.table["color"].tolist() == [UNSEEN_CODE, 0.0]  # green unseen, red first
    assert encoded.unseen == {"color": 1}
    by_default = Preprocessor("y", "binary", scale="none", encode="ordinal").fit_frame(train)
    assert by_default.categories_["color"] == ["blue", "red"]  # sorted train categories
    assert by_default.transform(train).table["color"].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_ordinal_rules_are_checked_against_the_train_rows():
    train, _ = small_splits()
    rules = {"color": EncodeRule(method="ordinal", order=["red"])}
    with pytest.raises(PipelineError, match=r"encode.color.order: train rows hold \['blue'\]"):
        Preprocessor("y", "binary", rules=rules).fit_frame(train)
    rules = {"x": EncodeRule(method="onehot")}
    with pytest.raises(PipelineError, match=r"schema encode: \['x'\] are not categorical"):
        Preprocessor("y", "binary", rules=rules).fit_frame(train)
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
    scale.run(params)  # the setting is part of the fitted preprocessor
    with pytest.raises(PipelineError, match=r"column 'island' has categories not seen.*test split"):
        encode.run(params)


def test_regression_target_is_standardized_with_train_rows_and_inverts_exactly():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [100.0, 200.0, 300.0, 400.0]})
    val = pd.DataFrame({"x": [5.0], "y": [1000.0]})
    pre = Preprocessor("y", "regression", scale="none", scale_target=True).fit_frame(train)
    assert pre.target_scaling_["center"] == 250.0
    table = pre.transform(val, "val").table
    assert table[LABEL].iloc[0] == pytest.approx((1000 - 250) / np.std([100, 200, 300, 400]))
    saved = pre.to_json()
    assert decode_values(table[LABEL].to_numpy(), saved)[0] == pytest.approx(1000.0, abs=1e-9)
    unscaled = Preprocessor("y", "regression", scale_target=False).fit_frame(train)
    assert unscaled.target_scaling_ is None


# ---- scale.method: quantile, scale.clip ------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    # distinct values at least 0.01 apart: scikit-learn widens the ends by an absolute 1e-7
    x=arrays(np.int64, (40, 2), elements=st.integers(-(10**6), 10**6), unique=True),
    quantiles=st.integers(2, 40),  # at most the rows: scikit-learn warns above
)
def test_quantile_scaling_reproduces_scikit_learn(x, quantiles):
    """Without ties (and within the sample) it is QuantileTransformer(normal), exactly."""
    x = x / 100.0
    df = pd.DataFrame(x, columns=["a", "b"]).assign(y=0.0)
    pre = Preprocessor("y", "regression", scale="quantile", quantiles=quantiles).fit_frame(df)
    reference = QuantileTransformer(
        n_quantiles=quantiles, output_distribution="normal", subsample=None
    ).fit(x)
    np.testing.assert_array_equal(np.asarray(pre.quantiles_).T, reference.quantiles_)
    outside = np.array([[-2e4, -2e4], [2e4, 2e4], [0.0, 0.0]])
    for rows in (x, outside):
        np.testing.assert_allclose(
            pre.scale_numeric(rows), reference.transform(rows), rtol=1e-12, atol=1e-12
        )
    assert pre.center_ == [0.0, 0.0] and pre.scale_ == [1.0, 1.0]


def test_quantile_scaling_handles_ties_constant_columns_and_the_train_range():
    train = pd.DataFrame(
        {
            "tied": [0.0] * 6 + [1.0, 2.0, 3.0, 4.0],  # a mass at its minimum
            "same": [7.0] * 10,
            "y": ["p", "q"] * 5,
        }
    )
    pre = Preprocessor("y", "binary", scale="quantile").fit_frame(train)
    assert len(pre.quantiles_[0]) == 10  # scale.quantiles (1000) capped by the rows
    rows = pd.DataFrame({"tied": [-5.0, 0.0, 4.0, 99.0], "same": [6.0, 7.0, 7.0, 8.0]})
    scaled = pre.scale_numeric(rows.to_numpy())
    assert scaled[:, 1].tolist() == [0.0] * 4  # constant on train rows: no information
    # below / above the train range: the ends; the tied minimum mid-way through its levels
    assert scaled[0, 0] == scaling.NORMAL_LOW
    assert scaled[3, 0] == scaling.NORMAL_HIGH == scaled[2, 0]
    # 0 fills levels 0..5/9 of 10 quantiles: p = (0 + 5/9) / 2, ndtri(5/18) = -0.589
    assert scaled[1, 0] == pytest.approx(-0.5895, abs=1e-4)
    assert np.isfinite(scaled).all()


def test_quantiles_are_fitted_on_the_seeded_sample_of_train_rows():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.lognormal(size=500), "y": rng.normal(size=500)})
    settings_ = {"scale": "quantile", "quantiles": 20, "sample_rows": 120}
    pre = Preprocessor("y", "regression", seed=5, **settings_).fit_frame(df)
    sample = df["a"].to_numpy()[sample_positions(500, 120, 5)]
    want = np.percentile(sample, 100 * np.linspace(0, 1, 20))
    np.testing.assert_array_equal(pre.quantiles_[0], want)
    other = Preprocessor("y", "regression", seed=6, **settings_).fit_frame(df)
    assert other.quantiles_ != pre.quantiles_  # the seed picks the sample
    everything = Preprocessor("y", "regression", scale="quantile", quantiles=20).fit_frame(df)
    np.testing.assert_array_equal(
        everything.quantiles_[0], np.percentile(df["a"], 100 * np.linspace(0, 1, 20))
    )


def test_imputed_values_join_the_quantiles():
    train = pd.DataFrame({"x": [1.0, np.nan, np.nan, 10.0, 4.0], "y": ["p", "q"] * 2 + ["p"]})
    pre = Preprocessor("y", "binary", missing="impute", scale="quantile").fit_frame(train)
    assert pre.fill_ == {"x": 4.0}
    assert pre.quantiles_ == [[1.0, 4.0, 4.0, 4.0, 10.0]]
    table = pre.transform(pd.DataFrame({"x": [np.nan], "y": ["p"]})).table
    assert table["x"].iloc[0] == 0.0  # the filled median: the middle of its levels


def test_robust_with_a_clip_is_realmlps_robust_scaling_with_smooth_clipping():
    """pytabkit's RobustScaleSmoothClipTransform: (x - median) / IQR, half the range where the
    IQR is 0, then x / sqrt(1 + (x / 3)²)."""
    rng = np.random.default_rng(2)
    x = np.c_[rng.standard_t(2, 200), np.where(rng.random(200) < 0.9, 0.0, rng.exponential(5, 200))]
    df = pd.DataFrame(x, columns=["heavy", "spiky"]).assign(y=0.0)
    pre = Preprocessor("y", "regression", scale="robust", clip=3.0).fit_frame(df)
    median = np.median(x, axis=0)
    iqr = np.quantile(x, 0.75, axis=0) - np.quantile(x, 0.25, axis=0)
    assert iqr[1] == 0  # the case where RealMLP differs from scikit-learn's RobustScaler
    iqr = np.where(iqr == 0, 0.5 * (x.max(axis=0) - x.min(axis=0)), iqr)
    scaled = (x - median) / iqr
    want = scaled / np.sqrt(1 + (scaled / 3) ** 2)
    np.testing.assert_allclose(pre.scale_numeric(x), want, rtol=1e-12)
    assert np.abs(pre.scale_numeric(x * 1e6)).max() <= 3
    plain = Preprocessor("y", "regression", scale="robust").fit_frame(df)
    assert plain.scale_[1] == 1.0  # without a clip: scikit-learn's RobustScaler, unchanged


def test_clip_modes_bound_the_scaled_values():
    x = np.array([-1e9, -6.0, -1.0, 0.0, 0.5, 6.0, 1e9])
    smooth = clip_values(x, 3.0, "smooth")
    np.testing.assert_allclose(smooth, x / np.sqrt(1 + (x / 3) ** 2))
    assert np.all(np.abs(smooth) <= 3) and smooth[3] == 0.0
    assert clip_values(x, 3.0, "hard").tolist() == [-3.0, -3.0, -1.0, 0.0, 0.5, 3.0, 3.0]


@settings(max_examples=40, deadline=None)
@given(
    train=arrays(
        np.float64, st.tuples(st.integers(1, 40), st.just(2)), elements=st.floats(-1e3, 1e3)
    ),
    probe=arrays(np.float64, (30,), elements=st.floats(-1e4, 1e4)),
    method=st.sampled_from(["standard", "minmax", "robust", "quantile", "none"]),
    clip=st.sampled_from([None, 0.5, 3.0]),
    clip_mode=st.sampled_from(["smooth", "hard"]),
)
@example(  # a train spread of 4e-124: a value 1.0 is 3e123 stds out, past float32 (saturates)
    train=np.array([[0.0, 1.0], [7.63e-124, 7.63e-124]]),
    probe=np.ones(30),
    method="standard",
    clip=None,
    clip_mode="smooth",
)
@example(  # a train spread of 2.5e-159 and a smooth clip: (x / clip)² overflowed to inf, x to 0
    train=np.array([[5.09397397e-159, 0.0], [0.0, 0.0]]),
    probe=np.ones(30),
    method="standard",
    clip=0.5,
    clip_mode="smooth",
)
def test_transform_is_monotone_per_column(train, probe, method, clip, clip_mode):
    df = pd.DataFrame(train, columns=["a", "b"]).assign(y=0.0)
    pre = Preprocessor("y", "regression", scale=method, clip=clip, clip_mode=clip_mode)
    pre.fit_frame(df)
    values = np.sort(np.concatenate([probe, train.ravel()]))
    rows = pd.DataFrame({"a": values, "b": values[::-1], "y": 0.0})
    table = pre.transform(rows, target=False).table
    assert np.all(np.diff(table["a"].to_numpy()) >= 0)
    assert np.all(np.diff(table["b"].to_numpy()) <= 0)
    assert np.isfinite(table.to_numpy()).all()


def test_json_round_trip_keeps_quantiles_and_clip_and_the_default_json_is_unchanged():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.exponential(size=50), "y": 0.0})
    options = {"scale": "quantile", "quantiles": 11, "clip": 2.5, "clip_mode": "hard"}
    pre = Preprocessor("y", "regression", **options).fit_frame(df)
    saved = json.loads(json.dumps(pre.to_json()))
    again = Preprocessor.from_json(saved)
    assert again.to_json() == pre.to_json()
    assert saved["scaler"]["clip"] == 2.5 and len(saved["scaler"]["quantiles"][0]) == 11
    pd.testing.assert_frame_equal(again.transform(df).table, pre.transform(df).table)
    default = Preprocessor("y", "regression").fit_frame(df).to_json()
    assert list(default["scaler"]) == ["method", "columns", "center", "scale"]
