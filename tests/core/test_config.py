import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.__main__ import main
from pipeline.core.config import dump_yaml, load_params, load_yaml, parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params

from ..conftest import ROOT


def reject(raw: dict) -> str:
    with pytest.raises(PipelineError) as info:
        parse_params(raw)
    return str(info.value)


def test_shipped_params_are_valid_and_equal_the_code_defaults():
    assert load_params(ROOT / "params.yaml") == Params()


def test_every_shipped_value_has_a_comment():
    for number, line in enumerate((ROOT / "params.yaml").read_text().splitlines(), 1):
        code, _, comment = line.partition("#")
        _, _, value = code.partition(":")
        if value.strip():
            assert comment.strip(), f"params.yaml line {number} has no comment: {line!r}"


def test_typo_is_rejected_with_key_path_and_closest_name():
    message = reject({"train": {"learning_rat": 0.1}})
    assert "train.learning_rat" in message
    assert "unknown key" in message
    assert "Did you mean 'train.lr'?" in message


def test_misspelled_section_and_nested_key():
    assert "Did you mean 'seed'?" in reject({"sead": 1})
    assert "Did you mean 'validate.min_rows'?" in reject({"validate": {"min_row": 3}})


def test_value_outside_allowed_set_lists_the_allowed_values():
    message = reject({"model": {"activation": "relux"}})
    assert "model.activation" in message and "'relux'" in message
    assert "relu, leaky_relu, gelu, tanh, sigmoid" in message


def test_wrong_type_names_key_and_value():
    message = reject({"train": {"lr": "fast"}})
    assert "train.lr" in message and "'fast'" in message


def test_range_and_cross_field_rules():
    assert "model.hidden[1]" in reject({"model": {"hidden": [8, 0]}})
    assert "must sum to 1" in reject({"split": {"train": 0.5, "val": 0.1, "test": 0.1}})
    assert "cuda:N" in reject({"train": {"device": "gpu"}})


def test_each_problem_gets_its_own_line():
    message = reject({"train": {"lr": -1, "epochs": 0}})
    assert len(message.splitlines()) == 2


def test_cli_exits_nonzero_with_one_line_per_problem(tmp_path, capsys, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["train"]["learning_rat"] = 0.1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    assert main(["train"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "train.learning_rat" in err[0] and "train.lr" in err[0]
    assert not (tmp_path / "models").exists()


def test_cli_names_a_missing_input_instead_of_a_traceback(tmp_path, capsys, monkeypatch):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["split"]) == 1
    err = capsys.readouterr().err
    assert "missing input 'data/validated.parquet'" in err and "dvc repro" in err


def test_split_fractions_must_fit_the_chosen_scheme():
    message = reject({"split": {"scheme": "train_test"}})
    assert "split.train + split.test must sum to 1 for split.scheme train_test" in message
    assert parse_params(
        {"split": {"scheme": "train_test", "train": 0.7, "test": 0.3}}
    ).split.shares() == pytest.approx({"train": 0.63, "val": 0.07, "test": 0.3})
    assert parse_params({"split": {"scheme": "kfold", "folds": 3}}).split.folds == 3
    assert "split.fold must be below split.folds" in reject({"split": {"folds": 3, "fold": 3}})
    assert "split.oversample" in reject({"split": {"oversample": "smote"}})
    assert parse_params({"clean": {"missing": "impute"}}).clean.missing == "impute"


def test_scale_options_are_checked_naming_the_key():
    message = reject({"scale": {"method": "quantil"}})
    assert "scale.method: 'quantil' is not allowed" in message and "quantile" in message
    assert "scale.quantiles: 1 is invalid" in reject({"scale": {"quantiles": 1}})
    assert "scale.clip: -1 is invalid: input should be greater than 0" in reject(
        {"scale": {"clip": -1}}
    )
    assert "Did you mean 'scale.quantiles'?" in reject({"scale": {"quantile": 10}})
    assert "scale.clip_mode: 'soft' is not allowed" in reject({"scale": {"clip_mode": "soft"}})
    assert "scale.sample_rows: 0 is invalid" in reject({"scale": {"sample_rows": 0}})
    assert parse_params({"scale": {"method": "quantile", "clip": 3}}).scale.clip == 3


def test_search_reads_every_params_yaml_the_stages_accept(tmp_path):
    """One loader: `1e-4` is a number for the search as for the stages (PyYAML alone reads a
    string), in params.yaml and in the space file alike."""
    from pipeline.experiments.space import check_trial, load_search, sample

    shipped = (ROOT / "params.yaml").read_text()
    assert "  min_delta: 0.0" in shipped
    (tmp_path / "params.yaml").write_text(shipped.replace("  min_delta: 0.0", "  min_delta: 1e-4"))
    (tmp_path / "space.yaml").write_text(
        "seed: 0\nspace:\n  train.lr: {log_uniform: [1e-4, 1e-2]}\n"
    )
    assert load_params(tmp_path / "params.yaml").train.min_delta == 1e-4
    dims, _, base = load_search(1, 1, tmp_path / "space.yaml", tmp_path / "params.yaml")
    assert base["train"]["min_delta"] == 1e-4
    check_trial(sample(dims, 1, 0)[0], base, "trial")  # raises if the stages would refuse it


def test_no_yaml_is_read_past_the_one_loader():
    hits = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "pipeline").rglob("*.py")
        if "yaml.safe_load(" in path.read_text() or "yaml.load(" in path.read_text()
    ]
    assert hits == [], "read YAML with pipeline.core.config.load_yaml"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=12,
    )
)
def test_what_we_write_as_yaml_reads_back_as_written(value):
    """dump_yaml quotes text the loader would take for a number ('1e5'), in any structure."""
    assert load_yaml(dump_yaml(value)) == value
