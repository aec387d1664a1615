"""The training loop: one run (`fit`) and the best of `train.restarts` runs (`train_model`).

Every option the course teaches is a param: optimizer, L1/L2, gradient clipping, class weights,
LR schedule, early stopping on a monitor, random restarts. Each epoch is a seeded permutation of
the train rows cut into batches (`pipeline.training.data`). After every epoch the complete state
goes to a `save` callback (the checkpoint), and handing it back as `resume` continues exactly
where it stopped, to the same bytes. In a `World` of several processes each takes its share of
every batch and DistributedDataParallel averages the gradients (`pipeline.training.distributed`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.core.errors import PipelineError
from pipeline.core.params import TrainParams
from pipeline.core.task import lower_is_better
from pipeline.model.ensemble import combine, per_member_targets
from pipeline.training import distributed, torch_setup
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.data import Tensors, TrainData
from pipeline.training.distributed import SINGLE, World

EpochHook = Callable[[int, dict[str, float], float], None]  # (restart, row, epoch seconds)


@dataclass
class RunResult:
    """One training run (one restart): its best weights and how it went."""

    restart: int
    seed: int
    best_epoch: int
    best_value: float
    stop_reason: str
    history: list[dict[str, float]]
    state: dict[str, torch.Tensor] = field(repr=False)

    def summary(self, monitor: str) -> dict[str, Any]:
        return {
            "restart": self.restart,
            "seed": self.seed,
            "best_epoch": self.best_epoch,
            monitor: self.best_value,
            "epochs_run": len(self.history),
            "stop_reason": self.stop_reason,
        }


@dataclass
class LoopState:
    """Everything of one run that changes from epoch to epoch; checkpointed with the model."""

    best_value: float
    epoch: int = 0  # the last finished epoch
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)
    waited: int = 0  # epochs since the monitor last improved
    history: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (a checkpoint is read back with weights_only=True)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> LoopState:
        return cls(**{f.name: saved[f.name] for f in fields(cls)})


@dataclass
class TrainResult:
    """Every restart's run, and the one chosen by the monitor's best value."""

    runs: list[RunResult]
    chosen: RunResult


def make_loss(task: str, class_weights: str = "none", y: torch.Tensor | None = None) -> nn.Module:
    """BCE-with-logits, cross-entropy or MSE; 'balanced' weights classes by n / (k * n_c)."""
    if class_weights == "balanced" and y is not None and task != "regression":
        if task == "binary":
            positives = float(y.sum())
            return nn.BCEWithLogitsLoss(pos_weight=y.new_tensor([(len(y) - positives) / positives]))
        counts = torch.bincount(y).float()
        weights = torch.where(counts > 0, len(y) / (len(counts) * counts), 0.0)
        return nn.CrossEntropyLoss(weight=weights)
    if task == "binary":
        return nn.BCEWithLogitsLoss()
    if task == "multiclass":
        return nn.CrossEntropyLoss()
    return nn.MSELoss()


def make_optimizer(model: nn.Module, params: TrainParams, rows: int) -> torch.optim.Optimizer:
    """The optimizer at train.lr (scaled with the batch under batch_size: auto; `rows`: the
    train rows)."""
    common = {"lr": params.learning_rate(rows), "weight_decay": params.weight_decay}
    if params.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), **common)
    if params.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), **common)
    if params.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), momentum=params.momentum, **common)
    return torch.optim.RMSprop(model.parameters(), momentum=params.momentum, **common)


def make_scheduler(optimizer: torch.optim.Optimizer, params: TrainParams) -> Any:
    s = params.scheduler
    sched = torch.optim.lr_scheduler
    if s.name == "step":
        return sched.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma)
    if s.name == "exponential":
        return sched.ExponentialLR(optimizer, gamma=s.gamma)
    if s.name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=params.epochs, eta_min=s.min_lr)
    if s.name == "plateau":
        mode = "min" if lower_is_better(params.monitor) else "max"
        return sched.ReduceLROnPlateau(
            optimizer, mode=mode, factor=s.factor, patience=s.patience, min_lr=s.min_lr
        )
    return None


def _loss_input(outputs: torch.Tensor, task: str) -> torch.Tensor:
    return outputs if task == "multiclass" else outputs[:, 0]


def batch_loss(
    loss_fn: nn.Module, outputs: torch.Tensor, y: torch.Tensor, task: str
) -> torch.Tensor:
    """The training objective on (B, k, out) member outputs: the mean over members of each
    member's loss (TabM trains the members, not their mean)."""
    outputs, y = per_member_targets(outputs, y)
    return loss_fn(_loss_input(outputs, task), y)


def prediction_loss(
    loss_fn: nn.Module, outputs: torch.Tensor, y: torch.Tensor, task: str
) -> torch.Tensor:
    """The loss of the ensemble's prediction (`combine` of the members): what train_loss and
    val_loss report, so the two are the same quantity on different rows."""
    return loss_fn(_loss_input(combine(outputs, task), task), y)


def evaluate_epoch(
    model: nn.Module, data: Tensors, loss_fn: nn.Module, task: str, target_scale: float = 1.0
) -> dict[str, float]:
    """val_loss plus the task's metrics, in eval mode without gradients.

    `target_scale` turns errors on a standardized regression target back into its units."""
    model.eval()
    with torch.no_grad():
        members = model(data.x)
        outputs = combine(members, task)
        metrics = {"val_loss": float(prediction_loss(loss_fn, members, data.y, task))}
        if task == "multiclass":
            metrics["val_accuracy"] = float((outputs.argmax(dim=1) == data.y).float().mean())
        elif task == "binary":
            metrics["val_accuracy"] = float(((outputs[:, 0] > 0).float() == data.y).float().mean())
        else:
            error = outputs[:, 0] - data.y
            metrics["val_rmse"] = math.sqrt(float((error**2).mean())) * target_scale
            metrics["val_mae"] = float(error.abs().mean()) * target_scale
    return metrics


def derive_seed(seed: int, restart: int) -> int:
    """Restart 0 uses the seed itself; later restarts get independent seeds derived from it."""
    if restart == 0:
        return seed
    return int(np.random.SeedSequence([seed, restart]).generate_state(1)[0])


def _l1_penalty(model: nn.Module) -> torch.Tensor:
    return sum(p.abs().sum() for name, p in model.named_parameters() if name.endswith("weight"))


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").clone() for k, v in state.items()}


def fit(
    model: nn.Module,
    train: TrainData,
    val: Tensors,
    task: str,
    params: TrainParams,
    seed: int,
    *,
    target_scale: float = 1.0,
    restart: int = 0,
    on_epoch: EpochHook | None = None,
    save: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    world: World = SINGLE,
) -> RunResult:
    """Train one model; return the monitor's best epoch (or the last, without early stopping).

    `save` receives the complete training state after every epoch; passing such a state back
    as `resume` continues exactly where it left off. In a `world` of several processes each
    takes its share of every (global) batch and DistributedDataParallel averages the
    gradients; every process then holds the same model and takes the same decisions."""
    device = train.device
    loss_fn = make_loss(task, params.class_weights, train.y).to(device)
    n = len(train.y)
    optimizer = make_optimizer(model, params, n)
    scheduler = make_scheduler(optimizer, params)
    generator = torch.Generator().manual_seed(seed)
    batch_size = params.rows_per_batch(n)
    min_batch = 2 if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()) else 1
    minimize = lower_is_better(params.monitor)
    precision = params.precision if device.type == "cuda" else "fp32"  # the CPU runs fp32
    state = LoopState(best_value=math.inf if minimize else -math.inf)
    if resume is not None:
        state = LoopState.from_dict(resume)
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(resume["scheduler"])
        generator.set_state(resume["generator"])
        torch.set_rng_state(resume["torch_rng"])
        if resume.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
    step_model = model if world.size == 1 else distributed.wrap(model, device)

    stop_reason = f"reached train.epochs ({params.epochs})"
    for epoch in range(state.epoch + 1, params.epochs + 1):
        started = time.perf_counter()
        if world.size > 1:
            distributed.reseed(seed, epoch, world)
        model.train()
        losses, sizes = [], []
        for batch_x, batch_y in train.batches(batch_size, generator, min_batch * world.size):
            # all processes draw the same batches, each takes a share
            x, y = world.shard(batch_x), world.shard(batch_y)
            optimizer.zero_grad(set_to_none=True)
            with torch_setup.autocast(device, precision):
                members = step_model(x)
                loss = batch_loss(loss_fn, members, y, task)
            objective = loss + params.l1 * _l1_penalty(model) if params.l1 else loss
            if world.size > 1:  # DDP averages over processes: weigh each by its share's size
                objective = objective * (len(y) * world.size / len(batch_y))
            objective.backward()
            if params.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), params.clip_grad_norm)
            optimizer.step()
            # train_loss is val_loss's quantity, the ensemble's prediction's; kept as tensors,
            # no per-step sync
            with torch.no_grad(), torch_setup.autocast(device, precision):
                losses.append(prediction_loss(loss_fn, members.detach(), y, task))
            sizes.append(len(y))
        # epoch loss = mean over samples, not over batches
        weights = torch.tensor(sizes, dtype=torch.float32, device=device)
        if world.size == 1:
            train_loss = float(torch.stack(losses) @ weights) / sum(sizes)
        else:
            train_loss = distributed.global_mean(torch.stack(losses) @ weights, sum(sizes))
            distributed.sync_buffers(model)
        metrics = evaluate_epoch(model, val, loss_fn, task, target_scale)
        if world.size > 1:
            metrics = distributed.from_main(metrics)
        values = {"train_loss": train_loss, **metrics}
        bad = next((k for k, v in values.items() if not math.isfinite(v)), None)
        if bad is not None:
            raise PipelineError(
                f"train: {bad} became {values[bad]} at epoch {epoch} (restart {restart}); the "
                f"model diverged. Lower train.lr (now {params.lr:g}) or set "
                f"train.clip_grad_norm (e.g. 1.0)"
            )
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            **metrics,
            "lr": optimizer.param_groups[0]["lr"],
        }
        state.history.append(row)
        value = metrics[params.monitor]
        better = (
            value < state.best_value - params.min_delta
            if minimize
            else (value > state.best_value + params.min_delta)
        )
        if better or not params.early_stopping:
            state.best_value, state.best_epoch, state.waited = value, epoch, 0
            state.best_state = _cpu_copy(model.state_dict())
        else:
            state.waited += 1
        if scheduler is not None:
            scheduler.step(value) if params.scheduler.name == "plateau" else scheduler.step()
        state.epoch = epoch
        if save is not None:
            save(
                {
                    **state.as_dict(),
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "generator": generator.get_state(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
                }
            )
        if on_epoch is not None:
            on_epoch(restart, row, time.perf_counter() - started)
        if params.early_stopping and state.waited >= params.patience:
            stop_reason = (
                f"early stopping: {params.monitor} did not improve by more than "
                f"{params.min_delta:g} for {params.patience} epochs"
            )
            break
    return RunResult(
        restart,
        seed,
        state.best_epoch,
        state.best_value,
        stop_reason,
        state.history,
        state.best_state,
    )


def train_model(
    build: Callable[[], nn.Module],
    train: TrainData,
    val: Tensors,
    task: str,
    params: TrainParams,
    seed: int,
    *,
    target_scale: float = 1.0,
    on_epoch: EpochHook | None = None,
    checkpoint: Checkpoint | None = None,
    saved: dict[str, Any] | None = None,
    world: World = SINGLE,
) -> TrainResult:
    """Train `params.restarts` models from derived seeds; keep the best by the monitor.

    `checkpoint` receives the state after every epoch; `saved` (what `checkpoint.load()`
    returned) continues a killed run from there."""
    runs = [RunResult(**r) for r in saved["finished"]] if saved else []
    for restart in range(len(runs), params.restarts):
        run_seed = derive_seed(seed, restart)
        torch.manual_seed(run_seed)  # weight init (and dropout masks) follow the run's seed
        model = build()
        save = None
        if checkpoint is not None:
            finished = [asdict(r) for r in runs]

            def save(
                state: dict[str, Any], restart: int = restart, finished: list = finished
            ) -> None:
                checkpoint.save({"finished": finished, "restart": restart, "fit": state})

        resume = saved["fit"] if saved and saved["restart"] == restart else None
        runs.append(
            fit(
                model,
                train,
                val,
                task,
                params,
                run_seed,
                target_scale=target_scale,
                restart=restart,
                on_epoch=on_epoch,
                save=save,
                resume=resume,
                world=world,
            )
        )
    values = [r.best_value for r in runs]
    chosen = int(np.argmin(values) if lower_is_better(params.monitor) else np.argmax(values))
    return TrainResult(runs, runs[chosen])
