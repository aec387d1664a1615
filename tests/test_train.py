import numpy as np
import pytest
import torch

from pipeline.config import ModelParams, TrainParams
from pipeline.errors import PipelineError
from pipeline.model import MLP, count_parameters, output_size, outputs_to_predictions
from pipeline.train import Tensors, batch_indices, evaluate_epoch, fit, make_loss, resolve_device


def blobs(task: str, n: int = 200, seed: int = 0) -> tuple[Tensors, Tensors]:
    """Two well-separated groups (or a linear target), split 150/50."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    if task == "regression":
        y = x @ torch.tensor([1.0, -2.0, 0.5, 0.0])
    elif task == "binary":
        y = (x[:, 0] + x[:, 1] > 0).float()
    else:
        y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return Tensors(x[:150], y[:150]), Tensors(x[150:], y[150:])


def build(task: str, hidden=(16,), dropout=0.0, seed=0) -> MLP:
    torch.manual_seed(seed)
    return MLP.from_params(
        ModelParams(hidden=list(hidden), dropout=dropout), 4, output_size(task, 3)
    )


def test_mlp_layers_and_parameter_count():
    model = MLP(in_features=9, hidden=[32, 16], out_features=3, activation="gelu", dropout=0.1)
    assert count_parameters(model) == (9 * 32 + 32) + (32 * 16 + 16) + (16 * 3 + 3)
    assert model(torch.zeros(5, 9)).shape == (5, 3)
    rebuilt = MLP.from_spec(model.spec)
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = torch.randn(4, 9)
    assert torch.equal(rebuilt(x), model(x))
    assert count_parameters(MLP(4, [], 1)) == 5  # no hidden layers: a linear model


def test_predictions_are_probabilities():
    proba = outputs_to_predictions(torch.tensor([[0.0], [10.0]]), "binary")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[1, 1] > 0.99
    proba = outputs_to_predictions(torch.randn(4, 3), "multiclass")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_batches_are_a_seeded_permutation():
    cut = list(batch_indices(10, 4, torch.Generator().manual_seed(1), torch.device("cpu")))
    assert [len(b) for b in cut] == [4, 4, 2]
    assert sorted(torch.cat(cut).tolist()) == list(range(10))
    again = list(batch_indices(10, 4, torch.Generator().manual_seed(1), torch.device("cpu")))
    assert all(torch.equal(a, b) for a, b in zip(cut, again, strict=True))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_fit_learns_each_task(task):
    train, val = blobs(task)
    model = build(task)
    result = fit(model, train, val, task, TrainParams(epochs=150, lr=0.02, patience=30), seed=0)
    model.load_state_dict(result.state)
    _, metric = evaluate_epoch(model, val, make_loss(task), task)
    if task == "regression":
        assert metric < 0.5 * float(val.y.std())  # RMSE well below predicting the mean
    else:
        assert metric >= 0.9


def test_early_stopping_restores_the_best_epoch():
    train, val = blobs("multiclass")
    model = build("multiclass", hidden=(64, 64))
    params = TrainParams(epochs=300, lr=0.05, patience=5)
    result = fit(model, train, val, "multiclass", params, seed=0)
    assert result.stopped_early and len(result.history) < 300
    assert len(result.history) == result.best_epoch + params.patience
    best_val = min(h["val_loss"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_loss"] == best_val
    model.load_state_dict(result.state)
    loss, _ = evaluate_epoch(model, val, make_loss("multiclass"), "multiclass")
    assert loss == pytest.approx(best_val, rel=1e-6)


def test_epoch_loss_is_the_mean_over_samples():
    """Batches of 100 and 50 rows: the epoch loss weights each sample once, not each batch."""
    train, val = blobs("regression")  # 150 train rows
    model = build("regression")
    with torch.no_grad():
        full = float(make_loss("regression")(model(train.x)[:, 0], train.y))
    # lr ~ 0 keeps the weights fixed, so the epoch loss must equal the full-table loss
    result = fit(
        model, train, val, "regression", TrainParams(epochs=1, batch_size=100, lr=1e-12), seed=0
    )
    assert result.history[0]["train_loss"] == pytest.approx(full, rel=1e-5)


def test_same_seed_gives_identical_weights():
    train, val = blobs("binary")
    params = TrainParams(epochs=20)
    first = fit(build("binary", dropout=0.2), train, val, "binary", params, seed=3).state
    again = fit(build("binary", dropout=0.2), train, val, "binary", params, seed=3).state
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_divergence_stops_with_epoch_and_fix():
    train, val = blobs("regression")
    train.y[:] = 1e30
    with pytest.raises(PipelineError, match=r"at epoch 1.*Lower train\.lr"):
        fit(build("regression"), train, val, "regression", TrainParams(epochs=5), seed=0)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(PipelineError, match=r"train\.device: 'cuda' requested"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_on_cuda():
    train, val = blobs("binary")
    device = torch.device("cuda")
    train, val = (
        Tensors(train.x.to(device), train.y.to(device)),
        Tensors(val.x.to(device), val.y.to(device)),
    )
    model = build("binary").to(device)
    result = fit(model, train, val, "binary", TrainParams(epochs=30, device="cuda"), seed=0)
    assert all(t.device.type == "cpu" for t in result.state.values())
    model.load_state_dict(result.state)
    _, accuracy = evaluate_epoch(model, val, make_loss("binary"), "binary")
    assert accuracy >= 0.85
