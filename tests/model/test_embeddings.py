"""Input embeddings of the MLP: shapes, which inputs they touch, sizing, params, and a saved
model with embeddings that trains reproducibly and predicts through `pipeline predict`."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.__main__ import main
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import ModelParams
from pipeline.core.schema import load_schema
from pipeline.features.preprocessor import Preprocessor
from pipeline.model import inference
from pipeline.model.embeddings import FeatureEmbeddings
from pipeline.model.feature_layout import (
    FeatureLayout,
    auto_note,
    categorical_dim,
    embedding_size,
    embedding_spec,
    feature_layout,
)
from pipeline.model.mlp import MLP, count_parameters
from pipeline.model.sizing import mlp_parameter_count
from pipeline.stages import train

from ..conftest import ROOT, SMALL_MODEL, binary_table, small
from ..helpers import FAST_TRAIN as FAST
from ..helpers import penguins_encoded, read_raw, validate_table

# 7 inputs: numeric at 0, 2, 3; ordinal codes at 1 (3 categories) and 5 (2); 4 and 6 one-hot
LAYOUT = FeatureLayout(numeric=[0, 2, 3], ordinal=[(1, 3), (5, 2)], onehot=[])
PLR_ORDINAL = {
    "encode": {"method": "ordinal"},
    "model": {"num_embeddings": "plr", "categorical": "embedding"},
}


def inputs(n: int = 6, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, 7, generator=torch.Generator().manual_seed(seed))
    x[:, 1] = torch.tensor([0, 1, 2, -1, 0, 1], dtype=torch.float32)[:n]
    x[:, 5] = torch.tensor([1, -1, 0, 0, 1, 1], dtype=torch.float32)[:n]
    x[:, 4] = (x[:, 4] > 0).float()
    x[:, 6] = 1 - x[:, 4]
    return x


def model(seed: int = 0, **options) -> MLP:
    torch.manual_seed(seed)
    settings = {
        "hidden": [8],
        "ensemble": 1,
        "num_embeddings": "none",
        "num_embedding_dim": 24,
        **options,
    }
    return MLP.from_params(ModelParams(**settings), 7, 3, LAYOUT)


@pytest.mark.parametrize(
    ("options", "width"),
    [
        ({}, 7),
        ({"num_embeddings": "periodic", "num_embedding_dim": 5}, 4 + 3 * 5),
        ({"num_embeddings": "plr", "num_embedding_dim": 5, "frequencies": 3}, 4 + 3 * 5),
        ({"num_embeddings": "plr", "num_embedding_lite": True}, 4 + 3 * 24),
        ({"categorical": "embedding", "categorical_max_dim": 2}, 5 + 2 + 2),
        ({"num_embeddings": "plr", "categorical": "embedding"}, 2 + 3 * 24 + 3 + 3),
    ],
)
def test_shapes_widths_and_parameter_counts(options, width):
    net = model(**options)
    assert net(inputs()).shape == (6, 1, 3)
    spec = net.spec.get("embeddings")
    assert (net.embed.out_features if net.embed else 7) == width
    assert embedding_size(7, spec)[0] == width
    assert net.hidden[0].in_features == width
    assert count_parameters(net) == mlp_parameter_count(7, [8], 3, "none", embeddings=spec)


def test_periodic_and_plr_follow_their_definitions():
    spec = {"columns": [0], "dim": 2, "frequencies": 3, "frequency_scale": 0.5, "lite": False}
    x = torch.tensor([[0.3], [-1.2]])
    for kind in ("periodic", "plr"):
        torch.manual_seed(0)
        embed = FeatureEmbeddings(1, {"numeric": {"kind": kind, **spec}})
        c = embed.numeric.periodic.frequencies[0]  # (3,)
        v = torch.cat([torch.cos(2 * torch.pi * c * x), torch.sin(2 * torch.pi * c * x)], dim=1)
        linear = embed.numeric.linear
        expected = v @ linear.weight[0] + linear.bias[0]
        expected = expected.clamp(min=0) if kind == "plr" else expected
        torch.testing.assert_close(embed(x), expected)
        assert c.abs().max() <= 3 * 0.5  # truncated normal initialisation


def test_unknown_code_takes_the_reserved_row():
    net = model(categorical="embedding")
    table = net.embed.categorical.tables[0]  # column 1: 3 categories + unknown
    assert table.num_embeddings == 4
    out = net.embed(inputs())
    dims = net.spec["embeddings"]["categorical"]["dims"]
    first = out[:, 5 : 5 + dims[0]]  # after the 5 passed-through inputs
    torch.testing.assert_close(first[3], table.weight[0])  # row 3 has code -1
    torch.testing.assert_close(first[0], table.weight[1])  # code 0


def test_embeddings_touch_only_the_columns_they_embed():
    net = model(num_embeddings="plr")  # numeric 0, 2, 3 embedded; 1, 4, 5, 6 pass through
    x = inputs()
    out = net.embed(x)
    torch.testing.assert_close(out[:, :4], x[:, [1, 4, 5, 6]])
    moved = x.clone()
    moved[:, [1, 4, 5, 6]] += 1.0  # other inputs change: the numeric embeddings do not
    torch.testing.assert_close(net.embed(moved)[:, 4:], out[:, 4:])
    moved = x.clone()
    moved[:, 2] += 1.0  # one numeric input changes: only its 24 values do
    changed = (net.embed(moved) != out).any(dim=0).nonzero().flatten()
    assert changed.min() >= 4 + 24 and changed.max() < 4 + 48


def test_auto_embeds_numeric_features_from_enough_training_rows():
    params = ModelParams(num_embeddings="auto", embedding_min_rows=1000)
    rows = {n: replace(LAYOUT, train_rows=n) for n in (999, 1000)}
    assert embedding_spec(params, rows[999]) is None  # a few hundred rows: plain inputs
    numeric = embedding_spec(params, rows[1000])["numeric"]
    assert numeric["kind"] == "plr" and numeric["columns"] == [0, 2, 3]
    # the spec records what auto became, so a saved model rebuilds without the row count
    assert MLP.from_spec(MLP.from_params(params, 7, 3, rows[1000], "multiclass").spec)
    with pytest.raises(PipelineError, match="auto needs the number of training rows"):
        embedding_spec(params, LAYOUT)
    assert embedding_spec(ModelParams(num_embedding_lite=True), rows[1000])["numeric"]["lite"]
    explicit = ModelParams(num_embeddings="plr")
    assert embedding_spec(explicit, rows[999])["numeric"]["kind"] == "plr"
    # train's line says what auto chose and why; nothing when the user chose
    assert auto_note(params, rows[999]) == (
        " (numeric embeddings: none, auto: 999 training rows < model.embedding_min_rows 1000)"
    )
    assert "plr, auto: 1000 training rows >=" in auto_note(params, rows[1000])
    assert auto_note(explicit, rows[999]) == ""


def test_off_options_keep_todays_spec_and_weights():
    layout = FeatureLayout(numeric=[0, 1], ordinal=[(2, 4)], onehot=[])
    params = ModelParams(**SMALL_MODEL)
    torch.manual_seed(3)
    with_layout = MLP.from_params(params, 3, 2, layout)
    torch.manual_seed(3)
    plain = MLP(3, [32, 16], 2, "relu", 0.1, "none")
    assert with_layout.spec == plain.spec and "embeddings" not in with_layout.spec
    assert with_layout.state_dict().keys() == plain.state_dict().keys()
    assert all(
        torch.equal(a, b)
        for a, b in zip(with_layout.state_dict().values(), plain.state_dict().values(), strict=True)
    )
    today = {  # a model.json architecture written before embeddings existed
        "in_features": 9,
        "hidden": [32, 16],
        "out_features": 3,
        "activation": "relu",
        "dropout": 0.1,
        "normalization": "none",
    }
    assert count_parameters(MLP.from_spec(today)) == 899


def test_embeddings_without_a_layout_are_refused():
    with pytest.raises(ValueError, match="feature layout"):
        MLP.from_params(ModelParams(num_embeddings="plr"), 7, 3)


def test_layout_from_the_fitted_preprocessor():
    table = binary_table().assign(size=lambda d: np.where(d["x1"] > 0, "big", "small"))
    rules = load_schema_rules({"size": "ordinal", "color": "onehot"})
    pre = Preprocessor("label", "binary", rules=rules).fit_frame(table)
    layout = feature_layout(pre.to_json())
    assert [pre.features_[i] for i in layout.numeric] == ["x1", "x2"]
    assert [(pre.features_[i], card) for i, card in layout.ordinal] == [("size", 2)]
    assert layout.onehot == ["color"]
    with pytest.raises(PipelineError, match=r"model\.categorical.*encode\.method"):
        embedding_spec(ModelParams(categorical="embedding"), layout)
    codes = pre.transform(table).table["size"]
    assert set(codes) == {0.0, 1.0}  # ordinal codes reach the model unscaled


def load_schema_rules(methods: dict[str, str]) -> dict:
    from pipeline.core.schema import EncodeRule

    return {column: EncodeRule(method=method) for column, method in methods.items()}


def test_categorical_dim_rule():
    assert [categorical_dim(n, 32) for n in (1, 2, 3, 10, 100, 10_000)] == [2, 3, 3, 6, 21, 32]
    assert categorical_dim(100, 4) == 4


@pytest.mark.parametrize(
    ("model_params", "key"),
    [
        ({"num_embeddings": "fourier"}, "model.num_embeddings"),
        ({"frequency_scale": -1}, "model.frequency_scale"),
        ({"frequencies": 0}, "model.frequencies"),
        ({"categorical": "hash"}, "model.categorical"),
        ({"num_embedings": "plr"}, "model.num_embedings"),
        ({"num_embedding_lite": True, "num_embeddings": "periodic"}, "model.num_embedding_lite"),
        ({"embedding_min_rows": -1}, "model.embedding_min_rows"),
        ({"embedding_min_rows": "many"}, "model.embedding_min_rows"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(model_params, key):
    with pytest.raises(PipelineError, match=key.replace(".", r"\.")):
        parse_params({"model": model_params})


def test_validate_counts_the_embeddings_train_builds():
    params = parse_params(small(PLR_ORDINAL))
    schema, _ = load_schema(ROOT / "data/raw/penguins.csv")
    clean, result = validate_table(read_raw(ROOT / "data/raw/penguins.csv"), schema, params)
    assert clean is not None
    pre = Preprocessor("species", "multiclass", encode="ordinal").fit_frame(clean)
    layout = feature_layout(pre.to_json())
    net = MLP.from_params(params.model, len(pre.features_), 3, layout)
    assert result["model_size"]["parameters"] == count_parameters(net)
    assert (
        result["model_size"]["embedding_parameters"]
        == embedding_size(len(pre.features_), net.spec["embeddings"])[1]
    )


@pytest.fixture
def encoded_ordinal(tmp_path, monkeypatch) -> Path:
    return penguins_encoded(tmp_path, monkeypatch, PLR_ORDINAL)


def test_trained_with_embeddings_reproduces_saves_loads_and_predicts(encoded_ordinal, tmp_path):
    params = parse_params({**PLR_ORDINAL, "train": FAST})
    train.run(params)
    first = io.MODEL_WEIGHTS.read_bytes(), io.MODEL_CARD.read_bytes()
    train.run(params)
    assert (io.MODEL_WEIGHTS.read_bytes(), io.MODEL_CARD.read_bytes()) == first

    card = json.loads(io.MODEL_CARD.read_text())
    embeddings = card["architecture"]["embeddings"]
    assert embeddings["numeric"]["kind"] == "plr" and len(embeddings["numeric"]["columns"]) == 4
    assert embeddings["categorical"]["cardinalities"] == [3, 2]  # island, sex
    model = inference.load_model(card)  # MLP.from_spec + the safetensors weights
    assert count_parameters(model) == card["parameters"]

    (encoded_ordinal / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    out = tmp_path / "p.csv"
    assert main(["predict", "--input", "data/raw/penguins.csv", "--output", str(out)]) == 0
    predicted = pd.read_csv(out)
    test = io.read_table(io.ENCODED_DIR / "test.parquet")
    expected = inference.predict(model, test, card)
    got = predicted.loc[test.index, [f"proba_{c}" for c in card["classes"]]].to_numpy(float)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert (
        predicted.loc[test.index, "prediction"]
        == test["_target"].map(dict(enumerate(card["classes"])))
    ).mean() >= 0.9


def test_train_refuses_categorical_embedding_of_one_hot_columns(tmp_path, monkeypatch):
    penguins_encoded(tmp_path, monkeypatch)
    params = parse_params({"model": {"categorical": "embedding"}, "train": FAST})
    with pytest.raises(PipelineError, match=r"model\.categorical: embedding.*encode\.method"):
        train.run(params)
    assert not io.MODEL_WEIGHTS.exists()
