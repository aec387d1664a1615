"""fit_scaler: fit numeric scaling on train rows only and save the fitted values as JSON.

scikit-learn's scalers do the fitting; what they learn is saved as one `center` and one `scale`
per column, so applying it anywhere is `(x - center) / scale` with no pickled object.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from pipeline import io
from pipeline.config import Params, load_params


def numeric_features(df: pd.DataFrame, target: str) -> list[str]:
    """Numeric feature columns in table order (booleans count as categories)."""
    return [
        c
        for c in df.columns
        if c != target and ptypes.is_numeric_dtype(df[c]) and not ptypes.is_bool_dtype(df[c])
    ]


def fit_scaler(train: pd.DataFrame, columns: list[str], method: str) -> dict[str, Any]:
    """Fitted scaling for `columns` of the train rows, as plain lists."""
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
    columns = numeric_features(train, params.data.target)
    scaler = fit_scaler(train, columns, params.scale.method)
    io.write_json(scaler, io.SCALER)
    print(
        f"fit_scaler: {params.scale.method} scaling of {len(columns)} numeric columns, "
        f"fitted on {len(train)} train rows"
    )


if __name__ == "__main__":
    run(load_params())
