"""train: fit the MLP on the encoded train rows, choosing the best epoch on the val rows.

Load the encoded train (resident, or streamed past `train.memory_mb`) and val rows, build the
model from params, run the loop (`pipeline.training.loop`) resuming from the checkpoint when
one matches, and write the weights (safetensors), the model card and reports/train/. With
`train.processes: N` (or under torchrun) N processes share every batch through
DistributedDataParallel (`pipeline.training.distributed`); rank 0 writes every output.
"""

from __future__ import annotations

import contextlib
import sys

from safetensors.torch import save_file

from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
from pipeline.features.preprocessor import target_scale
from pipeline.model.feature_layout import auto_note, embedding_spec, feature_layout
from pipeline.model.mlp import MLP, count_parameters
from pipeline.training import distributed, torch_setup
from pipeline.training.checkpoint import Checkpoint, fingerprint
from pipeline.training.data import Tensors, TrainData
from pipeline.training.distributed import SINGLE, World
from pipeline.training.loop import train_model
from pipeline.training.options import check_options, check_processes
from pipeline.training.streaming import StreamedTable, choose_data


def start_workers(params: Params) -> None:
    """train.processes > 1: check what can fail before any worker starts, then run them."""
    device = torch_setup.resolve_device(params.train.device)
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
        start_workers(params)
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
    from pipeline.training.epoch_log import EpochLogger, write_train_reports  # tensorboard, dvclive

    torch_setup.configure(params.train.threads, params.train.precision)
    # before any work: a clear message, not torch's
    device = torch_setup.resolve_device(params.train.device)
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
    if isinstance(batch_size, int) and batch_size > len(train.y) and world.main:
        # Not an error: the same params must work on a smaller table (data.path is the only
        # switch); a batch larger than the split is the whole split, as `full` would be.
        print(
            f"train: warning: train.batch_size {batch_size} is larger than the "
            f"{len(train.y)} train rows; each epoch is one full batch (as batch_size: full)",
            file=sys.stderr,
        )
    val = Tensors.from_table(io.read_table(inputs[2]), task, device)

    def build() -> MLP:
        return MLP.for_features(params.model, encoder).to(device)

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
        with logger or contextlib.nullcontext(), torch_setup.named_nondeterminism(params, device):
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
    rows, t = len(train.y), params.train
    steps = (
        f"; batch {t.rows_per_batch(rows)} at lr {t.learning_rate(rows):g} (train.batch_size: auto)"
        if t.batch_size == "auto"
        else ""
    )
    print(
        f"train: {card['parameters']} parameters on {where}{auto_note(params.model, layout)}"
        f"{steps}; "
        f"restart {chosen.restart} of "
        f"{len(result.runs)} chosen; best epoch {chosen.best_epoch} of {len(chosen.history)} "
        f"({monitor} {chosen.best_value:.4f}); {chosen.stop_reason}"
    )


if __name__ == "__main__":
    run(load_params())
