"""Typed params: params.yaml is read once, validated here, and handed to stages as `Params`.

Unknown keys are rejected (DVC's `-S +key=v` and hand edits add keys freely), with the key path,
the bad value, what is allowed and, for typos, the closest valid key.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import PipelineError

PARAMS_FILE = Path("params.yaml")

Task = Literal["auto", "binary", "multiclass", "regression"]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Section(BaseModel):
    """Base for every params section: no unknown keys, no silent coercion of strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataParams(Section):
    path: str = "data/raw/penguins.csv"
    target: str = "species"
    task: Task = "auto"


Severity = Literal["fail", "warn"]


class CleanParams(Section):
    missing: Literal["drop", "impute"] = "drop"
    duplicates: Literal["keep", "drop"] = "keep"


class ValidateParams(Section):
    min_rows: Annotated[int, Field(ge=1)] = 30
    min_rows_severity: Severity = "fail"
    min_rows_per_class: Annotated[int, Field(ge=1)] = 10
    min_rows_per_class_severity: Severity = "fail"
    rows_per_parameter: Annotated[float, Field(ge=0)] = 10.0
    rows_per_parameter_severity: Severity = "warn"
    min_class_share: Annotated[float, Field(ge=0, lt=1)] = 0.1


class SplitParams(Section):
    train: Fraction = 0.8
    val: Fraction = 0.1
    test: Fraction = 0.1
    stratify: bool = True

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitParams:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"split.train + split.val + split.test must sum to 1, got {total:g} "
                f"({self.train:g} + {self.val:g} + {self.test:g})"
            )
        return self


class ScaleParams(Section):
    method: Literal["standard", "minmax", "robust", "none"] = "standard"


class EncodeParams(Section):
    unknown: Literal["ignore", "error"] = "ignore"
    scale_target: bool = True


class ModelParams(Section):
    hidden: list[Annotated[int, Field(ge=1)]] = [32, 16]
    activation: Literal["relu", "leaky_relu", "gelu", "tanh", "sigmoid"] = "relu"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1


class TrainParams(Section):
    epochs: Annotated[int, Field(ge=1)] = 200
    batch_size: Annotated[int, Field(ge=1)] = 32
    lr: Annotated[float, Field(gt=0)] = 0.01
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    patience: Annotated[int, Field(ge=1)] = 20
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    device: Annotated[
        str,
        Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto, cpu, mps, cuda, cuda:N"),
    ] = "cpu"
    threads: Annotated[int, Field(ge=1)] = 1


class EvaluateParams(Section):
    dpi: Annotated[int, Field(ge=50, le=600)] = 100


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

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# Names people reach for that mean one of ours; used only to suggest the right key.
_SYNONYMS = {
    "learning_rate": "lr",
    "num_epochs": "epochs",
    "n_epochs": "epochs",
    "batchsize": "batch_size",
    "hidden_layers": "hidden",
    "hidden_sizes": "hidden",
    "l2": "weight_decay",
    "random_state": "seed",
    "label": "target",
}


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; raise PipelineError with one line per problem."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise PipelineError(f"{path}: not found (run from the project root)") from exc
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    return parse_params(raw, source=str(path))


def parse_params(raw: dict[str, Any], source: str = "params") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {_describe(err, raw)}" for err in exc.errors()]
        raise PipelineError("\n".join(lines)) from None


def _describe(err: Any, raw: dict[str, Any]) -> str:
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        hint = _closest(loc)
        valid = ", ".join(_fields_at(loc[:-1]))
        suggestion = f" Did you mean '{hint}'?" if hint else ""
        return f"{key}: unknown key (value {value!r}).{suggestion} Valid keys here: {valid}"
    if kind == "missing":
        return f"{key}: required key is missing"
    if kind == "literal_error":
        allowed = err["ctx"]["expected"].replace("'", "").replace(" or ", ", ")
        return f"{key}: {value!r} is not allowed; allowed values: {allowed}"
    if kind == "string_pattern_mismatch":
        return f"{key}: {value!r} is not allowed; allowed values: {_pattern_help(loc)}"
    if kind == "value_error":  # raised by our own cross-field rules: the message is complete
        return err["msg"].removeprefix("Value error, ")
    return f"{key}: {value!r} is invalid: {err['msg'][0].lower()}{err['msg'][1:]}"


def _pattern_help(loc: list[str]) -> str:
    model = _section_model(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model else None
    return (field.description if field else None) or "see params.yaml"


def _section_model(loc: list[str]) -> type[BaseModel] | None:
    model: type[BaseModel] = Params
    for part in loc:
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == part), None
        )
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return None
        model = field.annotation
    return model


def _fields_at(loc: list[str]) -> list[str]:
    model = _section_model(loc)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _closest(loc: list[str]) -> str | None:
    *parent, bad = loc
    valid = _fields_at(parent)
    candidates = {name: name for name in valid}
    candidates.update({alias: real for alias, real in _SYNONYMS.items() if real in valid})
    match = difflib.get_close_matches(bad, list(candidates), n=1, cutoff=0.6)
    if not match:
        return None
    return ".".join([*parent, candidates[match[0]]])
