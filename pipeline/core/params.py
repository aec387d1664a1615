"""Typed params: one pydantic model per params.yaml section, validated strictly.

Unknown keys are rejected (DVC's `-S +key=v` and hand edits add keys freely); a quoted '5' is
not an int; every value has a type, a range and, where the type does not say them, its allowed
values. `pipeline.core.config` reads params.yaml into these.
"""

from __future__ import annotations

import math
import posixpath
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

Task = Literal["auto", "binary", "multiclass", "regression"]
Fraction = Annotated[float, Field(gt=0, lt=1)]


def _inside_project(value: str) -> str:
    """A relative path must not climb out of the project; an absolute one is taken as meant."""
    if value.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", value):
        return value
    normal = posixpath.normpath(value.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        raise ValueError(
            "a relative path must stay inside the project folder; "
            "give an absolute path to read a file elsewhere"
        )
    return value


# A file path from params: relative to the project root and kept inside it, or absolute.
ProjectPath = Annotated[str, Field(min_length=1), AfterValidator(_inside_project)]


class Section(BaseModel):
    """Base for every params section: no unknown keys, no silent coercion (strict: a quoted
    '5' is not an int, true is not 1, 1 is not true; an int is accepted where a float is;
    no inf or nan)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class CsvParams(Section):
    """How a CSV is split into fields (`pipeline.checks.dialect`): auto detects from its head."""

    delimiter: Literal["auto", ",", ";", "\t", "|"] = "auto"
    decimal: Literal["auto", ".", ","] = "auto"


class DataParams(Section):
    path: ProjectPath = "data/raw/penguins.csv"
    target: str = "species"
    task: Task = "auto"
    # Rows per batch when stages stream a table: memory is set by this, not by the table's size.
    batch_rows: Annotated[int, Field(ge=1)] = 262_144
    csv: CsvParams = CsvParams()


Severity = Literal["fail", "warn"]


class CleanParams(Section):
    # auto: drop the rows holding a null when they are at most max_drop_share of the rows with
    # a target, else impute; validate resolves it (models/preprocess/cleaning.json)
    missing: Literal["auto", "drop", "impute"] = "auto"
    max_drop_share: Annotated[float, Field(ge=0, le=1)] = 0.05
    duplicates: Literal["keep", "drop"] = "keep"
    dates: Literal["features", "drop"] = "features"


class ValidateParams(Section):
    min_rows: Annotated[int, Field(ge=1)] = 30
    min_rows_severity: Severity = "fail"
    min_rows_per_class: Annotated[int, Field(ge=1)] = 10
    min_rows_per_class_severity: Severity = "fail"
    rows_per_parameter: Annotated[float, Field(ge=0)] = 10.0
    rows_per_parameter_severity: Severity = "warn"
    min_class_share: Annotated[float, Field(ge=0, lt=1)] = 0.1
    # Largest |value| of a numeric column (features and target); see pipeline/checks/value_rules.py
    # (at most 1e100: beyond, fit_scaler's float64 variances overflow)
    max_abs: Annotated[float, Field(gt=0, le=1e100)] = 1e15


class SplitParams(Section):
    scheme: Literal["train_val_test", "train_test", "kfold"] = "train_val_test"
    train: Fraction = 0.8
    val: Fraction = 0.1
    test: Fraction = 0.1
    folds: Annotated[int, Field(ge=2)] = 5
    fold: Annotated[int, Field(ge=0)] = 0
    stratify: bool = True
    group: Annotated[str, Field(min_length=1)] | None = None
    oversample: Literal["none", "random"] = "none"
    duplicates: Literal["warn", "fail"] = "warn"
    shift_alpha: Annotated[float, Field(gt=0, lt=1)] = 0.01

    @model_validator(mode="after")
    def _fractions_fit_the_scheme(self) -> SplitParams:
        if self.scheme == "train_val_test":
            total = self.train + self.val + self.test
            if abs(total - 1.0) > 1e-6:
                raise ValueError(
                    f"split.train + split.val + split.test must sum to 1 for split.scheme "
                    f"train_val_test, got {total:g} ({self.train:g} + {self.val:g} + {self.test:g})"
                )
        elif self.scheme == "train_test":
            total = self.train + self.test
            if abs(total - 1.0) > 1e-6:
                raise ValueError(
                    f"split.train + split.test must sum to 1 for split.scheme train_test "
                    f"(split.val is then the share of train rows kept for early stopping), "
                    f"got {total:g} ({self.train:g} + {self.test:g})"
                )
        if self.fold >= self.folds:
            raise ValueError(
                f"split.fold must be below split.folds (folds are numbered "
                f"0..{self.folds - 1}), got split.fold {self.fold}"
            )
        return self

    def shares(self) -> dict[str, float]:
        """Share of all rows in each of train/val/test (kfold: of the k folds, one is val)."""
        if self.scheme == "train_test":
            return {
                "train": self.train * (1 - self.val),
                "val": self.train * self.val,
                "test": self.test,
            }
        if self.scheme == "kfold":
            rest = 1 - self.test
            return {
                "train": rest * (self.folds - 1) / self.folds,
                "val": rest / self.folds,
                "test": self.test,
            }
        return {"train": self.train, "val": self.val, "test": self.test}


# A number > 0, or null to switch the option off (scale.clip, train.clip_grad_norm).
PositiveOrOff = Annotated[
    Annotated[float, Field(gt=0)] | None, Field(description="a number > 0, or null (off)")
]


class ScaleParams(Section):
    method: Literal["standard", "minmax", "robust", "quantile", "none"] = "standard"
    # quantile: quantiles stored per column (capped by the sampled rows), fitted exactly on a
    # seeded sample of at most sample_rows train rows (pipeline/features/scaling.py).
    quantiles: Annotated[int, Field(ge=2)] = 1000
    sample_rows: Annotated[int, Field(ge=2)] = 100_000
    clip: PositiveOrOff = None
    clip_mode: Literal["smooth", "hard"] = "smooth"


class EncodeParams(Section):
    method: Literal["onehot", "ordinal"] = "onehot"
    unknown: Literal["ignore", "error"] = "ignore"
    scale_target: bool = True
    # categories kept per column (the most frequent in train rows); the rest share one "other"
    max_categories: Annotated[int, Field(ge=1)] | None = 100
    min_frequency: Annotated[int, Field(ge=1)] = 5  # train rows a category needs to keep its own


class ModelParams(Section):
    hidden: list[Annotated[int, Field(ge=1)]] = [128, 128]
    activation: Literal["relu", "leaky_relu", "gelu", "tanh", "sigmoid"] = "relu"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    normalization: Literal["none", "batch", "layer"] = "none"
    ensemble: Annotated[int, Field(ge=1)] = 4
    ensemble_kind: Literal["mini", "batch"] = "mini"
    # Numeric feature embeddings (Gorishniy et al. 2022; pipeline/model/embeddings.py): periodic =
    # P-L, plr = P-L-ReLU, auto = plr from embedding_min_rows training rows up, none below;
    # 48 frequencies as the authors' package rtdl_num_embeddings; plr, frequency scale 0.3 and
    # width 16 chosen on the quality suite (benchmarks/RESULTS.md).
    num_embeddings: Literal["auto", "none", "periodic", "plr"] = "auto"
    embedding_min_rows: Annotated[int, Field(ge=0)] = 1000
    num_embedding_dim: Annotated[int, Field(ge=1)] = 16
    frequencies: Annotated[int, Field(ge=1)] = 48
    frequency_scale: Annotated[float, Field(gt=0)] = 0.3
    num_embedding_lite: bool = False
    categorical: Literal["onehot", "embedding"] = "onehot"
    categorical_max_dim: Annotated[int, Field(ge=1)] = 32

    @model_validator(mode="after")
    def _lite_needs_plr(self) -> ModelParams:
        if self.num_embedding_lite and self.num_embeddings not in ("plr", "auto"):
            raise ValueError(
                f"model.num_embedding_lite: true needs model.num_embeddings: plr or auto (one "
                f"linear shared by all features, then ReLU), got {self.num_embeddings!r}"
            )
        return self


class SchedulerParams(Section):
    name: Literal["none", "step", "exponential", "cosine", "plateau"] = "none"
    step_size: Annotated[int, Field(ge=1)] = 30
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.5
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.5
    patience: Annotated[int, Field(ge=0)] = 5
    min_lr: Annotated[float, Field(ge=0)] = 0.0


# The scheduler keys each train.scheduler.name reads (a key set for another is warned about).
SCHEDULER_KEYS = {
    "none": {"name"},
    "step": {"name", "step_size", "gamma"},
    "exponential": {"name", "gamma"},
    "cosine": {"name", "min_lr"},
    "plateau": {"name", "factor", "patience", "min_lr"},
}

Monitor = Literal["val_loss", "val_accuracy", "val_rmse", "val_mae"]


# train.batch_size: auto. 256 rows a step (the suite's choice) until an epoch would take more
# than 256 steps (65,536 train rows); past that the batch doubles with the rows, so a 300k-row
# table takes 256-step epochs of 1,024 rows instead of 1,200 steps of 256 (about twice the rows
# a second on 2 CPU cores: benchmarks/RESULTS.md, "train throughput").
AUTO_BATCH = 256
AUTO_STEPS = 256
AUTO_BATCH_MAX = 8192


class TrainParams(Section):
    epochs: Annotated[int, Field(ge=1)] = 200
    batch_size: Annotated[
        Annotated[int, Field(ge=1)] | Literal["auto", "full"],
        Field(description="an integer >= 1, auto (grows with the train rows), or full"),
    ] = "auto"
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = "adamw"
    lr: Annotated[float, Field(gt=0)] = 0.001
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 0.0001
    l1: Annotated[float, Field(ge=0)] = 0.0
    clip_grad_norm: PositiveOrOff = None
    class_weights: Literal["none", "balanced"] = "none"
    scheduler: SchedulerParams = SchedulerParams()
    early_stopping: bool = True
    monitor: Monitor = "val_loss"
    patience: Annotated[int, Field(ge=1)] = 16
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    restarts: Annotated[int, Field(ge=1)] = 1
    device: Annotated[
        str,
        Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto, cpu, mps, cuda, cuda:N"),
    ] = "cpu"
    # 2: on the suite's 2-core machine the default net trains about 1.25x faster than on 1
    # (benchmarks/RESULTS.md, "model quality"); results depend on it, so it is a param.
    threads: Annotated[int, Field(ge=1)] = 2
    precision: Literal["fp32", "tf32", "bf16"] = "fp32"
    # Worker processes (torch.distributed; README "Training on several GPUs or machines").
    processes: Annotated[int, Field(ge=1)] = 1
    # memory: the train table resident on the device; stream: read from disk in row groups
    # through a seeded shuffle buffer of shuffle_rows rows; auto: stream when the encoded
    # features (rows x features x 4 bytes) exceed memory_mb (pipeline/training/streaming.py).
    data: Literal["auto", "memory", "stream"] = "auto"
    shuffle_rows: Annotated[int, Field(ge=1)] = 262_144
    memory_mb: Annotated[int, Field(ge=1)] = 2048
    resume: Literal["auto", "never"] = "auto"
    progress: bool = True

    def rows_per_batch(self, rows: int) -> int:
        """Rows in a batch of a split of `rows` rows: batch_size (`auto`: AUTO_BATCH, doubled
        for each doubling of the rows past AUTO_STEPS batches an epoch, at most AUTO_BATCH_MAX),
        or all of them (`full`, or a batch larger than the split)."""
        if self.batch_size == "full":
            return rows
        if self.batch_size == "auto":
            batch = AUTO_BATCH
            while rows > batch * AUTO_STEPS and batch < AUTO_BATCH_MAX:
                batch *= 2
            return min(batch, rows)
        return min(self.batch_size, rows)

    def learning_rate(self, rows: int) -> float:
        """train.lr, times sqrt(batch / AUTO_BATCH) when batch_size: auto grew the batch (the
        square-root rule for Adam-type optimizers), so a larger batch takes larger steps."""
        if self.batch_size != "auto":
            return self.lr
        batch = self.rows_per_batch(rows)
        return self.lr * math.sqrt(batch / AUTO_BATCH) if batch > AUTO_BATCH else self.lr

    def warnings(self) -> list[str]:
        """Settings that are valid but do nothing, or likely not what was meant."""
        found = []
        if self.early_stopping and self.patience >= self.epochs:
            found.append(
                f"train.patience ({self.patience}) >= train.epochs ({self.epochs}): early "
                f"stopping can never trigger; lower train.patience or raise train.epochs"
            )
        used = SCHEDULER_KEYS[self.scheduler.name]
        uses = ", ".join(sorted(used - {"name"})) or "none of them"
        defaults = SchedulerParams()
        for key in SchedulerParams.model_fields:
            if key not in used and getattr(self.scheduler, key) != getattr(defaults, key):
                found.append(
                    f"train.scheduler.{key} is set ({getattr(self.scheduler, key)!r}) but "
                    f"train.scheduler.name {self.scheduler.name!r} does not use it (it uses "
                    f"{uses})"
                )
        if self.optimizer in ("adam", "adamw") and self.momentum != TrainParams().momentum:
            found.append(
                f"train.momentum is set ({self.momentum!r}) but train.optimizer "
                f"{self.optimizer!r} does not use it (sgd and rmsprop do)"
            )
        return found


class BaselineParams(Section):
    majority: bool = True
    linear: bool = True
    hist_gradient_boosting: bool = True


class EvaluateParams(Section):
    dpi: Annotated[int, Field(ge=50, le=600)] = 100
    baselines: BaselineParams = BaselineParams()
    # Baselines are fitted on a seeded sample of at most this many train rows (all val/test
    # rows are scored); 200k keeps evaluate near a minute (benchmarks/RESULTS.md).
    baseline_rows: Annotated[int, Field(ge=1)] = 200_000


class CvParams(Section):
    enabled: bool = False


class Params(Section):
    seed: Annotated[int, Field(ge=0)] = 42
    data: DataParams = DataParams()
    clean: CleanParams = CleanParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    split: SplitParams = SplitParams()
    scale: ScaleParams = ScaleParams()
    encode: EncodeParams = EncodeParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    cv: CvParams = CvParams()

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, populate_by_name=True
    )
