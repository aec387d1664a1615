"""Train-vs-test distribution shift per feature: KS for numeric columns, chi-squared for the rest.

A small p-value says the two samples are unlikely to come from one distribution; with many
features some are flagged by chance, so the table is a warning to look, not a failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from pipeline.core.tables import is_numeric


def distribution_shift(
    train: pd.DataFrame, test: pd.DataFrame, columns: list[str], alpha: float
) -> list[dict[str, Any]]:
    """One row per column: test used, statistic, p-value, and `shifted` when p < alpha.

    Nulls are left out; a column with no values on one side, or one category in all, gets
    p-value 1 (nothing to compare)."""
    rows = []
    for column in columns:
        a, b = train[column].dropna(), test[column].dropna()
        if is_numeric(train[column]):
            test_name = "ks"
            if len(a) and len(b):
                result = stats.ks_2samp(a.to_numpy(np.float64), b.to_numpy(np.float64))
                statistic, p = float(result.statistic), float(result.pvalue)
            else:
                statistic, p = 0.0, 1.0
        else:
            test_name = "chi2"
            counts = pd.concat(
                [a.astype(str).value_counts(), b.astype(str).value_counts()], axis=1
            ).fillna(0)
            if len(a) and len(b) and len(counts) > 1:
                result = stats.chi2_contingency(counts.to_numpy().T)
                statistic, p = float(result.statistic), float(result.pvalue)
            else:
                statistic, p = 0.0, 1.0
        rows.append(
            {
                "column": column,
                "test": test_name,
                "statistic": round(statistic, 6),
                "p_value": round(p, 6),
                "shifted": p < alpha,
            }
        )
    return rows
