"""split: cut the validated table into train/val/test, seeded, stratified by class by default.

`split.scheme` picks how:
- train_val_test: three shares of the rows;
- train_test: train and test shares; val (for early stopping) is carved from the train share;
- kfold: a test share is held out and every other row gets one of k folds (StratifiedKFold for
  classification); fold `split.fold` is val for the rest of the pipeline, and
  data/split/folds.parquet keeps the non-test rows with their `_fold` for cross-validation.

With `split.group`, rows of one group never straddle splits or folds; the group column is an
identifier, so it is removed from the split tables. After splitting: identical feature rows in
more than one split are counted (`split.duplicates: warn|fail`), each feature's train-vs-test
shift is tested, and with `split.oversample: random` minority classes of the train split (only)
are topped up with copies of random rows, appended after the original rows (a copy keeps its row
number). Writes data/split/{train,val,test}.parquet, data/split/split.json (task and sizes,
read by `encode`) and reports/split.{json,md}.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

from pipeline import io
from pipeline.config import Params, SplitParams, load_params
from pipeline.drift import distribution_shift
from pipeline.errors import PipelineError
from pipeline.task import read_task

FOLD = "_fold"
MAX_EXAMPLES = 5
# Independent random streams derived from the one seed, so e.g. turning oversampling on does not
# move any row to another split.
_FOLDS_STREAM, _OVERSAMPLE_STREAM = 2, 1


def allocate(n: int, shares: list[float], totals: list[int], targets: list[float]) -> list[int]:
    """Split n rows by `shares` so each count is within one row of exact (largest remainder).

    Leftover rows go to the largest fractional parts; ties go to the split furthest below its
    overall target (`targets` minus `totals` given so far), which keeps split sizes on target.
    """
    exact = [n * share for share in shares]
    counts = [math.floor(e) for e in exact]
    order = sorted(
        range(len(shares)),
        key=lambda i: (-(exact[i] - counts[i]), -(targets[i] - totals[i]), i),
    )
    for i in order[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _allocate_rows(
    y: pd.Series | None, shares: list[float], rng: np.random.Generator, n: int
) -> list[np.ndarray]:
    """Row positions per share, allocated within each class (or all rows) by largest remainder."""
    strata = {"all": np.arange(n)} if y is None else _positions_by_class(y)
    targets = [n * share for share in shares]
    totals = [0] * len(shares)
    picked: list[list[np.ndarray]] = [[] for _ in shares]
    for positions in strata.values():
        counts = allocate(len(positions), shares, totals, targets)
        cuts = np.cumsum(counts)[:-1]
        for i, part in enumerate(np.split(rng.permutation(positions), cuts)):
            picked[i].append(part)
            totals[i] += len(part)
    return [np.sort(np.concatenate(parts)) for parts in picked]


def _allocate_groups(
    groups: np.ndarray, y: pd.Series | None, shares: list[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Row positions per share, moving whole groups: groups in seeded random order, largest
    first, each to the share furthest below its target row count (per class of the group's
    majority label when stratified, so class shares stay close to, not within one row of, exact).
    The last groups go to shares still empty, so every share gets a group when there are enough."""
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if y is None:
        stratum = np.zeros(len(names), dtype=np.int64)
    else:  # the group's most common class; ties go to the first class in sorted order
        crosstab = pd.crosstab(inverse, y.astype(str).to_numpy())
        stratum = crosstab.to_numpy().argmax(axis=1)
    order = rng.permutation(len(names))
    order = order[np.argsort(-sizes[order], kind="stable")]
    rows_per_stratum = np.bincount(stratum, weights=sizes)
    target = rows_per_stratum[:, None] * np.asarray(shares)[None, :]
    given = np.zeros_like(target)
    where = np.empty(len(names), dtype=np.int64)
    for left, g in enumerate(order):
        s = stratum[g]
        empty = np.flatnonzero(given.sum(axis=0) == 0)
        if len(empty) >= len(order) - left:  # as many groups left as empty shares: fill them
            where[g] = int(empty[np.argmax(np.asarray(shares)[empty])])
        else:
            where[g] = int(np.argmax(target[s] - given[s]))
        given[s, where[g]] += sizes[g]
    row_share = where[inverse]
    return [np.flatnonzero(row_share == i) for i in range(len(shares))]


def _positions_by_class(y: pd.Series) -> dict[str, np.ndarray]:
    labels = y.astype(str).to_numpy()
    classes, counts = np.unique(labels, return_counts=True)
    too_small = {c: int(n) for c, n in zip(classes, counts, strict=True) if n < 2}
    if too_small:
        raise PipelineError(
            f"split: cannot stratify target {y.name!r}: class(es) with fewer than 2 rows "
            f"{too_small}; remove them, add rows, or set split.stratify: false"
        )
    return {c: np.flatnonzero(labels == c) for c in classes}


def _assign_folds(
    n: int, y: pd.Series | None, groups: np.ndarray | None, params: SplitParams, seed: int
) -> np.ndarray:
    """Fold 0..k-1 for each of n rows (the non-test rows) with scikit-learn's k-fold splitters."""
    k = params.folds
    if groups is not None and len(np.unique(groups)) < k:
        raise PipelineError(
            f"split: split.folds is {k} but only {len(np.unique(groups))} groups of "
            f"split.group {params.group!r} are outside the test split; lower split.folds"
        )
    if y is not None:
        counts = y.astype(str).value_counts().sort_index()
        small = {c: int(v) for c, v in counts.items() if v < k}
        if small:
            raise PipelineError(
                f"split: class(es) with fewer rows than split.folds ({k}) outside the test "
                f"split: {small}; lower split.folds, add rows, or set split.stratify: false"
            )
    state = int(np.random.default_rng([seed, _FOLDS_STREAM]).integers(2**31 - 1))
    if groups is None:
        splitter = (StratifiedKFold if y is not None else KFold)(
            k, shuffle=True, random_state=state
        )
    else:
        splitter = (StratifiedGroupKFold if y is not None else GroupKFold)(
            k, shuffle=True, random_state=state
        )
    labels = None if y is None else y.astype(str).to_numpy()
    fold = np.full(n, -1, dtype=np.int64)
    for f, (_, held) in enumerate(splitter.split(np.zeros((n, 1)), labels, groups)):
        fold[held] = f
    return fold


def assign_splits(
    df: pd.DataFrame,
    y: pd.Series | None,
    params: SplitParams,
    seed: int,
    groups: np.ndarray | None = None,
) -> pd.DataFrame:
    """Where each row goes: `split` (train/val/test) and, for kfold, `_fold` (-1 on test rows).

    Stratified by `y` when given; whole groups move together when `groups` is given."""
    n = len(df)
    rng = np.random.default_rng(seed)
    if params.scheme == "kfold":
        shares = [1 - params.test, params.test]
    else:
        shares = list(params.shares().values())
    if groups is None:
        parts = _allocate_rows(y, shares, rng, n)
    else:
        parts = _allocate_groups(groups, y, shares, rng)
    split = np.empty(n, dtype=object)
    fold = np.full(n, -1, dtype=np.int64)
    if params.scheme == "kfold":
        rest, test = parts
        split[test] = "test"
        if len(rest) < params.folds:
            raise PipelineError(
                f"split: split.folds is {params.folds} but only {len(rest)} rows are outside "
                f"the test split; lower split.folds or use more data"
            )
        fold[rest] = _assign_folds(
            len(rest),
            None if y is None else y.iloc[rest],
            None if groups is None else groups[rest],
            params,
            seed,
        )
        split[rest] = np.where(fold[rest] == params.fold, "val", "train")
    else:
        for name, positions in zip(io.SPLITS, parts, strict=True):
            split[positions] = name
    out = pd.DataFrame({"split": split}, index=df.index)
    for name in io.SPLITS:
        if not (out["split"] == name).any():
            what = (
                f"{len(np.unique(groups))} groups of split.group {params.group!r}"
                if groups is not None
                else ""
            )
            raise PipelineError(
                f"split: the {name} split would be empty ({n} rows{', ' + what if what else ''}"
                f"; split.scheme {params.scheme}, share {params.shares()[name]:.3g} of the rows); "
                f"use more data or a larger share"
            )
    if params.scheme == "kfold":
        out[FOLD] = fold
    return out


def split_table(
    df: pd.DataFrame,
    y: pd.Series | None,
    params: SplitParams,
    seed: int,
    groups: np.ndarray | None = None,
) -> dict[str, pd.DataFrame]:
    """Seeded train/val/test split (see `assign_splits`); rows keep their file order."""
    where = assign_splits(df, y, params, seed, groups)["split"].to_numpy()
    return {name: df[where == name] for name in io.SPLITS}


def oversample(train: pd.DataFrame, target: str, seed: int) -> pd.DataFrame:
    """Append copies of random rows of each smaller class until it matches the largest class."""
    rng = np.random.default_rng([seed, _OVERSAMPLE_STREAM])
    labels = train[target].astype(str).to_numpy()
    classes, counts = np.unique(labels, return_counts=True)
    extra = [
        rng.choice(np.flatnonzero(labels == c), size=counts.max() - n, replace=True)
        for c, n in zip(classes, counts, strict=True)
        if n < counts.max()
    ]
    if not extra:
        return train
    return pd.concat([train, train.iloc[np.concatenate(extra)]])


def cross_split_duplicates(parts: dict[str, pd.DataFrame], features: list[str]) -> dict[str, Any]:
    """Rows whose feature values (target left out) also occur in another split: how many in
    all, and per pair of splits the rows of the later one, with a few row numbers."""
    hashes = {
        name: pd.util.hash_pandas_object(part[features], index=False)
        for name, part in parts.items()
    }
    pairs = {}
    for first, second in combinations(parts, 2):
        shared = hashes[second][hashes[second].isin(set(hashes[first]))]
        pairs[f"{first}/{second}"] = {
            "rows": len(shared),
            "examples": [int(row) for row in shared.index[:MAX_EXAMPLES]],
        }
    total = 0
    for name, values in hashes.items():
        elsewhere = set().union(*(set(h) for other, h in hashes.items() if other != name))
        total += int(values.isin(elsewhere).sum())
    return {"rows": total, "pairs": pairs}


def class_counts(df: pd.DataFrame, target: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in df[target].astype(str).value_counts().sort_index().items()}


def _group_labels(df: pd.DataFrame, params: SplitParams, target: str) -> np.ndarray | None:
    column = params.group
    if column is None:
        return None
    if column not in df.columns:
        raise PipelineError(
            f"split.group: column {column!r} is not in the validated table; "
            f"columns: {list(df.columns)}"
        )
    if column == target:
        raise PipelineError(f"split.group: {column!r} is the target (data.target)")
    nulls = df[column].isna()
    if nulls.any():
        raise PipelineError(
            f"split.group: column {column!r} has {int(nulls.sum())} null(s) "
            f"(e.g. row {df.index[nulls.to_numpy()][0]}); every row needs a group"
        )
    return df[column].astype(str).to_numpy()


@dataclass
class SplitResult:
    parts: dict[str, pd.DataFrame]
    folds: pd.DataFrame | None  # kfold: the non-test rows with their `_fold`
    report: dict[str, Any]


def split_dataset(
    df: pd.DataFrame, target: str, task: str, params: SplitParams, seed: int
) -> SplitResult:
    """Split, check, and (optionally) oversample; the report says what happened."""
    groups = _group_labels(df, params, target)
    stratify = params.stratify and task != "regression"
    if params.oversample != "none" and task == "regression":
        raise PipelineError(
            f"split.oversample: {params.oversample!r} needs a classification target, but "
            f"{target!r} is a regression target; set split.oversample: none"
        )
    where = assign_splits(df, df[target] if stratify else None, params, seed, groups)
    table = df.drop(columns=[params.group]) if params.group else df
    split = where["split"].to_numpy()
    parts = {name: table[split == name] for name in io.SPLITS}
    folds = None
    if params.scheme == "kfold":
        folds = table[split != "test"].assign(**{FOLD: where[FOLD][split != "test"]})
    features = [c for c in table.columns if c != target]
    classification = task != "regression"
    report: dict[str, Any] = {
        "scheme": params.scheme,
        "task": task,
        "seed": seed,
        "stratified": stratify,
        "group": params.group,
        "rows": {name: len(part) for name, part in parts.items()},
        "duplicates": {"policy": params.duplicates, **cross_split_duplicates(parts, features)},
        "shift": {
            "alpha": params.shift_alpha,
            "columns": distribution_shift(
                parts["train"], parts["test"], features, params.shift_alpha
            ),
        },
    }
    if params.group:
        report["groups"] = {name: len(np.unique(groups[split == name])) for name in io.SPLITS}
    if classification:
        report["class_counts"] = {name: class_counts(part, target) for name, part in parts.items()}
    if params.scheme == "train_test":
        report["val_from_train"] = (
            f"val ({len(parts['val'])} rows) is carved from the train share "
            f"(split.val = {params.val:g} of it) for early stopping; the model is fit on the "
            f"other {len(parts['train'])} rows"
        )
    if folds is not None:
        report["folds"] = {
            "k": params.folds,
            "val_fold": params.fold,
            "rows": [int(v) for v in np.bincount(folds[FOLD], minlength=params.folds)],
            "file": str(io.FOLDS),
        }
    if params.oversample == "random":
        before = class_counts(parts["train"], target)
        parts["train"] = oversample(parts["train"], target, seed)
        report["oversampling"] = {
            "method": "random",
            "before": before,
            "after": class_counts(parts["train"], target),
        }
        report["rows"]["train"] = len(parts["train"])
    return SplitResult(parts, folds, report)


def render_markdown(report: dict[str, Any]) -> str:
    rows = report["rows"]
    lines = [
        "# Split",
        "",
        f"Scheme **{report['scheme']}** (seed {report['seed']}, "
        f"{'stratified by class' if report['stratified'] else 'not stratified'}"
        + (f", groups of `{report['group']}` kept whole" if report["group"] else "")
        + f"): train {rows['train']}, val {rows['val']}, test {rows['test']} rows.",
    ]
    if "val_from_train" in report:
        lines += ["", report["val_from_train"].capitalize() + "."]
    if "folds" in report:
        f = report["folds"]
        lines += [
            "",
            f"{f['k']} folds of the non-test rows ({', '.join(map(str, f['rows']))} rows); "
            f"fold {f['val_fold']} is val here, and `{f['file']}` keeps every fold for "
            f"cross-validation.",
        ]
    if "class_counts" in report:
        counts = report["class_counts"]
        classes = sorted({c for split in counts.values() for c in split})
        lines += ["", "| class | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
        for c in classes:
            lines.append(f"| {c} | " + " | ".join(str(counts[s].get(c, 0)) for s in counts) + " |")
    if "oversampling" in report:
        o = report["oversampling"]
        lines += [
            "",
            "Random oversampling of the train split only (val and test untouched):",
            "",
            "| class | train rows before | after |",
            "|---|---|---|",
        ]
        lines += [f"| {c} | {n} | {o['after'][c]} |" for c, n in o["before"].items()]
    dup = report["duplicates"]
    total = dup["rows"]
    lines += ["", f"## Identical feature rows across splits: {total}"]
    if total:
        lines += ["", f"Policy `split.duplicates: {dup['policy']}`."]
        lines += ["", "| splits | rows | e.g. rows |", "|---|---|---|"]
        for pair, found in dup["pairs"].items():
            lines.append(f"| {pair} | {found['rows']} | {found['examples']} |")
    shift = report["shift"]
    flagged = [r for r in shift["columns"] if r["shifted"]]
    lines += [
        "",
        f"## Train vs test shift: {len(flagged)} of {len(shift['columns'])} features "
        f"flagged (p < {shift['alpha']:g})",
        "",
        "KS test for numeric features, chi-squared for categorical ones. A flag is a warning: "
        "look at the feature; with many features a few are flagged by chance.",
        "",
        "| feature | test | statistic | p-value | shifted |",
        "|---|---|---|---|---|",
    ]
    for r in shift["columns"]:
        lines.append(
            f"| {r['column']} | {r['test']} | {r['statistic']:.4g} | {r['p_value']:.4g} | "
            f"{'**yes**' if r['shifted'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def run(params: Params) -> None:
    df = io.read_table(io.VALIDATED)
    target = params.data.target
    saved = io.read_json(io.TASK) if io.TASK.exists() else {}
    task, reason = read_task(target), saved.get("reason")
    result = split_dataset(df, target, task, params.split, params.seed)
    report = result.report
    io.write_json(report, io.SPLIT_REPORT)
    io.write_text(render_markdown(report), io.SPLIT_REPORT.with_suffix(".md"))
    duplicates = report["duplicates"]["rows"]
    if duplicates and params.split.duplicates == "fail":
        pairs = ", ".join(
            f"{pair}: {found['rows']} (e.g. rows {found['examples']})"
            for pair, found in report["duplicates"]["pairs"].items()
            if found["rows"]
        )
        raise PipelineError(
            f"split: {duplicates} row(s) have feature values identical to a row of another "
            f"split ({pairs}); drop duplicates in validate, or set split.duplicates: warn "
            f"(details in {io.SPLIT_REPORT})"
        )
    with io.atomic_dir(io.SPLIT_DIR) as out:
        for name, part in result.parts.items():
            io.write_table(part, out / f"{name}.parquet")
        if result.folds is not None:
            io.write_table(result.folds, out / io.FOLDS.name)
        io.write_json(
            {
                "task": task,
                "task_reason": reason,
                "scheme": params.split.scheme,
                "stratified": report["stratified"],
                "rows": report["rows"],
            },
            out / "split.json",
        )
    sizes = ", ".join(f"{name} {n}" for name, n in report["rows"].items())
    print(
        f"split: {sizes} rows ({params.split.scheme}, "
        f"{'stratified' if report['stratified'] else 'random'}, task {task})"
    )
    if duplicates:
        print(f"split: warning: {duplicates} row(s) repeat a row of another split's features")
    flagged = [r["column"] for r in report["shift"]["columns"] if r["shifted"]]
    if flagged:
        print(f"split: warning: train vs test shift in {flagged} (see {io.SPLIT_REPORT})")


if __name__ == "__main__":
    run(load_params())
