"""The preprocessing core: impute → scale → encode categories → encode the target, as one object.

`Preprocessor` follows scikit-learn's shape: constructor arguments are the settings; `fit` learns
from train rows only and sets trailing-underscore attributes; `transform` applies them to any
frame, one batch at a time; `to_json` / `from_json` save and rebuild it (readable JSON, no
pickle). The fit_scaler stage fits it, encode, cv and predict apply it.

Fitting reads the train rows in batches (`fit(batches)` takes a function `columns -> frames`):
one pass gathers the statistics (`pipeline.features.statistics`), then the scaler's centers,
scales or quantiles are fitted (`pipeline.features.scaling`), then the categories, capped
(`pipeline.features.categories`). Imputed values take part in the scaler's statistics, as in
scikit-learn's Pipeline(SimpleImputer, scaler). Nothing fitted depends on the batch size.

clean.missing: impute fills a null with the train rows' median (numbers) or most frequent value
(categories) and, for each column with a null in train rows, adds a 0/1 input
`<column>__missing` (1 where the value was null; a plain input, never embedded) after every
other feature, so the model can tell a filled value from a real one (scikit-learn's
SimpleImputer(add_indicator=True)); the features of one date column share one indicator,
`<date column>__missing` (`pipeline.features.categories`; the fill values:
`pipeline.features.imputation`). One rule for both kinds: a category column's null is not a
level of its own, so an ordinal code or a declared order needs no code for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.core.errors import PipelineError
from pipeline.core.schema import EncodeRule
from pipeline.core.tables import LABEL, Batches, fixed_chunks, frame_batches
from pipeline.features.categories import fit_cap, indicated, indicator_names, text_counts
from pipeline.features.imputation import fit_fill
from pipeline.features.scaling import (
    FLOAT32_MAX,
    clip_values,
    fit_center_scale,
    fit_quantiles,
    quantile_normal,
)
from pipeline.features.statistics import CHUNK_ROWS, TrainStats, as_text

UNSEEN_CODE = -1.0  # ordinal code of a category not seen in train rows


def _codes(values: pd.Series, known: list[str]) -> np.ndarray:
    """Position of each text value in `known`, -1 where absent (a hash lookup in Arrow)."""
    found = pc.index_in(
        pa.array(values, type=pa.large_string()), value_set=pa.array(known, type=pa.large_string())
    )
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclass
class Encoded:
    """One transformed batch: the features (+ LABEL), nulls filled and unseen categories, per
    column."""

    table: pd.DataFrame
    imputed: dict[str, int] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)


def add_counts(total: dict[str, int], more: Mapping[str, int]) -> None:
    for key, count in more.items():
        total[key] = total.get(key, 0) + count


class Preprocessor:
    """Impute (clean.missing as validate resolved it: drop or impute), scale numeric columns
    (scale.method), encode categorical ones (encode.method, per-column schema rules, capped by
    max_categories and min_frequency; None and 1: no cap), encode the target; fitted on train
    rows only. `dates`: date column -> its feature columns (validate's, from
    models/preprocess/cleaning.json): they share one missing-value indicator."""

    def __init__(
        self,
        target: str,
        task: str,
        missing: str = "drop",
        scale: str = "standard",
        encode: str = "onehot",
        unknown: str = "ignore",
        scale_target: bool = False,
        rules: Mapping[str, EncodeRule] | None = None,
        quantiles: int = 1000,
        sample_rows: int = 100_000,
        clip: float | None = None,
        clip_mode: str = "smooth",
        seed: int = 0,
        max_categories: int | None = None,
        min_frequency: int = 1,
        dates: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.target = target
        self.task = task
        self.missing = missing
        self.scale = scale
        self.encode = encode
        self.unknown = unknown
        self.scale_target = scale_target
        self.rules = dict(rules or {})
        self.quantiles = quantiles
        self.sample_rows = sample_rows
        self.clip = clip
        self.clip_mode = clip_mode
        self.seed = seed
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.dates = {c: list(f) for c, f in (dates or {}).items()}

    @classmethod
    def from_params(
        cls,
        params: Any,
        task: str,
        rules: Mapping[str, EncodeRule],
        missing: str,
        dates: Mapping[str, list[str]] | None = None,
    ) -> Self:
        """Settings from the pipeline's params (scale, encode, seed), the schema's rules, and
        clean.missing and the date features as validate resolved them
        (models/preprocess/cleaning.json, `pipeline.core.io.fit_inputs`)."""
        return cls(
            params.data.target,
            task,
            missing=missing,
            scale=params.scale.method,
            encode=params.encode.method,
            unknown=params.encode.unknown,
            scale_target=params.encode.scale_target,
            rules=rules,
            quantiles=params.scale.quantiles,
            sample_rows=params.scale.sample_rows,
            clip=params.scale.clip,
            clip_mode=params.scale.clip_mode,
            seed=params.seed,
            max_categories=params.encode.max_categories,
            min_frequency=params.encode.min_frequency,
            dates=dates,
        )

    # ---- fit ---------------------------------------------------------------------------

    def fit(self, batches: Batches) -> Self:
        """Learn every statistic from the train rows that `batches` yields (see module doc)."""
        if self.missing not in ("drop", "impute"):
            raise PipelineError(
                f"fit_scaler: clean.missing {self.missing!r} reached the preprocessing; validate "
                f"resolves it to drop or impute (models/preprocess/cleaning.json): rerun validate"
            )
        stats: TrainStats | None = None
        for chunk in fixed_chunks(batches(None), CHUNK_ROWS):
            if stats is None:
                stats = TrainStats.for_columns(chunk, self.target, self.task)
                self._check_rules(stats.categorical)
            stats.update(chunk)
        if stats is None:
            raise PipelineError("fit_scaler: the train split has no rows")
        impute = self.missing == "impute"
        nulls = stats.null_columns() if impute else []
        fill = fit_fill(batches, stats, self.dates) if impute else {}
        self.columns_ = stats.columns
        self.numeric_ = stats.numeric
        self.fill_ = fill
        self.center_, self.scale_ = fit_center_scale(self.scale, self.clip, batches, stats, fill)
        self.quantiles_ = (
            fit_quantiles(
                self.numeric_,
                batches,
                stats.rows,
                fill,
                self.quantiles,
                self.sample_rows,
                self.seed,
            )
            if self.scale == "quantile"
            else None
        )
        self._fit_categories(stats.counts)
        self.indicated_ = indicated(nulls, self.dates)
        self.indicators_ = indicator_names(
            list(self.indicated_), {*self.columns_, *self.features_, LABEL}
        )
        self.features_ += list(self.indicators_.values())
        self.classes_ = None if self.task == "regression" else sorted(map(str, stats.classes))
        self.target_scaling_ = None
        if self.task == "regression" and self.scale_target:
            std = float(np.sqrt(stats.target.var[0]))
            self.target_scaling_ = {
                "center": float(stats.target.mean[0]),
                "scale": std if std > 0 else 1.0,
            }
        self.n_rows_ = stats.rows
        return self

    def fit_frame(self, df: pd.DataFrame) -> Self:
        """Fit on one in-memory frame of train rows."""
        return self.fit(frame_batches(df))

    def _check_rules(self, categorical: list[str]) -> None:
        stray = [c for c in self.rules if c not in categorical]
        if stray:
            raise PipelineError(
                f"schema encode: {stray} are not categorical feature columns of the table "
                f"(categorical: {categorical}; a numeric column needs type: categorical in the "
                f"schema's columns to be encoded as categories)"
            )

    def _fit_categories(self, counts: dict[str, dict[Any, int]]) -> None:
        categories: dict[str, list[str]] = {}
        encoding: dict[str, str] = {}
        other: dict[str, dict[str, Any]] = {}
        for column, seen_counts in counts.items():
            text = text_counts(seen_counts)
            seen = sorted(text)
            rule = self.rules.get(column)
            encoding[column] = rule.method if rule else self.encode
            if rule is not None and rule.order is not None:
                order = [str(v) for v in rule.order]
                missing = [v for v in seen if v not in order]
                if missing:
                    raise PipelineError(
                        f"schema encode.{column}.order: train rows hold {missing}, which the "
                        f"declared order {order} lacks; add them to the order"
                    )
                categories[column] = order
                continue
            categories[column], rare = fit_cap(text, self.max_categories, self.min_frequency)
            if rare:
                other[column] = rare
        features: list[str] = []
        for column in self.columns_:
            if column in self.numeric_ or encoding.get(column) == "ordinal":
                features.append(column)
            elif column in categories:
                features += [f"{column}={cat}" for cat in categories[column]]
        self.categories_ = categories
        self.other_ = other
        self.encoding_ = encoding
        self.features_ = features

    # ---- transform ---------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise RuntimeError("Preprocessor is not fitted: call fit() or from_json() first")

    def impute(self, df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """Copy of `df` with nulls filled from the train rows, and how many per column."""
        self._check_fitted()
        counts = {c: int(df[c].isna().sum()) for c in self.fill_ if c in df.columns}
        counts = {c: n for c, n in counts.items() if n}
        if not counts:
            return df, {}
        out = df.copy()
        for column in counts:
            out[column] = out[column].fillna(self.fill_[column])
        return out, counts

    def transform(self, df: pd.DataFrame, split: str = "input", target: bool = True) -> Encoded:
        """Impute, check nulls, scale and encode one batch: float32 features in `features_`
        order, plus LABEL when `target` (the encoded target)."""
        self._check_fitted()
        was_null = {c: df[cs].isna().any(axis=1).to_numpy() for c, cs in self.indicated_.items()}
        df, imputed = self.impute(df)
        categorical = list(self.categories_)
        check_no_nulls(
            df, [*self.numeric_, *categorical, *([self.target] if target else [])], split
        )
        n = len(df)
        slot = {name: i for i, name in enumerate(self.features_)}
        # column-major: each feature column is contiguous, so Arrow takes it without a copy
        matrix = np.zeros((n, len(self.features_)), dtype=np.float32, order="F")
        if self.numeric_:
            x = df[self.numeric_].to_numpy(dtype=np.float64)
            matrix[:, [slot[c] for c in self.numeric_]] = self.scale_numeric(x)
        unseen: dict[str, int] = {}
        for column in categorical:
            known = self.categories_[column]
            values = as_text(df[column])
            other = self.other_.get(column)
            codes = _codes(values, known[:-1] if other else known)
            if other:  # categories rare in train rows take the last code
                codes[(codes < 0) & (_codes(values, other["members"]) >= 0)] = len(known) - 1
            if (codes < 0).any():
                unseen[column] = int((codes < 0).sum())
                if self.unknown == "error":
                    examples = values[codes < 0].head(3).to_dict()
                    raise PipelineError(
                        f"encode: column {column!r} has categories not seen in train rows "
                        f"({split} split, {unseen[column]} row(s); row: value {examples}); "
                        f"known: {known}. Set encode.unknown: ignore to encode them as "
                        f"all-zero one-hot rows (ordinal: code {UNSEEN_CODE:g})"
                    )
            if self.encoding_[column] == "ordinal":
                matrix[:, slot[column]] = np.where(codes < 0, UNSEEN_CODE, codes)
            elif known:
                rows = np.flatnonzero(codes >= 0)
                matrix[rows, slot[f"{column}={known[0]}"] + codes[rows]] = 1.0
        for column, name in self.indicators_.items():
            matrix[:, slot[name]] = was_null[column]
        table = pd.DataFrame(matrix, index=df.index, columns=self.features_, copy=False)
        if target:
            table[LABEL] = self.transform_target(df[self.target], split)
        return Encoded(table, imputed, unseen)

    def scale_numeric(self, x: np.ndarray) -> np.ndarray:
        """Numeric columns (rows by `numeric_`, float64, no nulls) -> scaled, then clipped."""
        if self.quantiles_ is None:
            scaled = (x - np.asarray(self.center_)) / np.asarray(self.scale_)
        else:
            scaled = np.empty_like(x)
            for i, quantiles in enumerate(self.quantiles_):
                scaled[:, i] = quantile_normal(x[:, i], np.asarray(quantiles))
        if self.clip is not None:
            scaled = clip_values(scaled, self.clip, self.clip_mode)
        return np.clip(scaled, -FLOAT32_MAX, FLOAT32_MAX, out=scaled)

    def transform_target(self, y: pd.Series, split: str) -> np.ndarray:
        """Class index, or the (standardized) regression value as float64 so it inverts exactly."""
        self._check_fitted()
        if self.classes_ is None:
            values = y.to_numpy(dtype=np.float64)
            s = self.target_scaling_
            return values if s is None else (values - s["center"]) / s["scale"]
        codes = _codes(as_text(y), self.classes_)
        if (codes < 0).any():
            bad = y[codes < 0]
            raise PipelineError(
                f"encode: target {y.name!r} in the {split} split has classes absent from train "
                f"rows: {sorted(bad.astype(str).unique())} (e.g. row {bad.index[0]}); "
                f"use split.stratify: true or more data"
            )
        return codes.astype(np.int64)

    # ---- JSON --------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The fitted state as plain JSON values (task, target, features, classes and
        target_scaling are the keys the model card copies)."""
        self._check_fitted()
        scaler: dict[str, Any] = {
            "method": self.scale,
            "columns": self.numeric_,
            "center": self.center_,
            "scale": self.scale_,
        }
        if self.quantiles_ is not None:  # keys only when used: the default JSON is unchanged
            scaler["quantiles"] = self.quantiles_
        if self.clip is not None:
            scaler["clip"], scaler["clip_mode"] = self.clip, self.clip_mode
        return {
            "task": self.task,
            "target": self.target,
            "columns": self.columns_,
            "fitted_rows": self.n_rows_,
            "missing": self.missing,
            "imputer": self.fill_,
            "scaler": scaler,
            "categorical": self.categories_,
            "encoding": self.encoding_,
            "unknown": self.unknown,
            "features": self.features_,
            "classes": self.classes_,
            "target_scaling": self.target_scaling_,
            # keys only when used: the JSON of a table without them is unchanged
            **({"other": self.other_} if self.other_ else {}),
            **({"indicators": self.indicators_} if self.indicators_ else {}),
            **({"indicated": dated} if (dated := self._dated()) else {}),
        }

    def _dated(self) -> dict[str, list[str]]:
        """The indicators that cover more than their own column (a date's features)."""
        return {c: cs for c, cs in self.indicated_.items() if cs != [c]}

    @classmethod
    def from_json(cls, saved: Mapping[str, Any]) -> Self:
        """Rebuild a fitted Preprocessor from `to_json()`'s output."""
        scaler = saved["scaler"]
        pre = cls(
            saved["target"],
            saved["task"],
            missing=saved["missing"],
            scale=scaler["method"],
            unknown=saved["unknown"],
            scale_target=saved["target_scaling"] is not None,
            clip=scaler.get("clip"),
            clip_mode=scaler.get("clip_mode", "smooth"),
        )
        pre.columns_ = list(saved["columns"])
        pre.n_rows_ = int(saved["fitted_rows"])
        pre.fill_ = dict(saved["imputer"])
        pre.numeric_ = list(scaler["columns"])
        pre.center_ = list(scaler["center"])
        pre.scale_ = list(scaler["scale"])
        quantiles = scaler.get("quantiles")
        pre.quantiles_ = None if quantiles is None else [list(q) for q in quantiles]
        pre.categories_ = {c: list(v) for c, v in saved["categorical"].items()}
        pre.other_ = {c: dict(o) for c, o in saved.get("other", {}).items()}
        pre.indicators_ = dict(saved.get("indicators", {}))
        dated = saved.get("indicated", {})
        pre.indicated_ = {c: list(dated.get(c, [c])) for c in pre.indicators_}
        pre.encoding_ = dict(saved["encoding"])
        pre.features_ = list(saved["features"])
        pre.classes_ = None if saved["classes"] is None else list(saved["classes"])
        pre.target_scaling_ = saved["target_scaling"]
        return pre


def check_no_nulls(df: pd.DataFrame, columns: list[str], split: str) -> None:
    """Nulls left after imputation (clean.missing: drop should have removed them) stop here."""
    nulls = df[columns].isna().sum()
    nulls = nulls[nulls > 0]
    if len(nulls):
        column = nulls.index[0]
        row = df.index[df[column].isna().to_numpy()][0]
        raise PipelineError(
            f"encode: the {split} split has nulls in {nulls.to_dict()} (e.g. column {column!r}, "
            f"row {row}); set clean.missing: impute, or drop those rows in validate"
        )


def target_scale(saved: Mapping[str, Any]) -> float:
    """Factor from standardized regression errors back to the target's units (1 if unscaled);
    `saved` is the preprocessor's JSON or the model card."""
    scaling = saved.get("target_scaling")
    return scaling["scale"] if scaling else 1.0


def decode_values(values: np.ndarray, saved: Mapping[str, Any]) -> np.ndarray:
    """Regression values back in the target's original units."""
    scaling = saved.get("target_scaling")
    return values if scaling is None else values * scaling["scale"] + scaling["center"]
