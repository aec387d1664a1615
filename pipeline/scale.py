"""fit_scaler: fit imputation and numeric scaling on train rows only; save them as JSON.

With `clean.missing: impute`, scikit-learn's SimpleImputer learns the median of each numeric
feature and the most frequent value of each other feature (imputer.json); the scaler is then
fitted on the imputed train rows, as a scikit-learn Pipeline(imputer, scaler) would. scikit-learn's
scalers do the fitting; what they learn is saved as one `center` and one `scale` per column, so
applying it anywhere is `(x - center) / scale` with no pickled object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from pipeline import io
from pipeline.config import Params, load_params
from pipeline.errors import PipelineError


def numeric_features(df: pd.DataFrame, target: str) -> list[str]:
    """Numeric feature columns in table order (booleans count as categories)."""
    return [
        c
        for c in df.columns
        if c != target and ptypes.is_numeric_dtype(df[c]) and not ptypes.is_bool_dtype(df[c])
    ]


def fit_imputer(train: pd.DataFrame, target: str, missing: str) -> dict[str, Any]:
    """Fill values for every feature from the train rows (`missing` is clean.missing; with
    `drop` there is nothing to fit): median for numeric columns, most frequent value (ties:
    the smallest) for the others."""
    imputer: dict[str, Any] = {"missing": missing, "numeric": {}, "categorical": {}}
    if missing != "impute":
        return imputer
    numeric = numeric_features(train, target)
    categorical = [c for c in train.columns if c != target and c not in numeric]
    empty = [c for c in [*numeric, *categorical] if train[c].notna().sum() == 0]
    if empty:
        raise PipelineError(
            f"fit_scaler: column(s) {empty} have no values in the {len(train)} train rows, so "
            f"clean.missing: impute has nothing to fill them with; drop them in the schema file"
        )
    from sklearn.impute import SimpleImputer  # here: train and predict import this module

    if numeric:
        fitted = SimpleImputer(strategy="median").fit(train[numeric].to_numpy(dtype=np.float64))
        imputer["numeric"] = {c: float(v) for c, v in zip(numeric, fitted.statistics_, strict=True)}
    for column in categorical:
        values = train[[column]].astype(object).where(train[[column]].notna(), np.nan)
        value = SimpleImputer(strategy="most_frequent").fit(values.to_numpy()).statistics_[0]
        imputer["categorical"][column] = value.item() if hasattr(value, "item") else value
    return imputer


def apply_imputer(df: pd.DataFrame, imputer: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, int]]:
    """Copy of `df` with nulls filled from the imputer, and how many were filled per column."""
    fills = {**imputer["numeric"], **imputer["categorical"]}
    counts = {c: int(df[c].isna().sum()) for c in fills if c in df.columns}
    counts = {c: n for c, n in counts.items() if n}
    if not counts:
        return df, {}
    out = df.copy()
    for column in counts:
        out[column] = out[column].fillna(fills[column])
    return out, counts


def fit_scaler(train: pd.DataFrame, columns: list[str], method: str) -> dict[str, Any]:
    """Fitted scaling for `columns` of the train rows, as plain lists."""
    from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

    x = train[columns].to_numpy(dtype=np.float64)
    if method == "none" or not columns:
        center, scale = np.zeros(len(columns)), np.ones(len(columns))
    elif method == "standard":
        fitted = StandardScaler().fit(x)
        center, scale = fitted.mean_, fitted.scale_
    elif method == "minmax":
        fitted = MinMaxScaler().fit(x)
        center, scale = fitted.data_min_, 1.0 / fitted.scale_
    elif method == "robust":
        fitted = RobustScaler().fit(x)
        center, scale = fitted.center_, fitted.scale_
    else:  # config.ScaleParams forbids this
        raise ValueError(f"unknown scale.method {method!r}")
    return {
        "method": method,
        "columns": columns,
        "center": [float(v) for v in center],
        "scale": [float(v) for v in scale],
    }


def apply_scaler(df: pd.DataFrame, scaler: dict[str, Any]) -> pd.DataFrame:
    """Return a copy of `df` with the scaler's columns transformed."""
    out = df.copy()
    cols = scaler["columns"]
    if cols:
        x = df[cols].to_numpy(dtype=np.float64)
        out[cols] = (x - np.asarray(scaler["center"])) / np.asarray(scaler["scale"])
    return out


def run(params: Params) -> None:
    train = io.read_table(io.SPLIT_DIR / "train.parquet")
    target = params.data.target
    imputer = fit_imputer(train, target, params.clean.missing)
    filled, counts = apply_imputer(train, imputer)
    columns = numeric_features(train, target)
    scaler = fit_scaler(filled, columns, params.scale.method)
    io.write_json(imputer, io.IMPUTER)
    io.write_json(scaler, io.SCALER)
    imputed = f"; {sum(counts.values())} null(s) imputed" if imputer["missing"] == "impute" else ""
    print(
        f"fit_scaler: {params.scale.method} scaling of {len(columns)} numeric columns, "
        f"fitted on {len(train)} train rows{imputed}"
    )


if __name__ == "__main__":
    run(load_params())
