"""validate sizes the data against the model without torch; its numbers must equal train's."""

import pandas as pd
import pytest
import torch

from pipeline.core.schema import load_schema
from pipeline.core.tables import numeric_features
from pipeline.features.preprocessor import Preprocessor
from pipeline.model.mlp import MLP, count_parameters
from pipeline.model.sizing import encoded_width, mlp_parameter_count, output_width

from ..conftest import ROOT, binary_table, regression_table, small_params
from ..helpers import read_raw, validate_table


@pytest.mark.parametrize("normalization", ["none", "batch", "layer"])
@pytest.mark.parametrize(
    ("in_features", "hidden", "out_features"),
    [(9, [32, 16], 3), (1, [], 1), (5, [4], 1), (20, [64, 64, 8], 7), (3, [1, 1, 1], 2)],
)
def test_parameter_count_equals_the_torch_model(in_features, hidden, out_features, normalization):
    model = MLP(in_features, hidden, out_features, "relu", 0.1, normalization)
    expected = count_parameters(model)
    assert mlp_parameter_count(in_features, hidden, out_features, normalization) == expected


def test_unknown_normalization_is_rejected():
    with pytest.raises(ValueError, match="normalization"):
        mlp_parameter_count(9, [32], 3, "group")


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_model_has_one_output_per_class_for_multiclass_else_one(task):
    model = MLP(5, [8], output_width(task, 4), task=task)
    assert model(torch.zeros(2, 5)).shape[-1] == (4 if task == "multiclass" else 1)


@pytest.mark.parametrize(
    ("table", "target", "task"),
    [(binary_table(), "label", "binary"), (regression_table(), "y", "regression")],
)
def test_encoded_width_matches_the_encoder(table, target, task):
    table = table.assign(flag=[True, False] * (len(table) // 2))
    pre = Preprocessor(target, task).fit_frame(table)
    assert encoded_width(table, target) == len(pre.features_)


def test_validate_reports_the_parameter_count_train_will_build():
    params = small_params()
    schema, _ = load_schema(ROOT / "data/raw/penguins.csv")
    clean, result = validate_table(read_raw(ROOT / "data/raw/penguins.csv"), schema, params)
    assert clean is not None
    pre = Preprocessor("species", "multiclass").fit_frame(clean)
    model = MLP.from_params(
        params.model, len(pre.features_), output_width("multiclass", len(pre.classes_))
    )
    assert result["model_size"]["parameters"] == count_parameters(model) == 899
    assert result["model_size"]["encoded_features"] == 9


def test_numeric_features_agree_with_the_scaler():
    df = pd.DataFrame({"n": [1.0], "i": [2], "c": ["x"], "b": [True], "y": [0.5]})
    assert encoded_width(df, "y") == len(numeric_features(df, "y")) + 2


def test_ordinal_columns_take_one_input_and_excluded_columns_none():
    df = pd.DataFrame({"n": [1.0, 2.0], "size": ["s", "m"], "g": ["a", "b"], "y": ["p", "q"]})
    assert encoded_width(df, "y") == 1 + 2 + 2
    assert encoded_width(df, "y", ordinal={"size"}, exclude={"g"}) == 1 + 1
