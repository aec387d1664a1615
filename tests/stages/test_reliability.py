"""Bad input and faults that need no DVC run: every params key, unreadable or planted artifacts,
unsafe YAML, formula cells in CSVs, failed writes. The kill harness is in
tests/e2e/test_faults.py."""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import re
import tempfile
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import annotated_types as at
import pandas as pd
import pytest
import torch
import yaml
from pydantic import BaseModel

from pipeline.__main__ import main
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params, SchedulerParams, TrainParams
from pipeline.stages import split

from ..conftest import ROOT, penguins

DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
SHIPPED = yaml.safe_load((ROOT / "params.yaml").read_text())


# ---------------------------------------------------------------- the bad-params table


@dataclass
class Leaf:
    path: tuple[str, ...]
    default: Any
    annotation: Any
    metadata: list[Any]

    @property
    def key(self) -> str:
        return ".".join(self.path)


def leaves(model: type[BaseModel] = Params, prefix: tuple[str, ...] = ()) -> list[Leaf]:
    """Every key of the typed config, walked from the models (new keys join automatically)."""
    found = []
    for name, field in model.model_fields.items():
        path = (*prefix, field.alias or name)
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found.extend(leaves(field.annotation, path))
        else:
            found.append(Leaf(path, field.default, field.annotation, list(field.metadata)))
    return found


def constraints(annotation: Any, metadata: list[Any]) -> list[Any]:
    """Range constraints and literal choices of a field, looking inside unions and lists."""
    found = [m for m in metadata if isinstance(m, at.BaseMetadata)]
    found += [c for m in metadata for c in getattr(m, "metadata", [])]
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        found.append(("literal", args))
    elif typing.get_origin(annotation) is typing.Annotated:
        found += constraints(args[0], list(args[1:]))
    else:
        for arg in args:
            if arg is not type(None) and not isinstance(arg, str):
                found += constraints(arg, [])
    return found


def wrong_type(leaf: Leaf) -> Any:
    """A value of another YAML type than the key's."""
    if isinstance(leaf.default, bool):
        return "maybe"
    if isinstance(leaf.default, int | float):
        return "abc"
    if isinstance(leaf.default, list):
        return "1,2"
    if leaf.default is None and "float" in str(leaf.annotation):
        return "abc"  # a number or null
    if isinstance(leaf.default, str) and "int" in str(leaf.annotation):
        return "abc"  # a number or a word (train.batch_size: auto)
    return 12345  # strings, literals, null-able strings


def out_of_range(leaf: Leaf) -> Any | None:
    """A value of the right type outside what the key allows, or None where any value goes."""
    if leaf.key == "data.path":
        return "../outside/the/project.csv"
    inner = leaf.default[0] if isinstance(leaf.default, list) else leaf.default
    as_int = isinstance(inner, int) and not isinstance(inner, bool)
    for c in constraints(leaf.annotation, leaf.metadata):
        value: Any = None
        if isinstance(c, tuple) and c[0] == "literal":
            value = "not_an_option"
        elif isinstance(c, at.Ge):
            value = c.ge - 1 if as_int else c.ge - 0.5
        elif isinstance(c, at.Gt):
            value = c.gt
        elif isinstance(c, at.Le):
            value = c.le + 1 if as_int else c.le + 0.5
        elif isinstance(c, at.Lt):
            value = c.lt
        elif isinstance(c, at.MinLen):
            value = ""
        elif getattr(c, "pattern", None):
            value = "not_an_option"
        if value is not None:
            return [value] if isinstance(leaf.default, list) else value
    return None


def stage_reading(key: str) -> str:
    """The first dvc.yaml stage that tracks `key` (or its section) among its params."""
    for name, stage in DVC_YAML["stages"].items():
        tracked = [p for p in stage.get("params", []) if isinstance(p, str)]
        if any(key == p or key.startswith(p + ".") for p in tracked):
            return name
    raise AssertionError(f"no stage in dvc.yaml tracks {key}")


def stage_outs(stage: str) -> list[str]:
    spec = DVC_YAML["stages"][stage]
    return [
        next(iter(o)) if isinstance(o, dict) else o
        for o in [*spec.get("outs", []), *spec.get("metrics", [])]
    ]


def with_value(path: tuple[str, ...], value: Any) -> dict:
    params = yaml.safe_load(yaml.safe_dump(SHIPPED))
    node = params
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return params


def cases() -> list[tuple[str, tuple[str, ...], Any, dict]]:
    table = []
    for leaf in leaves():
        table.append(("type", leaf.path, wrong_type(leaf), with_value(leaf.path, wrong_type(leaf))))
        bad = out_of_range(leaf)
        if bad is not None:
            table.append(("range", leaf.path, bad, with_value(leaf.path, bad)))
        typo = (*leaf.path[:-1], leaf.path[-1] + leaf.path[-1][-1])
        table.append(("typo", leaf.path, typo, with_value(typo, leaf.default)))
    return table


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_every_params_key_rejects_wrong_type_range_and_typo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    table = cases()
    kinds = {k: sum(1 for c in table if c[0] == k) for k in ("type", "range", "typo")}
    failures = []
    for kind, path, bad, params in table:
        key = ".".join(path)
        stage = stage_reading(key)
        for out in stage_outs(stage):  # the stage's previous outputs, to prove it left them
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            if not Path(out).exists():
                Path(out).write_text(f"previous {out}\n")
        Path("params.yaml").write_text(yaml.safe_dump(params))
        before = snapshot(tmp_path)
        code = main([stage])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        line = lines[0] if lines else ""
        problems = []
        if code != 1 or len(lines) != 1 or "Traceback" in err:
            problems.append(f"exit {code}, {len(lines)} stderr line(s)")
        if kind == "typo":
            typo = ".".join(bad)
            if typo not in line or f"Did you mean '{key}'?" not in line:
                problems.append("typo and closest key not named")
        else:
            if key not in line or repr(bad[0] if isinstance(bad, list) else bad) not in line:
                problems.append("key path or bad value not named")
            if not re.search(r"allowed|should|must", line):
                problems.append("allowed values not said")
        if snapshot(tmp_path) != before:
            problems.append("files changed")
        if problems:
            failures.append(f"{kind} {key}={bad!r} ({stage}): {problems}: {err!r}")
    print(f"\nbad-params table: {len(table)} cases over {len(leaves())} keys {kinds}")
    assert not failures, "\n".join(failures)
    assert len(leaves()) >= 60 and kinds["range"] >= 40


def test_table_walks_every_key_of_params_yaml():
    def keys(node: dict, prefix: str = "") -> set[str]:
        out = set()
        for k, v in node.items():
            out |= keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}"}
        return out

    assert {leaf.key for leaf in leaves()} == keys(SHIPPED)


def test_numbers_as_yaml_1_2_reads_them_and_no_silent_coercion(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 1e-3\n  weight_decay: 5E-4\n")
    from pipeline.core.config import load_params

    assert load_params(path).train.lr == 0.001  # PyYAML alone would read the string '1e-3'
    for raw in (
        {"train": {"epochs": True}},
        {"train": {"epochs": "5"}},
        {"train": {"early_stopping": 1}},
        {"train": {"lr": float("nan")}},
    ):
        with pytest.raises(PipelineError):
            parse_params(raw)
    assert parse_params({"train": {"lr": 1}}).train.lr == 1.0  # an int where a float goes


def test_relative_path_may_not_leave_the_project_but_an_absolute_one_may(tmp_path):
    with pytest.raises(PipelineError, match=r"data\.path: '\.\./x\.csv' is not allowed"):
        parse_params({"data": {"path": "../x.csv"}})
    assert parse_params({"data": {"path": "data/../data/raw/t.csv"}}).data.path
    absolute = str(tmp_path / "t.csv")
    assert parse_params({"data": {"path": absolute}}).data.path == absolute


# ---------------------------------------------------------------- cross-field rules


def test_train_warns_about_settings_that_do_nothing():
    quiet = TrainParams(optimizer="adam")
    assert quiet.warnings() == []
    loud = TrainParams(
        epochs=10,
        patience=10,
        optimizer="adam",
        momentum=0.5,
        scheduler=SchedulerParams(name="step", factor=0.3),
    )
    text = "\n".join(loud.warnings())
    assert "train.patience (10) >= train.epochs (10)" in text
    assert "train.scheduler.factor is set (0.3) but train.scheduler.name 'step'" in text
    assert "train.momentum is set (0.5) but train.optimizer 'adam'" in text
    assert TrainParams(epochs=10, patience=10, early_stopping=False).warnings() == []
    assert TrainParams(scheduler=SchedulerParams(name="plateau", factor=0.3)).warnings() == []


def test_cuda_without_cuda_is_named_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    Path("params.yaml").write_text(yaml.safe_dump(with_value(("train", "device"), "cuda")))
    assert main(["train"]) == 1  # no inputs exist: the device is checked first
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.device: 'cuda' requested but CUDA is not" in err


# ---------------------------------------------------------------- planted and damaged files


class Planted:
    """Unpickling this runs code: it creates the marker folder."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_planted_pickle_as_checkpoint_is_ignored_not_run(tmp_path, capsys):
    from pipeline.training.checkpoint import Checkpoint

    marker = tmp_path / "pwned"
    for i, write in enumerate(
        (
            lambda p: p.write_bytes(pickle.dumps(Planted(marker))),  # a bare pickle
            lambda p: torch.save(Planted(marker), p),  # torch's zip format, pickle inside
            lambda p: p.write_bytes(b"\x80\x04truncated"),
        )
    ):
        path = tmp_path / f"train{i}.pt"
        write(path)
        assert not marker.exists()  # writing it did not run it
        assert Checkpoint(path, "fingerprint").load() is None
        assert not marker.exists()
        assert "ignoring" in capsys.readouterr().err


def test_planted_pickle_as_model_weights_is_refused(tmp_path, monkeypatch, capsys):
    from pipeline.core.params import ModelParams
    from pipeline.model.inference import load_model
    from pipeline.model.mlp import MLP

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    card = {
        "architecture": MLP.from_params(ModelParams(ensemble=1, num_embeddings="none"), 4, 3).spec,
        "weights": "model.pt",
    }
    io.MODEL_CARD.parent.mkdir(parents=True)
    (io.MODEL_CARD.parent / "model.pt").write_bytes(pickle.dumps(Planted(marker)))
    with pytest.raises(PipelineError, match="is not a safetensors file"):
        load_model(card)
    io.MODEL_CARD.write_bytes(pickle.dumps(Planted(marker)))  # the card itself
    Path("params.yaml").write_text(yaml.safe_dump(SHIPPED))
    assert main(["evaluate"]) == 1
    assert "models/model.json' is not valid JSON" in capsys.readouterr().err
    assert not marker.exists()


def test_damaged_table_is_named_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump(SHIPPED))
    io.VALIDATED.parent.mkdir(parents=True)
    io.VALIDATED.write_bytes(b"PAR1 not really")
    assert main(["split"]) == 1
    err = capsys.readouterr().err
    assert "data/validated.parquet' is not a readable Parquet table" in err
    assert "Traceback" not in err


def test_yaml_tags_that_build_objects_are_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned"
    evil = f"!!python/object/apply:os.mkdir [{str(marker)!r}]"
    Path("params.yaml").write_text(f"seed: {evil}\n")
    assert main(["split"]) == 1
    assert "params.yaml: not valid YAML" in capsys.readouterr().err
    Path("params.yaml").write_text(yaml.safe_dump(SHIPPED))
    Path("data/raw").mkdir(parents=True)
    Path("data/raw/penguins.schema.yaml").write_text(f"columns: {evil}\n")
    assert main(["schema"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not determine a constructor" in err
    assert not marker.exists()


def test_no_unsafe_loader_anywhere_in_the_code():
    """Alongside the behaviour above: nothing we ship reads pickle, unsafe YAML or evals text."""
    unsafe = re.compile(
        r"yaml\.(unsafe_load|full_load|load_all|load)\("
        r"|Loader=yaml\.(Unsafe|Full)?Loader|\bpickle\.loads?\(|joblib\.load|(?<![.\w])(eval|exec)\("
        r"|torch\.load\((?![^)]*weights_only=True)|pd\.read_pickle|allow_pickle=True"
    )
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for folder in ("pipeline", "benchmarks")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if unsafe.search(line)
    ]
    assert not hits, hits


# ---------------------------------------------------------------- CSV exports


def test_csv_export_escapes_formulas_but_keeps_numbers(tmp_path):
    df = pd.DataFrame(
        {
            "id": ['=HYPERLINK("http://x")', "+1+2", "-1.5", "@SUM(A1)", "-", "plain", None],
            "value": [-1.5, 2.0, -3.25, 0.0, 1e-9, -7.0, 1.0],
            "count": [-1, 2, 3, 4, 5, 6, 7],
        }
    )
    io.write_csv(df, tmp_path / "out.csv")
    back = pd.read_csv(tmp_path / "out.csv")
    assert list(back["id"].iloc[:6]) == [
        '\'=HYPERLINK("http://x")',
        "'+1+2",
        "-1.5",  # a number written as text stays that number, not a formula
        "'@SUM(A1)",
        "'-",
        "plain",
    ]
    assert pd.isna(back["id"].iloc[6])
    pd.testing.assert_series_equal(back["value"], df["value"])  # numeric columns untouched
    pd.testing.assert_series_equal(back["count"], df["count"])


# ---------------------------------------------------------------- failed writes


def read_only(monkeypatch, root: Path) -> None:
    """What a read-only folder (or a full disk) does to our writes; the tests run as root,
    where chmod would not stop a write, so the refusal is simulated where files are created."""
    real_mkstemp, real_mkdtemp = tempfile.mkstemp, tempfile.mkdtemp

    def refuse(real):
        def create(*args, dir=None, **kwargs):
            if dir is not None and Path(dir).resolve().is_relative_to(root.resolve()):
                raise PermissionError(errno.EACCES, "Permission denied", str(dir))
            return real(*args, dir=dir, **kwargs)

        return create

    monkeypatch.setattr(tempfile, "mkstemp", refuse(real_mkstemp))
    monkeypatch.setattr(tempfile, "mkdtemp", refuse(real_mkdtemp))


def test_read_only_folder_names_the_path_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "a.json"
    io.write_json({"v": 1}, target)
    with io.atomic_dir(tmp_path / "out" / "d") as out:
        (out / "kept.txt").write_text("old")
    read_only(monkeypatch, tmp_path / "out")
    with pytest.raises(PipelineError, match=r"cannot write '.*/out/a.json': Permission denied"):
        io.write_json({"v": 2}, target)
    with (
        pytest.raises(PipelineError, match=r"cannot write '.*/out/d': Permission denied"),
        io.atomic_dir(tmp_path / "out" / "d"),
    ):
        pass
    assert io.read_json(target) == {"v": 1}
    assert (tmp_path / "out/d/kept.txt").read_text() == "old"


def test_disk_full_names_the_path_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "t.parquet"
    io.write_json({"v": 1}, target)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with pytest.raises(PipelineError, match=r"t\.parquet': No space left on device"):
        io.write_table(pd.DataFrame({"a": [1]}), target)
    assert io.read_json(target) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_a_stage_in_a_read_only_project_says_so_and_changes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump(SHIPPED))
    table = penguins().dropna()
    table.index.name = io.ROW
    io.write_table(table, io.VALIDATED)
    io.write_json({"target": "species", "task": "multiclass", "reason": "test"}, io.TASK)
    split.run(parse_params({}))
    before = snapshot(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump(with_value(("seed",), 7)))
    before["params.yaml"] = Path("params.yaml").read_bytes()
    read_only(monkeypatch, tmp_path)
    assert main(["split"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write 'data/split': Permission denied")  # streams there
    assert err.count("\n") == 1
    assert snapshot(tmp_path) == before


def test_leftover_temporaries_of_a_killed_write_are_cleared(tmp_path):
    (tmp_path / ".a.json.x1.tmp").write_text("half")
    (tmp_path / ".d.x2.tmp").mkdir()
    (tmp_path / ".other.json.x3.tmp").write_text("not ours")
    io.write_json({}, tmp_path / "a.json")
    with io.atomic_dir(tmp_path / "d"):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.x3.tmp", "a.json", "d"]


# ---------------------------------------------------------------- user data in messages


def test_messages_show_a_few_bad_values_never_whole_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    table = penguins()
    table["bill_length_mm"] = table["bill_length_mm"].astype(object)
    table.loc[5:60, "bill_length_mm"] = "oops"  # text in a numeric column, many rows
    table["island"] = [f"SECRET{i}" for i in range(len(table))]  # every row has a unique value
    Path("data/raw").mkdir(parents=True)
    table.to_csv("data/raw/t.csv", index=False)
    schema = (ROOT / "data/raw/penguins.schema.yaml").read_text()
    Path("data/raw/t.schema.yaml").write_text(schema)  # island: 3 allowed values
    Path("params.yaml").write_text(yaml.safe_dump(with_value(("data", "path"), "data/raw/t.csv")))
    raw_hash = hashlib.sha256(Path("data/raw/t.csv").read_bytes()).hexdigest()
    assert main(["validate"]) == 1
    err = capsys.readouterr().err
    assert "bill_length_mm" in err and "Traceback" not in err
    assert len(re.findall(r"SECRET\d+", err)) <= 5  # at most a few examples, never the rows
    assert err.count("'oops'") <= 5
    assert hashlib.sha256(Path("data/raw/t.csv").read_bytes()).hexdigest() == raw_hash
