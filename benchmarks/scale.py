"""The preprocessing stages on a big synthetic table, beside a hand-written pandas + scikit-learn
script doing the same work.

    python benchmarks/scale.py --rows 1000000
    python benchmarks/scale.py --rows 10000000 --batch-rows 262144
    python benchmarks/scale.py --rows 1000000 --train    # also train and evaluate (issue 12)
    python benchmarks/scale.py --rows 1000000 --train --train-data memory  # train.data
    python benchmarks/scale.py --rows 30000000 --skip-validate --no-hand

The table (seeded): 16 float columns, 4 text categoricals of 5, 17, 25 and 50 levels (113
one-hot features in all), a yes/no target, 0.1% nulls in one float column; Parquet. It runs
validate, split, fit_scaler and encode (and with --train, train and evaluate), each as its own
process in a temporary project, measuring wall time and peak RSS of that process (os.wait4),
then the hand script (drop null rows, stratified 80/10/10, StandardScaler and OneHotEncoder
fitted on train, Parquet out) in its own process. It prints a table and ends with one line:
`rows=N preprocess_s=.. hand_s=.. ratio_vs_hand=.. max_stage_rss_mb=..` (the
preprocessing stages only).

`--skip-validate` writes what validate would (the rows without nulls with their row numbers,
and models/preprocess/task.json) directly, streamed, and times the other stages: for sizes where
today's whole-table validate (or the hand script) does not fit in memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core import io  # noqa: E402

TARGET = "target"
LEVELS = (5, 17, 25, 50)
FLOATS = 16
GENERATE_ROWS = 1_000_000  # rows generated (and written as one row group) at a time
PREPROCESS = ("validate", "split", "fit_scaler", "encode")


def write_table(path: Path, rows: int, seed: int) -> None:
    """The seeded synthetic table, generated and written a million rows at a time."""
    with pq.ParquetWriter(path, _schema()) as writer:
        for start in range(0, rows, GENERATE_ROWS):
            n = min(GENERATE_ROWS, rows - start)
            rng = np.random.default_rng([seed, start // GENERATE_ROWS])
            x = rng.normal(size=(n, FLOATS))
            columns = {f"f{i}": x[:, i] for i in range(FLOATS)}
            score = x[:, 0] - 0.5 * x[:, 1] + 0.25 * x[:, 2]
            for j, levels in enumerate(LEVELS):
                codes = rng.integers(levels, size=n)
                names = np.array([f"c{j}_{k}" for k in range(levels)], dtype=object)
                columns[f"c{j}"] = names[codes]
                score += (codes % 3 == 0) * 0.3
            columns["f3"] = np.where(rng.random(n) < 0.001, np.nan, columns["f3"])
            noise = rng.normal(scale=0.5, size=n)
            columns[TARGET] = np.where(score + noise > 0.3, "yes", "no").astype(object)
            writer.write_table(pa.table(columns, schema=_schema()))


def _schema() -> pa.Schema:
    fields = [pa.field(f"f{i}", pa.float64()) for i in range(FLOATS)]
    fields += [pa.field(f"c{j}", pa.string()) for j in range(len(LEVELS))]
    return pa.schema([*fields, pa.field(TARGET, pa.string())])


def measured(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """Run `command`; (wall seconds, peak RSS MiB of that process, exit status)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, proc.returncode


def hand(source: str, out: str) -> None:
    """The hand-written baseline: what a data scientist would type with pandas + scikit-learn."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = pd.read_parquet(source).dropna()
    y = df.pop(TARGET)
    x_train, x_rest, y_train, y_rest = train_test_split(
        df, y, test_size=0.2, stratify=y, random_state=42
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=42
    )
    numeric = [c for c in df.columns if df[c].dtype.kind == "f"]
    categorical = [c for c in df.columns if c not in numeric]
    scaler = StandardScaler().fit(x_train[numeric])
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(x_train[categorical])
    for name, x, label in (
        ("train", x_train, y_train),
        ("val", x_val, y_val),
        ("test", x_test, y_test),
    ):
        features = np.hstack(
            [scaler.transform(x[numeric]), encoder.transform(x[categorical])]
        ).astype(np.float32)
        table = pd.DataFrame(features, index=x.index)
        table.columns = [str(c) for c in table.columns]
        table["_target"] = (label == "yes").to_numpy(dtype=np.int64)
        table.to_parquet(Path(out) / f"{name}.parquet")


def prevalidate(root: Path) -> None:
    """validate's outputs for this table (null rows dropped, `_row` = row number), streamed."""
    raw = pq.ParquetFile(root / "data/raw/synth.parquet", pre_buffer=False)
    start = 0
    with io.TableWriter(root / io.VALIDATED) as out:
        for batch in raw.iter_batches(batch_size=262_144):
            frame = batch.to_pandas()
            frame.index = pd.Index(np.arange(start, start + len(frame)), name=io.ROW)
            out.write(frame.dropna())
            start += len(frame)
    io.write_json({"target": TARGET, "task": "binary", "reason": "benchmark"}, root / io.TASK)


def project(
    root: Path, rows: int, seed: int, batch_rows: int | None, train_data: str = "stream"
) -> None:
    """A temporary project: the synthetic table and params.yaml pointing at it."""
    (root / "data/raw").mkdir(parents=True)
    write_table(root / "data/raw/synth.parquet", rows, seed)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(path="data/raw/synth.parquet", target=TARGET)
    if batch_rows is not None:
        params["data"]["batch_rows"] = batch_rows
    params["train"].update(epochs=2, batch_size=4096, progress=False, data=train_data)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-rows", type=int, default=None, help="data.batch_rows")
    parser.add_argument("--train", action="store_true", help="also run train and evaluate")
    parser.add_argument(
        "--train-data", choices=("auto", "memory", "stream"), default="stream", help="train.data"
    )
    parser.add_argument("--no-hand", action="store_true", help="skip the hand-written script")
    parser.add_argument(
        "--skip-validate", action="store_true", help="write validate's outputs directly"
    )
    parser.add_argument("--hand", nargs=2, metavar=("SOURCE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hand:
        hand(*args.hand)
        return

    with tempfile.TemporaryDirectory(prefix="scale-bench-") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        project(root, args.rows, args.seed, args.batch_rows, args.train_data)
        made = time.perf_counter() - start
        size = (root / "data/raw/synth.parquet").stat().st_size / 2**20
        print(f"table: {args.rows} rows x 21 columns, {size:.0f} MiB Parquet ({made:.1f} s)")
        stages = [*PREPROCESS, *(("train", "evaluate") if args.train else ())]
        if args.skip_validate:
            prevalidate(root)
            stages.remove("validate")
        results = {}
        for stage in stages:
            results[stage] = measured([sys.executable, "-m", "pipeline", stage], root)
            wall, rss, status = results[stage]
            print(f"  {stage:<10} {wall:8.1f} s {rss:8.0f} MiB  exit {status}", flush=True)
            if status:
                raise SystemExit(f"{stage} failed (exit {status})")
        encoded = sum(p.stat().st_size for p in (root / "data/encoded").glob("*.parquet"))
        if not args.no_hand:
            shutil.rmtree(root / "data/encoded")  # free the disk before the hand script
            (root / "hand").mkdir()
            command = [sys.executable, __file__, "--hand", "data/raw/synth.parquet", "hand"]
            results["hand"] = measured(command, root)
            wall, rss, status = results["hand"]
            print(f"  {'hand':<10} {wall:8.1f} s {rss:8.0f} MiB  exit {status}", flush=True)

    print()
    print("| step | wall s | peak RSS MiB |")
    print("|---|---:|---:|")
    for stage, (wall, rss, _) in results.items():
        print(f"| {stage} | {wall:.1f} | {rss:.0f} |")
    print(f"encoded tables: {encoded / 2**20:.0f} MiB on disk")
    preprocess = sum(results[s][0] for s in PREPROCESS if s in results)
    hand_s = results["hand"][0] if "hand" in results else float("nan")
    max_rss = max(results[s][1] for s in PREPROCESS if s in results)
    print(
        f"rows={args.rows} preprocess_s={preprocess:.1f} hand_s={hand_s:.1f} "
        f"ratio_vs_hand={preprocess / hand_s:.2f} max_stage_rss_mb={max_rss:.0f}"
    )
    if args.train:
        print(
            f"train.data={args.train_data} train_s={results['train'][0]:.1f} "
            f"train_rss_mb={results['train'][1]:.0f} evaluate_s={results['evaluate'][0]:.1f} "
            f"evaluate_rss_mb={results['evaluate'][1]:.0f}"
        )


if __name__ == "__main__":
    main()
