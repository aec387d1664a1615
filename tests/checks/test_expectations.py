"""The Great Expectations suites of validate (`pipeline.checks.expectations`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.checks import expectations
from pipeline.checks.expectations import Check, Suite
from pipeline.core import io


def test_suites_cut_by_column_give_the_rules_of_one_suite(monkeypatch):
    """Wide tables run GX on groups of columns (linear cost): same rules as one suite."""
    df = pd.DataFrame({f"x{i}": np.arange(12.0) * (i + 1) for i in range(5)})
    df.loc[[2, 7], "x1"] = np.inf
    df.loc[4, "x3"] = 1e300
    df.index.name = io.ROW
    checks = [
        Check("strict", None, "ExpectTableColumnsToMatchSet", {"column_set": ["x0", "y"]}),
        *[Check(f"bound {c}", c, "ExpectColumnValuesToBeBetween", {"max_value": 1e15}) for c in df],
        Check("exists", "missing", "ExpectColumnToExist"),
        Check("second on x1", "x1", "ExpectColumnValuesToNotBeNull"),
    ]

    def rules(group_columns: int) -> list[dict]:
        monkeypatch.setattr(expectations, "GROUP_COLUMNS", group_columns)
        suite = Suite(checks)
        suite.validate(df.iloc[:6])
        suite.validate(df.iloc[6:])
        return suite.rules()

    grouped = rules(2)
    assert grouped == rules(100)
    assert [r["passed"] for r in grouped] == [False, True, False, True, False, True, False, True]
    assert grouped[2]["examples"] == [{"row": 2, "value": np.inf}, {"row": 7, "value": np.inf}]
