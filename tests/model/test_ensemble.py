"""model.ensemble: k MLPs trained as one (TabM): shapes, the loss over members, the combined
prediction, k = 1 as the plain MLP, determinism, the saved card, predict, two processes."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import ModelParams
from pipeline.model import inference
from pipeline.model.ensemble import combine
from pipeline.model.inference import outputs_to_predictions
from pipeline.model.mlp import MLP, count_parameters
from pipeline.model.sizing import mlp_parameter_count, output_width
from pipeline.stages import evaluate, train
from pipeline.stages.predict import run_predict
from pipeline.training.loop import batch_loss, fit, make_loss

from ..conftest import small_params
from ..helpers import blobs, outputs, penguins_encoded, quick, read_output

TASKS = ("binary", "multiclass", "regression")
KINDS = ("mini", "batch")


def ensemble(task: str, k: int = 4, kind: str = "mini", seed: int = 0, **model) -> MLP:
    torch.manual_seed(seed)
    settings = {"hidden": [16, 8], "dropout": 0.0, "ensemble": k, "ensemble_kind": kind}
    settings["num_embeddings"] = "none"
    params = ModelParams(**{**settings, **model})
    return MLP.from_params(params, 4, output_width(task, 3), task=task)


def state_bytes(model: nn.Module) -> dict[str, bytes]:
    return {k: v.numpy().tobytes() for k, v in model.state_dict().items()}


# --- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "normalization", "hidden"),
    [*itertools.product(KINDS, ("none", "batch", "layer"), ([16, 8],)), ("batch", "none", [])],
)
def test_member_outputs_in_training_and_in_eval_mode(kind, normalization, hidden):
    model = ensemble("multiclass", 5, kind, normalization=normalization, hidden=hidden, dropout=0.2)
    x = torch.randn(7, 4)
    assert model.train()(x).shape == (7, 5, 3)
    model.eval()
    members = model.hidden(x)
    assert members.shape == (7, 5, hidden[-1] if hidden else 4)
    assert model(x).shape == (7, 5, 3)
    assert combine(model(x), "multiclass").shape == (7, 3)
    assert count_parameters(model) == mlp_parameter_count(4, hidden, 3, normalization, 5, kind)


def test_parameter_count_matches_validate_for_every_shape():
    for k, kind, hidden, norm, out in itertools.product(
        (1, 3), KINDS, ([], [8], [8, 5]), ("none", "batch", "layer"), (1, 3)
    ):
        model = MLP(4, hidden, out, "relu", 0.1, norm, k, kind, "multiclass")
        assert count_parameters(model) == mlp_parameter_count(4, hidden, out, norm, k, kind)
    # mini: the shared 4-8 layer, 4 adapter values and a 8->3 head per member
    assert mlp_parameter_count(4, [8], 3, "none", 2, "mini") == 40 + 2 * 4 + 2 * 27
    # batch: shared W, and per member r (4), s (8) and a bias (8), then the heads
    assert mlp_parameter_count(4, [8], 3, "none", 2, "batch") == 32 + 2 * 20 + 2 * 27


def test_k_1_is_the_plain_mlp():
    torch.manual_seed(0)
    plain = MLP(4, [16, 8], 3, "relu", 0.1, "batch")
    one = ensemble("multiclass", k=1, dropout=0.1, normalization="batch")
    assert [(k, v.shape) for k, v in one.state_dict().items()] == [
        (k, v.shape) for k, v in plain.state_dict().items()
    ]
    assert state_bytes(one) == state_bytes(plain)  # the same draws from the seed
    assert count_parameters(one) == mlp_parameter_count(4, [16, 8], 3, "batch") == 291
    assert not any("ensemble" in type(m).__module__ for m in one.modules())
    x = torch.randn(6, 4)
    assert one.train()(x).shape == (6, 1, 3) and one.eval()(x).shape == (6, 1, 3)
    plain.load_state_dict(one.state_dict())
    assert torch.equal(combine(one(x), "multiclass"), plain.eval()(x)[:, 0])  # passed through


def test_k_1_trains_to_the_same_bytes_twice():
    tr, va = blobs("multiclass")
    model = {"k": 1, "dropout": 0.1}
    runs = [
        fit(ensemble("multiclass", **model), tr, va, "multiclass", quick(epochs=8), 0) for _ in "ab"
    ]
    assert runs[0].history == runs[1].history
    first, second = ({k: v.numpy().tobytes() for k, v in r.state.items()} for r in runs)
    assert first == second


@pytest.mark.parametrize("kind", KINDS)
def test_same_params_give_byte_identical_weights_and_the_members_differ(kind):
    tr, va = blobs("binary")
    runs = [
        fit(ensemble("binary", 4, kind), tr, va, "binary", quick(epochs=8), seed=0) for _ in "ab"
    ]
    first, second = ({k: v.numpy().tobytes() for k, v in r.state.items()} for r in runs)
    assert first == second and runs[0].history == runs[1].history
    model = ensemble("binary", 4, kind)
    model.load_state_dict(runs[0].state)
    members = model.train()(va.x)[:, :, 0]  # no dropout: train mode is deterministic
    assert all(not torch.allclose(members[:, 0], members[:, i]) for i in range(1, 4))
    first_r = next(p for name, p in model.named_parameters() if name.endswith(".r"))
    assert len({tuple(row.sign().tolist()) for row in first_r}) == 4  # random signs at init
    assert runs[0].best_value < 0.3  # it learned (val_loss of the mean probability)


@pytest.mark.parametrize("task", TASKS)
def test_loss_is_the_mean_of_the_members_losses(task):
    tr, _ = blobs(task)
    outputs = torch.randn(10, 3, output_width(task, 3))
    y = tr.y[:10]
    for loss_fn in (make_loss(task), make_loss(task, "balanced" * (task != "regression"), tr.y)):
        each = [batch_loss(loss_fn, outputs[:, i : i + 1], y, task) for i in range(3)]
        torch.testing.assert_close(batch_loss(loss_fn, outputs, y, task), torch.stack(each).mean())


def test_eval_output_is_the_mean_prediction_of_the_members():
    members = torch.tensor([[[30.0], [-30.0], [0.0]], [[200.0], [150.0], [100.0]]])
    p = outputs_to_predictions(members, "binary")[:, 1]
    np.testing.assert_allclose(p, torch.sigmoid(members.double()).mean(dim=1)[:, 0], atol=1e-6)
    assert np.isfinite(combine(-members, "binary").numpy()).all()  # no log(0) at extremes
    members = torch.randn(6, 4, 3) * 5
    proba = outputs_to_predictions(members, "multiclass")
    expected = torch.softmax(members.double(), dim=-1).mean(dim=1)
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    torch.testing.assert_close(combine(members[:, :, :1], "regression"), members[:, :, :1].mean(1))


def test_train_loss_and_val_loss_are_the_same_quantity():
    """Both are the loss of the ensemble's prediction: on the same rows, with dropout off,
    the first epoch's train_loss equals what val_loss measures on them."""
    tr, _ = blobs("multiclass")
    model = ensemble("multiclass", 4, "mini")  # no dropout: train mode computes as eval does
    params = quick(epochs=1, lr=1e-12, batch_size="full")  # one step that changes nothing
    run = fit(model, tr, tr, "multiclass", params, seed=0)
    row = run.history[0]
    assert row["train_loss"] == pytest.approx(row["val_loss"], rel=1e-5)


def test_bad_ensemble_values_name_the_key():
    for value in (0, -3, 1.5, "two"):
        with pytest.raises(PipelineError, match=r"model\.ensemble"):
            parse_params({"model": {"ensemble": value}})
    with pytest.raises(PipelineError, match=r"model\.ensemble_kind.*mini"):
        parse_params({"model": {"ensemble_kind": "full"}})


# --- the stages -------------------------------------------------------------------------------

FAST = {"epochs": 25, "patience": 10, "progress": False, "batch_size": 16}
ENSEMBLE = {"ensemble": 4, "ensemble_kind": "batch"}


def test_saved_ensemble_rebuilds_from_its_card_and_predicts(tmp_path, monkeypatch):
    root = penguins_encoded(tmp_path, monkeypatch)
    settings = {"model": ENSEMBLE, "train": FAST}
    train.run(small_params(settings))
    first = outputs(root)
    card = io.read_json(io.MODEL_CARD)
    assert card["architecture"]["ensemble"] == 4 and card["architecture"]["task"] == "multiclass"
    model = inference.load_model(card)
    assert (
        card["parameters"]
        == count_parameters(model)
        == mlp_parameter_count(len(card["features"]), [32, 16], 3, "none", 4, "batch")
    )
    assert "x 4 (TabM batch ensemble)" in (root / io.TRAIN_LOG_DIR / "report.md").read_text()
    test = io.read_table(io.ENCODED_DIR / "test.parquet")
    expected = inference.predict(model, test, card)
    actual = inference.actual(test, card)
    assert evaluate.score(actual, expected, "multiclass")["accuracy"] >= 0.9

    run_predict("data/raw/penguins.csv", str(tmp_path / "p.csv"))
    written = read_output(tmp_path / "p.csv")
    got = written.loc[test.index, [f"proba_{c}" for c in card["classes"]]].to_numpy(float)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)

    train.run(small_params(settings))
    assert outputs(root) == first  # same params and data: the same bytes
