"""What Great Expectations costs `validate`: its checking on synthetic tables vs plain pandas.

    python benchmarks/validate.py                 # 100k and 1M rows
    python benchmarks/validate.py --rows 100000   # one size

Each measurement runs in its own process, so peak RSS is that run's alone. `gx` times the stage's
`validate_table` (GX suite + cleaning + size rules) on a table already read; `pandas` times the
same checks written directly in pandas; `read` times reading the CSV as the stage does (field
count scan + pandas parse). The table: 4 numeric columns, 2 categorical (5 and 20 categories),
a 3-class target, about 1% nulls in two columns.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import io  # noqa: E402
from pipeline.config import parse_params  # noqa: E402
from pipeline.schema import TableSchema  # noqa: E402

TARGET = "label"
SCHEMA = {
    "columns": {
        **{f"x{i}": {"type": "numeric", "min": -10, "max": 10} for i in range(4)},
        "colour": {"type": "categorical", "allowed": [f"c{i}" for i in range(5)]},
        "shop": {"type": "categorical", "allowed": [f"s{i}" for i in range(20)]},
        TARGET: {"type": "categorical", "allowed": ["a", "b", "c"]},
    },
    "strict": True,
}


def make_table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(4)})
    df["colour"] = rng.choice([f"c{i}" for i in range(5)], size=rows)
    df["shop"] = rng.choice([f"s{i}" for i in range(20)], size=rows)
    df[TARGET] = rng.choice(["a", "b", "c"], size=rows, p=[0.5, 0.3, 0.2])
    df.loc[rng.random(rows) < 0.01, "x1"] = np.nan
    df.loc[rng.random(rows) < 0.01, "colour"] = None
    return df


def pandas_checks(df: pd.DataFrame, schema: TableSchema) -> dict[str, object]:
    """The stage's checks without GX: same rules, a few offending rows each, then cleaning."""
    rules: dict[str, object] = {}

    def record(name: str, bad: pd.Series) -> None:
        rules[name] = {"count": len(bad), "examples": bad.head(5).to_dict()}

    for column in [TARGET, *schema.columns]:
        rules[f"exists {column}"] = column in df
    for column, rule in schema.columns.items():
        values = df[column]
        if rule.min is not None:
            record(f"min {column}", values[values < rule.min])
        if rule.max is not None:
            record(f"max {column}", values[values > rule.max])
        if rule.allowed is not None:
            record(f"in {column}", values[values.notna() & ~values.isin(rule.allowed)])
    rules["strict"] = sorted(set(df.columns) - {TARGET, *schema.columns})
    for column in df.columns:
        if pd.api.types.is_numeric_dtype(df[column]):
            values = df[column]
            record(f"finite {column}", values[np.isinf(values)])
        rules[f"not all null {column}"] = bool(df[column].notna().any())
        if not pd.api.types.is_numeric_dtype(df[column]):  # the inferred-type check
            counts = df[column].value_counts()
            pd.to_numeric(counts.index.to_series(), errors="coerce")
    clean = df[df[TARGET].notna()].dropna()
    rules["duplicates"] = int(clean.duplicated().sum())
    rules["rows"] = len(clean)
    rules["class_counts"] = clean[TARGET].value_counts().to_dict()
    return rules


def measure(mode: str, rows: int, csv_path: Path) -> dict[str, float]:
    """One measurement in this process: seconds and peak RSS (MiB)."""
    from pipeline import validate

    schema = TableSchema.model_validate(SCHEMA)
    params = parse_params({"data": {"target": TARGET}})
    if mode == "read":
        start = time.perf_counter()
        validate.read_input(csv_path, validate.Report())
        seconds = time.perf_counter() - start
    else:
        df = io.read_raw(csv_path)
        if mode == "gx":
            validate.validate_table(df.head(100), schema, params)  # GX import + context: once
            start = time.perf_counter()
            clean, result = validate.validate_table(df, schema, params)
            assert clean is not None, [r for r in result["rules"] if not r["passed"]]
        else:
            start = time.perf_counter()
            pandas_checks(df, schema)
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mib": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--child", nargs=3, metavar=("MODE", "ROWS", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, rows, path = args.child
        print(json.dumps(measure(mode, int(rows), Path(path))))
        return

    import great_expectations

    print(
        f"Python {platform.python_version()}, pandas {pd.__version__}, "
        f"great_expectations {great_expectations.__version__}, {platform.machine()}"
    )
    print(f"{'rows':>9} {'what':<28} {'seconds':>8} {'rows/s':>11} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            csv_path = Path(tmp) / f"table_{rows}.csv"
            make_table(rows).to_csv(csv_path, index=False)
            for mode, label in (
                ("read", "read CSV (scan + parse)"),
                ("pandas", "checks in plain pandas"),
                ("gx", "validate_table (GX suite)"),
            ):
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(rows), str(csv_path)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                m = json.loads(out.strip().splitlines()[-1])
                print(
                    f"{rows:>9} {label:<28} {m['seconds']:>8.2f} {m['rows_per_s']:>11,.0f} "
                    f"{m['peak_rss_mib']:>13,.0f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
