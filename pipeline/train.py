"""train: fit the MLP on the encoded train rows, early-stopping on the val rows.

The whole table sits in tensors on the device once; each epoch is a seeded permutation cut into
batches (no per-sample Dataset indexing). The epoch with the lowest val loss wins: its weights
are restored and saved as safetensors beside models/model.json (everything needed to rebuild
and use the model). Per-epoch curves go to reports/train/ through dvclive.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from pipeline import io
from pipeline.config import Params, TrainParams, load_params
from pipeline.encode import LABEL
from pipeline.errors import PipelineError
from pipeline.model import MLP, count_parameters, output_size


@dataclass
class Tensors:
    x: torch.Tensor
    y: torch.Tensor

    @classmethod
    def from_table(cls, table: Any, task: str, device: torch.device) -> Tensors:
        x = torch.tensor(table.drop(columns=[LABEL]).to_numpy(dtype=np.float32))
        y_np = table[LABEL].to_numpy()
        y = torch.tensor(y_np, dtype=torch.long if task == "multiclass" else torch.float32)
        return cls(x.to(device), y.to(device))


@dataclass
class FitResult:
    state: dict[str, torch.Tensor]
    best_epoch: int
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


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


def make_loss(task: str) -> nn.Module:
    if task == "binary":
        return nn.BCEWithLogitsLoss()
    if task == "multiclass":
        return nn.CrossEntropyLoss()
    return nn.MSELoss()


def batch_indices(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> Iterator[torch.Tensor]:
    """One epoch: a seeded permutation of row indices cut into consecutive batches."""
    order = torch.randperm(n, generator=generator).to(device)
    yield from order.split(batch_size)


def _loss_input(outputs: torch.Tensor, task: str) -> torch.Tensor:
    return outputs if task == "multiclass" else outputs[:, 0]


def evaluate_epoch(
    model: nn.Module, data: Tensors, loss_fn: nn.Module, task: str, target_scale: float = 1.0
) -> tuple[float, float]:
    """(mean loss, accuracy or RMSE) on `data`, in eval mode without gradients.

    `target_scale` turns the RMSE of a standardized regression target back into its units."""
    model.eval()
    with torch.no_grad():
        outputs = model(data.x)
        loss = float(loss_fn(_loss_input(outputs, task), data.y))
        if task == "multiclass":
            metric = float((outputs.argmax(dim=1) == data.y).float().mean())
        elif task == "binary":
            metric = float(((outputs[:, 0] > 0).float() == data.y).float().mean())
        else:
            metric = math.sqrt(float(((outputs[:, 0] - data.y) ** 2).mean())) * target_scale
    return loss, metric


def fit(
    model: nn.Module,
    train: Tensors,
    val: Tensors,
    task: str,
    params: TrainParams,
    seed: int,
    on_epoch: Callable[[dict[str, float]], None] = lambda row: None,
    target_scale: float = 1.0,
) -> FitResult:
    """Train with Adam and early stopping on val loss; return the best epoch's weights."""
    loss_fn = make_loss(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n = len(train.y)
    metric_name = "val_rmse" if task == "regression" else "val_accuracy"
    best_loss, best_epoch, waited = math.inf, 0, 0
    result = FitResult(state={}, best_epoch=0)

    for epoch in range(1, params.epochs + 1):
        model.train()
        total = 0.0
        for idx in batch_indices(n, params.batch_size, generator, train.x.device):
            optimizer.zero_grad()
            loss = loss_fn(_loss_input(model(train.x[idx]), task), train.y[idx])
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(idx)  # epoch loss = mean over samples, not batches
        train_loss = total / n
        val_loss, val_metric = evaluate_epoch(model, val, loss_fn, task, target_scale)
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            raise PipelineError(
                f"train: loss became {train_loss if not math.isfinite(train_loss) else val_loss} "
                f"at epoch {epoch}; the model diverged. Lower train.lr (now {params.lr:g})"
            )
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            metric_name: val_metric,
            "lr": optimizer.param_groups[0]["lr"],
        }
        result.history.append(row)
        on_epoch(row)

        if val_loss < best_loss - params.min_delta:
            best_loss, best_epoch, waited = val_loss, epoch, 0
            result.state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= params.patience:
                result.stopped_early = True
                break
    result.best_epoch = best_epoch
    return result


def run(params: Params) -> None:
    from dvclive import Live  # only this stage needs it

    torch.set_num_threads(params.train.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = resolve_device(params.train.device)
    encoder = io.read_json(io.ENCODER)
    task = encoder["task"]
    train = Tensors.from_table(io.read_table(io.ENCODED_DIR / "train.parquet"), task, device)
    val = Tensors.from_table(io.read_table(io.ENCODED_DIR / "val.parquet"), task, device)

    n_classes = len(encoder["classes"]) if encoder["classes"] else None
    torch.manual_seed(params.seed)
    model = MLP.from_params(
        params.model, len(encoder["features"]), output_size(task, n_classes)
    ).to(device)

    with io.atomic_dir(io.TRAIN_LOG_DIR) as log_dir:
        live = Live(str(log_dir), dvcyaml=False, save_dvc_exp=False, report=None)

        def log(row: dict[str, float]) -> None:  # no wall times: this folder is a cached out
            for name, value in row.items():
                if name != "epoch":
                    live.log_metric(name, value)
            live.next_step()

        scaling = encoder["target_scaling"]
        result = fit(
            model,
            train,
            val,
            task,
            params.train,
            params.seed,
            log,
            target_scale=scaling["scale"] if scaling else 1.0,
        )
        best = result.history[result.best_epoch - 1]
        # dvclive's summary keeps the last epoch's values; report the restored (best) epoch.
        live.summary = {
            **{k: v for k, v in best.items() if k != "epoch"},
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history),
            "step": len(result.history) - 1,
        }
        live.end()
        io.write_json(result.history, log_dir / "history.json")

    with io.atomic_path(io.MODEL_WEIGHTS) as tmp:
        save_file({k: v.contiguous() for k, v in result.state.items()}, str(tmp))
    card = {
        "task": task,
        "target": encoder["target"],
        "features": encoder["features"],
        "classes": encoder["classes"],
        "target_scaling": encoder["target_scaling"],
        "architecture": model.spec,
        "parameters": count_parameters(model),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "best": {k: v for k, v in best.items() if k != "epoch"},
        "weights": io.MODEL_WEIGHTS.name,
    }
    io.write_json(card, io.MODEL_CARD)
    print(
        f"train: {card['parameters']} parameters on {device}; best epoch {result.best_epoch} of "
        f"{len(result.history)} (val_loss {best['val_loss']:.4f})"
    )


if __name__ == "__main__":
    run(load_params())
