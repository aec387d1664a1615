"""The validate stage alone on a synthetic table: wall time and peak RSS per size and batch size.

    python benchmarks/validate.py                                # 1M rows
    python benchmarks/validate.py --rows 1000000 10000000 --batch-rows 262144 1048576
    python benchmarks/validate.py --rows 1000000 --csv           # the same table as CSV
    python benchmarks/validate.py --columns 100 500 1500 3000    # wide: 400 rows, N columns

The table (seeded, written once per size under --dir as Parquet, row groups of 1Mi rows):
16 float columns, 4 text categoricals with 5, 12, 25 and 50 levels, a yes/no target, 0.1% nulls
in one float column; about 135 bytes a row in Parquet. Each run is `python -m pipeline validate`
in a fresh project folder whose params point at the table, under `/usr/bin/time -v` (wall time,
peak RSS of the process, CPU seconds: user + system, which a busy machine disturbs less).

`--columns` measures width instead (issue 27: the cost must grow linearly with the columns):
--wide-rows rows (400) of N columns, every tenth a text categorical with 5 levels, the rest
floats (1% nulls in the first), and a yes/no target; the last column shows CPU seconds per
1,000 columns.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
LEVELS = (5, 12, 25, 50)
CHUNK = 1 << 20


def make_table(path: Path, rows: int, seed: int = 0) -> None:
    """Write the synthetic table chunk by chunk (the generator's memory is one chunk)."""
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".tmp")
    writer = None
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        columns = {f"x{i}": rng.normal(size=n) for i in range(16)}
        columns["x0"][rng.random(n) < 0.001] = np.nan
        score = columns["x1"] - 0.5 * columns["x2"]
        for i, k in enumerate(LEVELS):
            codes = rng.integers(0, k, size=n)
            score += 0.1 * (codes % 3)
            columns[f"c{i}"] = pa.array(np.array([f"level{j}" for j in range(k)])[codes])
        columns["target"] = pa.array(np.where(score + rng.normal(size=n) > 0, "yes", "no"))
        table = pa.table(columns)
        if path.suffix == ".csv":
            with open(tmp, "ab") as f:
                pa_csv.write_csv(table, f, pa_csv.WriteOptions(include_header=writer is None))
            writer = True
        else:
            writer = writer or pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=CHUNK)
    if isinstance(writer, pq.ParquetWriter):
        writer.close()
    os.replace(tmp, path)


def make_wide_table(path: Path, rows: int, columns: int, seed: int = 0) -> None:
    """`columns` feature columns (every tenth text with 5 levels, else floats) and a yes/no
    target, `rows` rows."""
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(columns):
        if i % 10 == 9:
            data[f"c{i}"] = pa.array(
                np.array([f"level{j}" for j in range(5)])[rng.integers(0, 5, rows)]
            )
        else:
            values = rng.normal(size=rows)
            if i == 0:  # one column with nulls: with clean.missing: drop, more empty the table
                values[rng.random(rows) < 0.01] = np.nan
            data[f"x{i}"] = values
    data["target"] = pa.array(np.where(rng.random(rows) < 0.5, "yes", "no"))
    table = pa.table(data)
    tmp = path.with_suffix(".tmp")
    if path.suffix == ".csv":
        pa_csv.write_csv(table, tmp)
    else:
        pq.write_table(table, tmp)
    os.replace(tmp, path)


def run_stage(table: Path, batch_rows: int) -> dict[str, float]:
    """`python -m pipeline validate` on `table` in a fresh project: seconds and peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as project:
        link = Path(project, "data/raw", table.name)  # data.path must be inside the project
        link.parent.mkdir(parents=True)
        link.symlink_to(table.resolve())
        path = str(link.relative_to(project))
        params = {"data": {"path": path, "target": "target", "batch_rows": batch_rows}}
        Path(project, "params.yaml").write_text(yaml.safe_dump(params))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.run(
            ["/usr/bin/time", "-v", sys.executable, "-m", "pipeline", "validate"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
        hours, minutes, seconds = (float(g or 0) for g in wall.groups())
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        cpu = sum(
            float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", proc.stderr).group(1))
            for kind in ("User", "System")
        )
        return {
            "seconds": hours * 3600 + minutes * 60 + seconds,
            "cpu_seconds": cpu,
            "peak_rss_mb": int(rss.group(1)) / 1024,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--batch-rows", type=int, nargs="*", default=[262_144])
    parser.add_argument("--csv", action="store_true", help="read the table as CSV")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--columns", type=int, nargs="*", help="wide tables of N columns")
    parser.add_argument("--wide-rows", type=int, default=400)
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()}, pyarrow {pa.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}"
    )
    if args.columns:
        wide(args)
        return
    print(
        f"{'rows':>10} {'batch_rows':>10} {'seconds':>8} {'cpu s':>8} {'rows/s':>11} "
        f"{'peak RSS MB':>12}"
    )
    for rows in args.rows:
        table = args.dir / f"validate_bench_{rows}.{'csv' if args.csv else 'parquet'}"
        if not table.exists():
            make_table(table, rows)
        for batch_rows in args.batch_rows:
            m = run_stage(table, batch_rows)
            print(
                f"{rows:>10} {batch_rows:>10} {m['seconds']:>8.1f} {m['cpu_seconds']:>8.1f} "
                f"{rows / m['seconds']:>11,.0f} {m['peak_rss_mb']:>12,.0f}",
                flush=True,
            )


def wide(args: argparse.Namespace) -> None:
    """validate on tables of args.wide_rows rows and args.columns columns."""
    print(f"{'rows':>6} {'columns':>8} {'seconds':>8} {'cpu s':>8} {'cpu s / 1k cols':>16}")
    for columns in args.columns:
        suffix = "csv" if args.csv else "parquet"
        table = args.dir / f"validate_wide_{args.wide_rows}x{columns}.{suffix}"
        if not table.exists():
            make_wide_table(table, args.wide_rows, columns)
        m = run_stage(table, 262_144)
        print(
            f"{args.wide_rows:>6} {columns:>8} {m['seconds']:>8.1f} {m['cpu_seconds']:>8.1f} "
            f"{1000 * m['cpu_seconds'] / columns:>16.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
