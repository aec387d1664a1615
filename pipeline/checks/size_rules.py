"""Size rules on the clean table: rows, classes, rows per class and per model parameter, class
balance; and the task (binary / multiclass / regression), decided here once for the pipeline.

They need only counts, added up batch by batch in `TableFacts`: rows, the target's values with
their rows (a numeric target under `data.task: auto|regression` stops counting past
TARGET_VALUES_KEPT distinct values: it is a regression target by then), the categories of each
one-hot feature with their rows (what `encode` will give it: one input each, after the category
cap of `pipeline.features.categories`, applied here to the rows expected in train), and the
feature columns holding a null (under clean.missing: impute each adds an indicator input; a
date column's features share one). The model's parameter count comes from
`pipeline.model.sizing`, the split's shares from `SplitParams.shares`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pandas as pd

from pipeline.checks.value_rules import constant_target_rule
from pipeline.core.errors import PipelineError
from pipeline.core.params import ModelParams, Params, SplitParams
from pipeline.core.schema import TableSchema
from pipeline.core.tables import date_columns, is_numeric
from pipeline.core.task import MAX_INTEGER_CLASSES, infer_classification, resolve_task
from pipeline.features.categories import capped_width, indicated
from pipeline.model.card import ensemble_text
from pipeline.model.feature_layout import FeatureLayout, embedding_size, embedding_spec
from pipeline.model.sizing import (
    features_width,
    mlp_parameter_count,
    output_width,
)

TARGET_VALUES_KEPT = 1000
# Categories counted per one-hot feature; past this the model's width is a lower bound (and the
# column an identifier to drop, most likely), so memory stays bounded.
CATEGORIES_COUNTED = 100_000
assert TARGET_VALUES_KEPT > MAX_INTEGER_CLASSES  # past it, `auto` reads numbers as regression


class TableFacts:
    """Counts over the clean batches: `add(batch)` for each."""

    def __init__(
        self,
        params: Params,
        schema: TableSchema,
        prototype: pd.DataFrame,
        dates: dict[str, list[str]] | None = None,
    ) -> None:
        """`prototype`: a clean batch (any rows), for the columns and their types; `dates`:
        date column -> its parts (`RolePlan.dates`), whose features share one indicator."""
        self.target = params.data.target
        self.rows = 0
        self.has_target = self.target in prototype
        self._target_dtype = prototype[self.target].dtype if self.has_target else None
        self._cap = (
            TARGET_VALUES_KEPT
            if self.has_target
            and is_numeric(prototype[self.target])
            and params.data.task in ("auto", "regression")
            else None
        )
        self.target_counts: dict[Any, int] = {}
        self.capped = False
        rules = schema.encode
        default = params.encode.method
        group = params.split.group
        self._max_categories = params.encode.max_categories
        self._min_frequency = params.encode.min_frequency
        self._train_share = params.split.shares()["train"]
        self.one_hot: dict[str, dict[str, int]] = {}  # category -> rows
        self.features: dict[str, None] = {}
        self.numeric: list[str] = []
        # categories of ordinal-coded columns, counted only for categorical embeddings
        self.ordinal: dict[str, dict[str, int]] = {}
        self._count_ordinal = params.model.categorical == "embedding"
        self._orders = {c: len(r.order) for c, r in rules.items() if r.order is not None}
        for column in prototype.columns:
            if column == self.target or column == group:
                continue
            method = rules[column].method if column in rules else default
            if is_numeric(prototype[column]):
                self.features[column] = None
                self.numeric.append(column)
            elif method == "ordinal":
                self.features[column] = None
                self.ordinal[column] = {}
            else:
                self.one_hot[column] = {}
        self.with_nulls: set[str] = set()  # feature columns holding a null
        self._dates = date_columns(dates or {})

    def add(self, df: pd.DataFrame) -> None:
        self.rows += len(df)
        if self.has_target and not self.capped:
            for value, count in df[self.target].value_counts(dropna=True).items():
                self.target_counts[value] = self.target_counts.get(value, 0) + int(count)
            if self._cap is not None and len(self.target_counts) > self._cap:
                self.capped = True
                kept = list(self.target_counts)[: self._cap + 1]
                self.target_counts = dict.fromkeys(kept, 0)
        features = [*self.features, *self.one_hot]
        self.with_nulls.update(c for c, null in df[features].isna().any().items() if null)
        counted = [*self.one_hot.items(), *(self.ordinal.items() if self._count_ordinal else ())]
        for column, seen in counted:
            if len(seen) <= CATEGORIES_COUNTED:
                for value, count in df[column].dropna().astype(str).value_counts().items():
                    seen[value] = seen.get(value, 0) + int(count)
                if len(seen) > CATEGORIES_COUNTED + 1:  # "more than" it, for any batch size
                    for value in list(seen)[CATEGORIES_COUNTED + 1 :]:
                        del seen[value]

    @property
    def uncounted(self) -> list[str]:
        """One-hot features with more categories than CATEGORIES_COUNTED."""
        return [c for c, seen in self.one_hot.items() if len(seen) > CATEGORIES_COUNTED]

    def target_values(self) -> pd.Series:
        """Each distinct target value once (all of them, or TARGET_VALUES_KEPT + 1 when
        capped): what `resolve_task` needs to decide the task as on the whole column."""
        return pd.Series(list(self.target_counts), dtype=self._target_dtype, name=self.target)

    def class_counts(self) -> pd.Series:
        counts = pd.Series(self.target_counts, dtype="int64")
        counts.index = pd.Series(list(self.target_counts), dtype=self._target_dtype).astype(str)
        return counts.groupby(level=0).sum().sort_index()

    def codes(self, column: str, seen: dict[str, int]) -> int:
        """Codes (one-hot inputs) the column will get: a declared order's, else the categories
        kept by the cap on the rows expected in train, plus "other" when any is folded."""
        if column in self._orders:
            return self._orders[column]
        if len(seen) > CATEGORIES_COUNTED:
            return len(seen) if self._max_categories is None else self._max_categories + 1
        expected = {value: count * self._train_share for value, count in seen.items()}
        return capped_width(expected, self._max_categories, self._min_frequency)

    def capped_columns(self) -> dict[str, list[int]]:
        """Columns the category cap shrinks: [categories in the table, codes] (categories
        CATEGORIES_COUNTED + 1: more than CATEGORIES_COUNTED)."""
        counted = {**self.one_hot, **(self.ordinal if self._count_ordinal else {})}
        widths = {c: [len(seen), self.codes(c, seen)] for c, seen in counted.items()}
        return {c: w for c, w in widths.items() if c not in self._orders and w[1] < w[0]}

    def indicators(self) -> list[str]:
        """The columns that get a missing-value indicator under clean.missing: impute (nulls
        left in the clean table): each feature column holding a null, a date's features as
        their date column."""
        return sorted(indicated(self.with_nulls, self._dates))

    def encoded_width(self) -> int:
        """Inputs `encode` gives the table, indicators included."""
        categories = {**self.features}
        for column, seen in self.one_hot.items():
            categories[column] = self.codes(column, seen)
        return features_width(categories) + len(self.indicators())

    def layout(self) -> FeatureLayout:
        """What the model's embeddings would apply to: numeric features and ordinal codes with
        their categories (a declared order, else those in the table, capped). One-hot columns
        are left out: their conflict with model.categorical: embedding is train's to reject."""
        n = len(self.numeric)
        cards = [self.codes(c, seen) for c, seen in self.ordinal.items()]
        return FeatureLayout(list(range(n)), [(n + i, c) for i, c in enumerate(cards)], [])


def class_floor(split: SplitParams) -> tuple[int, str]:
    """Fewest rows a class needs: 2 to stratify, enough that the smallest split share still gets
    one row of it, and with k-fold splitting one row in each of the k folds."""
    name, share = min(split.shares().items(), key=lambda item: item[1])
    for_split = math.ceil(1 / share - 1e-9)
    floor, why = max(2, for_split), f"2 to stratify; {for_split} for one row in {name} ({share:g})"
    if split.scheme == "kfold":
        folds = split.folds
        floor, why = max(floor, folds), f"{why}; {folds} for one row in each fold"
    return floor, why


def training_rows(rows: int, split: SplitParams) -> int:
    """Rows the model trains on after `split` (its stratified counts are within a row of this)."""
    return round(rows * split.shares()["train"])


def _rule(
    rule: str, column: str | None, passed: bool, observed: Any, severity: str = "fail"
) -> dict[str, Any]:
    return {
        "rule": rule,
        "column": column,
        "severity": severity,
        "passed": bool(passed),
        "observed": observed,
        "unexpected_count": 0,
        "examples": [],
    }


def size_rules(facts: TableFacts, params: Params) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(the rules, the facts for the report: task, class counts, model size)."""
    v, target = params.validate_, params.data.target
    rows = facts.rows
    rules = [
        _rule(
            f"rows >= validate.min_rows ({v.min_rows})",
            None,
            rows >= v.min_rows,
            rows,
            v.min_rows_severity,
        )
    ]
    summary: dict[str, Any] = {}
    classification = None
    if facts.has_target and rows:
        requested = params.data.task
        classification = requested in ("binary", "multiclass") or (
            requested == "auto" and infer_classification(facts.target_values())[0]
        )
    if classification:
        classes = len(facts.target_counts)
        rules.append(_rule("classes >= 2", target, classes >= 2, classes))
    if not rows and v.min_rows_severity == "warn":
        rules.append(_rule("rows >= 1", None, False, "no rows left after cleaning"))
    if classification is None or (classification and not rules[-1]["passed"]):
        return rules, summary

    try:
        task, reason = resolve_task(params.data.task, facts.target_values())
    except PipelineError as exc:
        name = "numeric target (regression)" if not classification else "task matches target"
        rules.append(_rule(name, target, False, str(exc)))
        return rules, summary
    summary.update(task=task, task_reason=reason)
    if task == "regression":
        rules.append(constant_target_rule(target, facts.target_counts, rows, facts.capped))

    n_classes = 0
    if task != "regression":
        counts = facts.class_counts()
        n_classes = len(counts)
        summary["class_counts"] = {k: int(c) for k, c in counts.items()}
        summary["class_shares"] = {k: round(c / rows, 4) for k, c in counts.items()}
        floor, why = class_floor(params.split)
        for minimum, name, severity in (
            (floor, f"rows per class >= {floor} (what the split needs: {why})", "fail"),
            (
                v.min_rows_per_class,
                f"rows per class >= validate.min_rows_per_class ({v.min_rows_per_class})",
                v.min_rows_per_class_severity,
            ),
        ):
            small = {k: int(c) for k, c in counts.items() if c < minimum}
            observed = {"below": small} if small else {"smallest": int(counts.min())}
            rule = _rule(name, target, not small, observed, severity)
            rules.append({**rule, "unexpected_count": len(small)})
        smallest = counts.idxmin()
        share = counts[smallest] / rows
        hint = (
            "; consider the oversampling option of `split` (train rows only) or more data"
            if share < v.min_class_share
            else ""
        )
        rules.append(
            _rule(
                f"smallest class share >= validate.min_class_share ({v.min_class_share:g})",
                target,
                share >= v.min_class_share,
                f"{smallest!r} is {share:.1%} of {rows} rows{hint}",
                "warn",
            )
        )

    width = facts.encoded_width()
    outputs = output_width(task, n_classes)
    hidden = list(params.model.hidden)
    m = params.model
    train_rows = training_rows(rows, params.split)
    embeddings = embedding_spec(m, replace(facts.layout(), train_rows=train_rows))
    parameters = mlp_parameter_count(
        width,
        hidden,
        outputs,
        m.normalization,
        m.ensemble,
        m.ensemble_kind,
        embeddings,
    )
    summary["model_size"] = {
        "encoded_features": width,
        "outputs": outputs,
        "hidden": hidden,
        "parameters": parameters,
        "training_rows": train_rows,
    }
    if facts.capped_columns():
        summary["model_size"]["capped"] = facts.capped_columns()
    if facts.with_nulls:
        summary["model_size"]["missing_indicators"] = facts.indicators()
    in_embeddings = embedding_size(width, embeddings)[1]
    if embeddings:
        summary["model_size"]["embedding_parameters"] = in_embeddings
    if v.rows_per_parameter > 0:
        needed = math.ceil(v.rows_per_parameter * parameters)
        rules.append(
            _rule(
                f"training rows >= {v.rows_per_parameter:g} x model parameters "
                f"(validate.rows_per_parameter)",
                None,
                train_rows >= needed,
                f"{train_rows} training rows ({params.split.shares()['train']:.3g} of {rows}) "
                f"for {parameters} parameters of a {width}-{'-'.join(map(str, hidden))}"
                f"{'-' if hidden else ''}{outputs} MLP"
                f"{ensemble_text(m.ensemble, m.ensemble_kind)}"
                + (f" ({in_embeddings} of them in the input embeddings)" if embeddings else "")
                + f": {train_rows / parameters:.2f} per parameter; {needed} wanted. "
                f"More data, or a smaller {' or '.join(_size_keys(m, embeddings))}"
                + (
                    f" (at least: {facts.uncounted} have more than {CATEGORIES_COUNTED} "
                    f"categories; drop identifiers in the schema file)"
                    if facts.uncounted and params.encode.max_categories is None
                    else ""
                ),
                v.rows_per_parameter_severity,
            )
        )
    return rules, summary


def size_notes(size: dict[str, Any]) -> list[str]:
    """validation.md's sentences on the inputs the table's categories and nulls make."""
    notes = []
    if size.get("capped"):
        shown = ", ".join(
            f"`{c}` {n if n <= CATEGORIES_COUNTED else f'more than {CATEGORIES_COUNTED}'} "
            f"categories -> {k}"
            for c, (n, k) in size["capped"].items()
        )
        notes.append(
            f"Categories capped (encode.max_categories, encode.min_frequency; as expected in "
            f"the train rows, where fit_scaler fits the cap): {shown}; the rest share one "
            f'"other" code.'
        )
    if size.get("missing_indicators"):
        notes.append(
            f"Missing-value inputs (clean.missing: impute): one 0/1 `<column>__missing` input "
            f"each for {', '.join(f'`{c}`' for c in size['missing_indicators'])}."
        )
    return notes


def _size_keys(m: ModelParams, embeddings: dict[str, Any] | None) -> list[str]:
    """The params keys that shrink the configured model."""
    keys = ["model.hidden"]
    if m.ensemble > 1:
        keys.append("model.ensemble")
    if embeddings and "numeric" in embeddings:
        keys.append("model.num_embedding_dim (or model.num_embeddings: none)")
    if embeddings and "categorical" in embeddings:
        keys.append("model.categorical_max_dim")
    return keys
