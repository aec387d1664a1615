"""The training loop: every option runs and learns on tiny data; stopping, restarts, resume."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import ModelParams, SchedulerParams, TrainParams
from pipeline.model.inference import outputs_to_predictions
from pipeline.model.mlp import MLP, count_parameters
from pipeline.model.sizing import output_width
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.data import batch_indices
from pipeline.training.loop import derive_seed, evaluate_epoch, fit, make_loss, train_model
from pipeline.training.options import check_options
from pipeline.training.torch_setup import resolve_device

from ..helpers import blobs, quick, small_train


def build(task: str, seed: int = 0, **model) -> MLP:
    torch.manual_seed(seed)
    return MLP.from_params(
        ModelParams(
            **{"hidden": [16], "dropout": 0.0, "ensemble": 1, "num_embeddings": "none", **model}
        ),
        4,
        output_width(task, 3),
    )


def first_and_last_loss(task: str = "multiclass", model: dict | None = None, **train) -> tuple:
    tr, va = blobs(task)
    history = fit(build(task, **(model or {})), tr, va, task, quick(**train), seed=0).history
    return history[0]["train_loss"], history[-1]["train_loss"]


# --- model ---------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["none", "batch", "layer"])
def test_parameter_count_and_rebuild_from_spec(normalization):
    model = MLP(9, [32, 16], 3, activation="gelu", dropout=0.1, normalization=normalization)
    linear = (9 * 32 + 32) + (32 * 16 + 16) + (16 * 3 + 3)
    assert count_parameters(model) == linear + (0 if normalization == "none" else 2 * (32 + 16))
    rebuilt = MLP.from_spec(model.spec)
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = torch.randn(4, 9)
    assert torch.equal(rebuilt(x), model(x))
    assert count_parameters(MLP(4, [], 1)) == 5  # no hidden layers: a linear model


def test_predictions_are_probabilities():
    proba = outputs_to_predictions(torch.tensor([[[0.0]], [[10.0]]]), "binary")  # (n, k, out)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert proba[1, 1] > 0.99
    proba = outputs_to_predictions(torch.randn(4, 2, 3), "multiclass")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


# --- batches --------------------------------------------------------------------------------


def test_batches_are_a_seeded_permutation():
    cut = list(batch_indices(10, 4, torch.Generator().manual_seed(1), torch.device("cpu")))
    assert [len(b) for b in cut] == [4, 4, 2]
    assert sorted(torch.cat(cut).tolist()) == list(range(10))
    again = list(batch_indices(10, 4, torch.Generator().manual_seed(1), torch.device("cpu")))
    assert all(torch.equal(a, b) for a, b in zip(cut, again, strict=True))


def test_single_row_remainder_is_skipped_when_batches_need_two_rows():
    cut = list(batch_indices(9, 4, torch.Generator(), torch.device("cpu"), min_batch=2))
    assert [len(b) for b in cut] == [4, 4]


@pytest.mark.parametrize("batch_size", [1, 7, "full"])
def test_batch_sizes_from_sgd_to_full_batch_learn(batch_size):
    first, last = first_and_last_loss(batch_size=batch_size, lr=0.01 if batch_size == 1 else 0.05)
    assert last < first


def test_epoch_loss_is_the_mean_over_samples():
    """Batches of 100 and 50 rows: the epoch loss weights each sample once, not each batch."""
    train, val = blobs("regression")
    model = build("regression")
    with torch.no_grad():
        full = float(make_loss("regression")(model(train.x)[:, 0, 0], train.y))
    # lr ~ 0 keeps the weights fixed, so the epoch loss must equal the full-table loss
    result = fit(model, train, val, "regression", quick(epochs=1, batch_size=100, lr=1e-12), 0)
    assert result.history[0]["train_loss"] == pytest.approx(full, rel=1e-5)


# --- options each run and reduce the training loss -------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_fit_learns_each_task(task):
    train, val = blobs(task)
    model = build(task)
    result = fit(model, train, val, task, small_train(epochs=150, lr=0.02, patience=30), seed=0)
    model.load_state_dict(result.state)
    metrics = evaluate_epoch(model, val, make_loss(task), task)
    if task == "regression":
        assert metrics["val_rmse"] < 0.5 * float(val.y.std())
    else:
        assert metrics["val_accuracy"] >= 0.9


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_each_optimizer_reduces_training_loss(optimizer):
    first, last = first_and_last_loss(optimizer=optimizer, lr=0.01)
    assert last < 0.8 * first


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "tanh", "sigmoid"])
@pytest.mark.parametrize("normalization", ["none", "batch", "layer"])
def test_each_activation_and_normalization_learns(activation, normalization):
    model = {"activation": activation, "normalization": normalization, "dropout": 0.1}
    first, last = first_and_last_loss(model=model, lr=0.02)
    assert last < first


@pytest.mark.parametrize(
    ("scheduler", "expected_lr"),
    [
        (SchedulerParams(name="step", step_size=5, gamma=0.5), [0.04] * 5 + [0.02] * 5),
        (SchedulerParams(name="exponential", gamma=0.5), [0.04 * 0.5**e for e in range(10)]),
    ],
)
def test_step_and_exponential_schedules_follow_their_formula(scheduler, expected_lr):
    tr, va = blobs("multiclass")
    params = quick(epochs=10, lr=0.04, scheduler=scheduler)
    history = fit(build("multiclass"), tr, va, "multiclass", params, seed=0).history
    assert [h["lr"] for h in history] == pytest.approx(expected_lr)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_cosine_schedule_anneals_to_min_lr():
    tr, va = blobs("multiclass")
    params = quick(epochs=20, lr=0.05, scheduler=SchedulerParams(name="cosine", min_lr=0.001))
    lrs = [h["lr"] for h in fit(build("multiclass"), tr, va, "multiclass", params, 0).history]
    assert lrs[0] == pytest.approx(0.05) and lrs == sorted(lrs, reverse=True)
    assert lrs[-1] == pytest.approx(0.001, abs=1e-3)


def test_plateau_schedule_decays_when_the_monitor_stalls():
    tr, va = blobs("multiclass")
    scheduler = SchedulerParams(name="plateau", factor=0.5, patience=0)
    params = quick(epochs=40, lr=0.2, scheduler=scheduler)
    history = fit(build("multiclass"), tr, va, "multiclass", params, seed=0).history
    lrs = [h["lr"] for h in history]
    assert min(lrs) < 0.2
    first_drop = next(i for i, lr in enumerate(lrs) if lr < 0.2)
    losses = [h["val_loss"] for h in history]
    assert losses[first_drop - 1] >= min(losses[: first_drop - 1])  # it stalled before decaying


def test_l1_penalty_shrinks_weights():
    tr, va = blobs("multiclass")

    def weight_mass(l1: float) -> float:
        model = build("multiclass")
        fit(model, tr, va, "multiclass", quick(epochs=40, l1=l1, lr=0.02), seed=0)
        return sum(
            float(p.detach().abs().sum()) for n, p in model.named_parameters() if "weight" in n
        )

    assert weight_mass(0.01) < 0.7 * weight_mass(0.0)


def test_gradient_clipping_keeps_a_too_large_step_finite():
    tr, va = blobs("regression")
    tr.y.mul_(1e4)  # large targets: unclipped SGD at this lr explodes
    params = dict(optimizer="sgd", lr=0.05, momentum=0.0, epochs=10)
    with pytest.raises(PipelineError, match="diverged"):
        fit(build("regression"), tr, va, "regression", quick(**params), seed=0)
    result = fit(
        build("regression"), tr, va, "regression", quick(**params, clip_grad_norm=1.0), seed=0
    )
    assert all(math.isfinite(h["train_loss"]) for h in result.history)


def test_balanced_class_weights():
    y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2])
    loss = make_loss("multiclass", "balanced", y)
    expected = torch.tensor([9 / (3 * 6), 9 / (3 * 2), 9 / (3 * 1)])
    torch.testing.assert_close(loss.weight, expected)
    binary = make_loss("binary", "balanced", torch.tensor([0.0, 0.0, 0.0, 1.0]))
    torch.testing.assert_close(binary.pos_weight, torch.tensor([3.0]))
    first, last = first_and_last_loss(class_weights="balanced")
    assert last < first


# --- early stopping, monitors, restarts -----------------------------------------------------


def test_early_stopping_restores_the_best_epoch():
    train, val = blobs("multiclass")
    model = build("multiclass", hidden=[64, 64])
    params = small_train(epochs=300, lr=0.05, patience=5)
    result = fit(model, train, val, "multiclass", params, seed=0)
    assert result.stop_reason.startswith("early stopping") and len(result.history) < 300
    assert len(result.history) == result.best_epoch + params.patience
    best_val = min(h["val_loss"] for h in result.history)
    assert result.history[result.best_epoch - 1]["val_loss"] == best_val
    model.load_state_dict(result.state)
    assert evaluate_epoch(model, val, make_loss("multiclass"), "multiclass")[
        "val_loss"
    ] == pytest.approx(best_val, rel=1e-6)


def test_without_early_stopping_all_epochs_run_and_the_last_is_kept():
    tr, va = blobs("multiclass")
    model = build("multiclass")
    result = fit(model, tr, va, "multiclass", quick(epochs=12), seed=0)
    assert len(result.history) == 12 and result.best_epoch == 12
    assert result.stop_reason == "reached train.epochs (12)"
    assert all(torch.equal(result.state[k], v) for k, v in model.state_dict().items())


def test_accuracy_monitor_picks_the_highest_accuracy_epoch():
    tr, va = blobs("multiclass")
    params = small_train(epochs=60, lr=0.05, patience=10, monitor="val_accuracy")
    result = fit(build("multiclass"), tr, va, "multiclass", params, seed=0)
    accuracies = [h["val_accuracy"] for h in result.history]
    assert result.best_value == max(accuracies)
    assert result.best_epoch == accuracies.index(max(accuracies)) + 1


def test_restarts_train_independent_models_and_keep_the_best():
    tr, va = blobs("multiclass")
    params = small_train(epochs=30, lr=0.05, patience=5, restarts=3)
    result = train_model(lambda: build("multiclass", seed=99), tr, va, "multiclass", params, 7)
    assert [r.seed for r in result.runs] == [7, derive_seed(7, 1), derive_seed(7, 2)]
    assert len({r.best_value for r in result.runs}) == 3  # different inits, different results
    assert result.chosen.best_value == min(r.best_value for r in result.runs)


def test_nan_loss_is_caught_with_epoch_and_fix():
    train, val = blobs("regression")
    train.y[:] = 1e30
    with pytest.raises(PipelineError, match=r"at epoch 1 .*Lower train\.lr"):
        fit(build("regression"), train, val, "regression", small_train(epochs=5), seed=0)


# --- resume ---------------------------------------------------------------------------------


class Killed(Exception):
    pass


def test_resume_after_a_kill_gives_identical_weights(tmp_path):
    tr, va = blobs("multiclass")
    params = small_train(
        epochs=25,
        lr=0.05,
        patience=8,
        restarts=2,
        batch_size=16,
        scheduler=SchedulerParams(name="plateau", patience=2),
    )

    def builder():
        return build("multiclass", hidden=[16, 8], dropout=0.2, normalization="batch")

    clean = train_model(builder, tr, va, "multiclass", params, seed=5)

    checkpoint = Checkpoint(tmp_path / "ckpt.pt", "same")

    def kill(restart, row, seconds):
        if restart == 1 and row["epoch"] == 6:
            raise Killed

    with pytest.raises(Killed):
        train_model(
            builder, tr, va, "multiclass", params, seed=5, on_epoch=kill, checkpoint=checkpoint
        )
    assert checkpoint.load()["restart"] == 1 and checkpoint.load()["fit"]["epoch"] == 6
    torch.manual_seed(12345)  # the resumed process starts with unrelated RNG state
    resumed = train_model(
        builder,
        tr,
        va,
        "multiclass",
        params,
        seed=5,
        checkpoint=checkpoint,
        saved=checkpoint.load(),
    )
    for a, b in zip(clean.runs, resumed.runs, strict=True):
        assert a.history == b.history
        assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)


def test_checkpoint_of_other_params_is_ignored(tmp_path):
    Checkpoint(tmp_path / "c.pt", "old").save({"x": torch.ones(1)})
    assert Checkpoint(tmp_path / "c.pt", "new").load() is None
    assert Checkpoint(tmp_path / "c.pt", "old").load()["x"].item() == 1.0


# --- params that cannot apply, devices ------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "task", "message"),
    [
        ({"train": {"monitor": "val_rmse"}}, "multiclass", "train.monitor: 'val_rmse'"),
        ({"train": {"monitor": "val_accuracy"}}, "regression", "allowed: val_loss, val_rmse"),
        ({"train": {"class_weights": "balanced"}}, "regression", "train.class_weights"),
        (
            {"train": {"batch_size": 1}, "model": {"normalization": "batch"}},
            "binary",
            "train.batch_size: 1 cannot be used with model.normalization: batch",
        ),
    ],
)
def test_options_that_do_not_fit_the_task_are_rejected(raw, task, message):
    with pytest.raises(PipelineError, match=message):
        check_options(parse_params(raw), task)


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(PipelineError, match=r"train\.device: 'cuda' requested"):
            resolve_device("cuda")


@given(st.integers(min_value=1, max_value=50_000_000))
def test_auto_batch_keeps_256_on_small_tables_and_epochs_near_256_steps(rows):
    """train.batch_size: auto is 256 up to 65,536 train rows (the suite's results unchanged);
    past that the batch doubles with the rows, so an epoch takes 128-256 steps until the cap,
    and the learning rate grows with the square root of the batch."""
    params = TrainParams(batch_size="auto", lr=0.001)
    batch, lr = params.rows_per_batch(rows), params.learning_rate(rows)
    if rows <= 65_536:
        assert (batch, lr) == (min(256, rows), 0.001)
    else:
        assert batch in (512, 1024, 2048, 4096, 8192)
        assert math.ceil(rows / batch) <= 256 or batch == 8192
        assert math.ceil(rows / batch) > 128
        assert lr == pytest.approx(0.001 * math.sqrt(batch / 256))
    assert TrainParams(batch_size=256, lr=0.001).learning_rate(rows) == 0.001
