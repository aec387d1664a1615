"""train: fit the MLP on the encoded train rows, choosing the best epoch on the val rows.

The whole table sits in tensors on the device once; each epoch is a seeded permutation cut into
batches (no per-sample Dataset indexing). A table over `train.memory_mb` (or `train.data:
stream`) is read from disk each epoch instead, through a seeded shuffle buffer
(pipeline.train_stream); val stays resident. Every option the course teaches is a param: optimizer,
L1/L2, gradient clipping, class weights, LR schedule, early stopping on a monitor, random
restarts. After every epoch the full training state is checkpointed outside DVC's outputs, so
a killed stage resumes where it stopped and ends with the same bytes as an uninterrupted run.
With `train.processes: N` (or under torchrun) N processes share every batch through
DistributedDataParallel (pipeline.distributed); rank 0 logs, checkpoints and writes outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import save_file
from torch import nn

from pipeline import distributed, io, torch_setup
from pipeline.config import Params, TrainParams, load_params
from pipeline.distributed import SINGLE, World
from pipeline.ensemble import per_member_targets
from pipeline.errors import PipelineError
from pipeline.feature_layout import auto_note, embedding_spec, feature_layout
from pipeline.model import MLP, count_parameters, output_size
from pipeline.preprocess import LABEL, target_scale
from pipeline.task import lower_is_better
from pipeline.train_stream import StreamedTable, choose_data

# Which tasks report each monitor (its direction: pipeline.task.lower_is_better).
TASK_MONITORS = {
    "binary": ("val_loss", "val_accuracy"),
    "multiclass": ("val_loss", "val_accuracy"),
    "regression": ("val_loss", "val_rmse", "val_mae"),
}

EpochHook = Callable[[int, dict[str, float], float], None]  # (restart, row, epoch seconds)


@dataclass
class Tensors:
    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_table(cls, table: pd.DataFrame, task: str, device: torch.device) -> Tensors:
        x = torch.tensor(table.drop(columns=[LABEL]).to_numpy(dtype=np.float32))
        dtype = torch.long if task == "multiclass" else torch.float32
        y = torch.tensor(table[LABEL].to_numpy(), dtype=dtype)
        return cls(x.to(device), y.to(device))

    @property
    def device(self) -> torch.device:
        return self.x.device

    def batches(
        self, batch_size: int, generator: torch.Generator, min_batch: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch: (x, y) of each batch of a seeded permutation (`batch_indices`)."""
        for idx in batch_indices(len(self.y), batch_size, generator, self.device, min_batch):
            yield self.x[idx], self.y[idx]


TrainData = Tensors | StreamedTable  # train.data: memory | stream


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
class TrainResult:
    runs: list[RunResult]
    best: int  # index into runs

    @property
    def chosen(self) -> RunResult:
        return self.runs[self.best]


def resolve_device(name: str) -> torch.device:
    """train.device -> a torch device; 'auto' prefers CUDA, then MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PipelineError(
            f"train.device: {name!r} requested but CUDA is not available here; use cpu or auto"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise PipelineError("train.device: 'mps' requested but MPS is not available; use cpu")
    return torch.device(name)


def check_options(params: Params, task: str) -> None:
    """Reject option combinations that cannot work for this task and model."""
    train = params.train
    if train.monitor not in TASK_MONITORS[task]:
        raise PipelineError(
            f"train.monitor: {train.monitor!r} does not apply to a {task} task; "
            f"allowed: {', '.join(TASK_MONITORS[task])}"
        )
    if train.class_weights != "none" and task == "regression":
        raise PipelineError(
            "train.class_weights: 'balanced' applies to classification, the task is regression"
        )
    if params.model.normalization == "batch" and train.batch_size == 1:
        raise PipelineError(
            "train.batch_size: 1 cannot be used with model.normalization: batch "
            "(batch statistics need at least 2 rows); use layer normalization or larger batches"
        )


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


def make_optimizer(model: nn.Module, params: TrainParams) -> torch.optim.Optimizer:
    common = {"lr": params.lr, "weight_decay": params.weight_decay}
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


def batch_indices(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    min_batch: int = 1,
) -> Iterator[torch.Tensor]:
    """One epoch: a seeded permutation of row indices cut into consecutive batches.
    A last batch smaller than `min_batch` is skipped (batch norm needs 2 rows)."""
    order = torch.randperm(n, generator=generator).to(device)
    for batch in order.split(batch_size):
        if len(batch) >= min_batch:
            yield batch


def _loss_input(outputs: torch.Tensor, task: str) -> torch.Tensor:
    return outputs if task == "multiclass" else outputs[:, 0]


def batch_loss(
    loss_fn: nn.Module, outputs: torch.Tensor, y: torch.Tensor, task: str
) -> torch.Tensor:
    """The loss of (B, out) outputs; of an ensemble's (B, k, out) member outputs (training
    mode), the mean over members of each member's loss (TabM)."""
    if outputs.dim() == 3:
        outputs, y = per_member_targets(outputs, y)
    return loss_fn(_loss_input(outputs, task), y)


def evaluate_epoch(
    model: nn.Module, data: Tensors, loss_fn: nn.Module, task: str, target_scale: float = 1.0
) -> dict[str, float]:
    """val_loss plus the task's metrics, in eval mode without gradients.

    `target_scale` turns errors on a standardized regression target back into its units."""
    model.eval()
    with torch.no_grad():
        outputs = model(data.x)
        metrics = {"val_loss": float(loss_fn(_loss_input(outputs, task), data.y))}
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
    optimizer = make_optimizer(model, params)
    scheduler = make_scheduler(optimizer, params)
    generator = torch.Generator().manual_seed(seed)
    n = len(train.y)
    batch_size = n if params.batch_size == "full" else params.batch_size
    min_batch = 2 if any(isinstance(m, nn.BatchNorm1d) for m in model.modules()) else 1
    minimize = lower_is_better(params.monitor)
    precision = params.precision if device.type == "cuda" else "fp32"  # the CPU runs fp32
    s: dict[str, Any] = {  # everything that changes from epoch to epoch
        "epoch": 0,
        "best_value": math.inf if minimize else -math.inf,
        "best_epoch": 0,
        "best_state": {},
        "waited": 0,
        "history": [],
    }
    if resume is not None:
        s = {k: resume[k] for k in s}
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
    for epoch in range(s["epoch"] + 1, params.epochs + 1):
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
                loss = batch_loss(loss_fn, step_model(x), y, task)
            objective = loss + params.l1 * _l1_penalty(model) if params.l1 else loss
            if world.size > 1:  # DDP averages over processes: weigh each by its share's size
                objective = objective * (len(y) * world.size / len(batch_y))
            objective.backward()
            if params.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), params.clip_grad_norm)
            optimizer.step()
            losses.append(loss.detach())  # no per-step sync or extra tensor ops
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
        s["history"].append(row)
        value = metrics[params.monitor]
        better = (
            value < s["best_value"] - params.min_delta
            if minimize
            else (value > s["best_value"] + params.min_delta)
        )
        if better or not params.early_stopping:
            s.update(
                best_value=value,
                best_epoch=epoch,
                waited=0,
                best_state=_cpu_copy(model.state_dict()),
            )
        else:
            s["waited"] += 1
        if scheduler is not None:
            scheduler.step(value) if params.scheduler.name == "plateau" else scheduler.step()
        s["epoch"] = epoch
        if save is not None:
            save(
                {
                    **s,
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
        if params.early_stopping and s["waited"] >= params.patience:
            stop_reason = (
                f"early stopping: {params.monitor} did not improve by more than "
                f"{params.min_delta:g} for {params.patience} epochs"
            )
            break
    return RunResult(
        restart, seed, s["best_epoch"], s["best_value"], stop_reason, s["history"], s["best_state"]
    )


class Checkpoint:
    """The training state after the last finished epoch, kept outside DVC's outputs.

    Read with `weights_only=True` (tensors and plain values only; nothing executes). A state
    whose fingerprint (params and input data) differs from the current run is ignored."""

    def __init__(self, path: Any, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, weights_only=True, map_location="cpu")
        except Exception as exc:  # not ours, damaged, or a pickle wanting code: never run it
            print(
                f"train: ignoring {self.path} (not a checkpoint that can be read as plain "
                f"data: {type(exc).__name__}); starting over",
                file=sys.stderr,
            )
            return None
        if not isinstance(saved, dict) or saved.get("fingerprint") != self.fingerprint:
            print(f"train: ignoring {self.path} (it belongs to other params or data)")
            return None
        return saved["state"]

    def save(self, state: dict[str, Any]) -> None:
        with io.atomic_path(self.path) as tmp:
            torch.save({"fingerprint": self.fingerprint, "state": state}, tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


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
    best = int(np.argmin(values) if lower_is_better(params.monitor) else np.argmax(values))
    return TrainResult(runs, best)


def fingerprint(params: Params, paths: list[Any]) -> str:
    """What a checkpoint must match to be resumed: the params that shape training, the data."""
    digest = hashlib.sha256()
    shaping = params.train.model_dump(exclude={"resume", "progress"})
    digest.update(
        json.dumps([params.seed, params.model.model_dump(), shaping], sort_keys=True).encode()
    )
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _named_nondeterminism(params: Params, device: torch.device) -> Iterator[None]:
    """Torch refuses an op with no deterministic kernel (on CUDA): say so as a PipelineError
    naming the settings in play, rather than training to bytes that differ run to run."""
    try:
        yield
    except RuntimeError as exc:
        if not torch_setup.nondeterministic_op(exc):
            raise
        op = str(exc).split(" does not have")[0].strip()
        model, train = params.model, params.train
        raise PipelineError(
            f"train: {op} has no deterministic implementation on {device.type}, so this run "
            f"could not be reproduced byte for byte (train.device {train.device!r}, "
            f"train.precision {train.precision!r}, train.class_weights {train.class_weights!r}, "
            f"model.normalization {model.normalization!r}); change one of these or train on "
            f"the cpu"
        ) from None


def check_processes(params: Params, rows: int, processes: int) -> None:
    """Each process takes an equal share of every batch, so a batch needs a row per process
    (two with batch normalization, whose statistics each process computes on its share)."""
    if processes == 1:
        return
    per = 2 if params.model.normalization == "batch" else 1
    batch = rows if params.train.batch_size == "full" else min(params.train.batch_size, rows)
    if batch < processes * per:
        source = f"all {rows} train rows" if batch == rows else "train.batch_size"
        norm = ", as batch normalization needs 2" if per == 2 else ""
        raise PipelineError(
            f"train.processes: {processes} processes split every batch, so a batch needs at "
            f"least {processes * per} rows ({per} per process{norm}), but a batch holds "
            f"{batch} ({source}); lower train.processes or raise train.batch_size"
        )


def launch(params: Params) -> None:
    """train.processes > 1: check what can fail before any worker starts, then run them."""
    device = resolve_device(params.train.device)
    distributed.check_device(params.train.processes, device, params.train.device)
    check_options(params, io.read_json(io.PREPROCESSOR)["task"])
    rows = io.table_rows(io.ENCODED_DIR / "train.parquet")
    check_processes(params, rows, params.train.processes)
    distributed.launch(params)


def run(params: Params) -> None:
    """One process; or the launcher of train.processes workers; or one of those workers
    (started by that launcher, or by an external torchrun)."""
    world = distributed.from_env()
    if world is None and params.train.processes > 1:
        launch(params)
        return
    world = world or SINGLE
    with distributed.reporting(world):
        if world.size != params.train.processes:
            raise PipelineError(
                f"train.processes: {params.train.processes}, but torchrun started "
                f"{world.size} processes (WORLD_SIZE); set train.processes: {world.size} so "
                f"the params record how the model was trained"
            )
        train_stage(params, world)


def train_stage(params: Params, world: World) -> None:
    from pipeline.train_log import EpochLogger, write_train_reports  # tensorboard, dvclive

    torch_setup.configure(params.train.threads, params.train.precision)
    device = resolve_device(params.train.device)  # before any work: a clear message, not torch's
    distributed.check_device(world.size, device, params.train.device)
    device = distributed.worker_device(world, device)
    warnings = params.train.warnings()
    if params.train.precision != "fp32" and device.type != "cuda":
        warnings.append(
            f"train.precision {params.train.precision!r} applies on CUDA only; training on "
            f"{device.type} runs in fp32"
        )
    for warning in warnings if world.main else []:
        print(f"train: warning: {warning}", file=sys.stderr)
    encoder = io.read_json(io.PREPROCESSOR)
    task = encoder["task"]
    check_options(params, task)
    layout = feature_layout(encoder)
    embedding_spec(params.model, layout)  # a params combination that cannot apply stops here
    inputs = [io.PREPROCESSOR, io.ENCODED_DIR / "train.parquet", io.ENCODED_DIR / "val.parquet"]
    if not inputs[1].exists():
        io.read_table(inputs[1])  # the usual message for a missing input
    train: TrainData
    if choose_data(params.train, inputs[1]) == "stream":
        train = StreamedTable(inputs[1], task, device, params.train.shuffle_rows)
    else:
        train = Tensors.from_table(io.read_table(inputs[1]), task, device)
    check_processes(params, len(train.y), world.size)
    batch_size = params.train.batch_size
    if batch_size != "full" and batch_size > len(train.y) and world.main:
        # Not an error: the same params must work on a smaller table (data.path is the only
        # switch); a batch larger than the split is the whole split, as `full` would be.
        print(
            f"train: warning: train.batch_size {batch_size} is larger than the "
            f"{len(train.y)} train rows; each epoch is one full batch (as batch_size: full)",
            file=sys.stderr,
        )
    val = Tensors.from_table(io.read_table(inputs[2]), task, device)
    n_classes = len(encoder["classes"]) if encoder["classes"] else None
    n_features = len(encoder["features"])

    def build() -> MLP:
        out = output_size(task, n_classes)
        return MLP.from_params(params.model, n_features, out, layout, task).to(device)

    checkpoint = Checkpoint(io.TRAIN_CHECKPOINT, fingerprint(params, inputs))
    if params.train.resume == "never" and world.main:
        checkpoint.clear()
    saved = checkpoint.load() if params.train.resume == "auto" else None
    with distributed.process_group(world, device):
        if world.size > 1:
            position = (saved["restart"], saved["fit"]["epoch"]) if saved else None
            saved = saved if distributed.agree(position, world) else None
        logger = (
            EpochLogger(io.TENSORBOARD_DIR, params.train, fresh=saved is None)
            if world.main
            else None
        )
        with logger or contextlib.nullcontext(), _named_nondeterminism(params, device):
            result = train_model(
                build,
                train,
                val,
                task,
                params.train,
                params.seed,
                target_scale=target_scale(encoder),
                on_epoch=logger.log if logger else None,
                checkpoint=checkpoint if world.main else None,
                saved=saved,
                world=world,
            )
    if not world.main:
        return  # rank 0 writes every output

    chosen = result.chosen
    reference = build()  # an untrained twin: architecture and parameter count for the card
    with io.atomic_path(io.MODEL_WEIGHTS) as tmp:
        save_file({k: v.contiguous() for k, v in chosen.state.items()}, str(tmp))
    monitor = params.train.monitor
    card = {
        "task": task,
        "target": encoder["target"],
        "features": encoder["features"],
        "classes": encoder["classes"],
        "target_scaling": encoder["target_scaling"],
        "architecture": reference.spec,
        "parameters": count_parameters(reference),
        "monitor": monitor,
        "best_epoch": chosen.best_epoch,
        "epochs_run": len(chosen.history),
        "stop_reason": chosen.stop_reason,
        "best": {k: v for k, v in chosen.history[chosen.best_epoch - 1].items() if k != "epoch"},
        "restart_chosen": chosen.restart,
        "restarts": [r.summary(monitor) for r in result.runs],
        "weights": io.MODEL_WEIGHTS.name,
    }
    write_train_reports(io.TRAIN_LOG_DIR, chosen.history, card)
    io.write_json(card, io.MODEL_CARD)
    checkpoint.clear()
    where = str(device) if world.size == 1 else f"{world.size} processes ({device.type})"
    print(
        f"train: {card['parameters']} parameters on {where}{auto_note(params.model, layout)}; "
        f"restart {chosen.restart} of "
        f"{len(result.runs)} chosen; best epoch {chosen.best_epoch} of {len(chosen.history)} "
        f"({monitor} {chosen.best_value:.4f}); {chosen.stop_reason}"
    )


if __name__ == "__main__":
    run(load_params())
