"""params.yaml read once, by one loader, validated into `Params` (`pipeline.core.params`).

Unknown keys are rejected (DVC's `-S +key=v` and hand edits add keys freely), with the key path,
the bad value, what is allowed and, for typos, the closest valid key.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pipeline.core.errors import PipelineError
from pipeline.core.params import Params

PARAMS_FILE = Path("params.yaml")

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


class ParamsLoader(yaml.SafeLoader):
    """yaml's SafeLoader (plain data only: no Python objects), reading `1e-3` as a number as
    YAML 1.2 and DVC's `-S` do, where PyYAML (YAML 1.1) would make it the string '1e-3'."""


class ParamsDumper(yaml.SafeDumper):
    """yaml's SafeDumper that quotes a string ParamsLoader would read as a number ('1e5'), so
    what we write (schema drafts, `-S` values, the workers' params) reads back as written."""


_YAML12_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
for _yaml_class in (ParamsLoader, ParamsDumper):
    _yaml_class.add_implicit_resolver(
        "tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789.")
    )


def dump_yaml(value: Any, **options: Any) -> str:
    """YAML text that `load_yaml` reads back as `value` (yaml.dump's options)."""
    return yaml.dump(value, Dumper=ParamsDumper, **options)


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error on one line: what is wrong and where (its own text spans several)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def load_yaml(text: str) -> Any:
    """Every YAML file we read (params.yaml, search.yaml, schema files) is parsed here, with
    ParamsLoader: a SafeLoader (plain data only, never Python objects) that reads numbers as
    YAML 1.2 and DVC do."""
    loader = ParamsLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def params_mapping(text: str, source: str) -> dict[str, Any]:
    """params.yaml's text as its mapping of sections (not yet validated)."""
    try:
        raw = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"{source}: not valid YAML: {yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise PipelineError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    return raw


def read_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml as its mapping of sections, read as the stages read it (not yet validated:
    for tools that edit or compare params, such as the search)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise PipelineError(f"{path}: not found (run from the project root)") from exc
    return params_mapping(text, str(path))


def load_params(path: Path | str = PARAMS_FILE) -> Params:
    """Read and validate params.yaml; raise PipelineError with one line per problem."""
    return parse_params(read_params(path), source=str(path))


def parse_params(raw: dict[str, Any], source: str = "params") -> Params:
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        by_key: dict[tuple, list[Any]] = {}
        for err in exc.errors():  # a union type fails once per member: keep one line per key
            err["loc"] = _field_loc(err["loc"])
            by_key.setdefault(err["loc"], []).append(err)
        lines = []
        for loc, errs in by_key.items():
            help_text = _field_help([str(p) for p in loc if not isinstance(p, int)])
            if len(errs) > 1 and help_text:
                key = ".".join(str(p) for p in loc)
                lines.append(
                    f"{source}: {key}: {errs[0].get('input')!r} is not allowed; "
                    f"allowed values: {help_text}"
                )
            else:
                lines.append(f"{source}: {_describe(errs[0])}")
        raise PipelineError("\n".join(lines)) from None


def _field_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-member tags (e.g. 'constrained-int') from an error location:
    below a section every part is a key (known or not); below a value field it is a tag."""
    kept: list[Any] = []
    for part in loc:
        if isinstance(part, int) or _section_model([str(p) for p in kept]) is not None:
            kept.append(part)
    return tuple(kept)


def _describe(err: Any) -> str:
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
        return f"{key}: {value!r} is not allowed; allowed values: {_field_help(loc)}"
    if kind == "value_error":
        message = err["msg"].removeprefix("Value error, ")
        if _section_model(loc) is not None:  # a section's cross-field rule: the message is whole
            return message
        return f"{key}: {value!r} is not allowed: {message}"
    return f"{key}: {value!r} is invalid: {err['msg'][0].lower()}{err['msg'][1:]}"


def _field_help(loc: list[str]) -> str | None:
    """A field's description: the allowed values where the type alone does not say them."""
    model = _section_model(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model and loc else None
    return field.description if field else None


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


def param_key_problem(key: str) -> tuple[str, str | None] | None:
    """None when `key` (e.g. 'train.lr') names a value in params.yaml; else (what is wrong,
    the closest valid key or None). For tools that take keys from elsewhere (search spaces)."""
    parts = key.split(".")
    if parts[-1] in _fields_at(parts[:-1]) and _section_model(parts) is None:
        return None
    if _section_model(parts) is not None:
        return "a section, not a value", None
    return "not a param", _closest(parts) if _section_model(parts[:-1]) is not None else None


def _closest(loc: list[str]) -> str | None:
    *parent, bad = loc
    valid = _fields_at(parent)
    candidates = {name: name for name in valid}
    candidates.update({alias: real for alias, real in _SYNONYMS.items() if real in valid})
    match = difflib.get_close_matches(bad, list(candidates), n=1, cutoff=0.6)
    if not match:
        return None
    return ".".join([*parent, candidates[match[0]]])


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted key paths, as params.yaml's keys are named: {"train": {"lr":
    0.1}} -> {"train.lr": 0.1}; a value that is not a mapping is {prefix: value}."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out
