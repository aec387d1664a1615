"""Training on several processes with torch.distributed: who we are, launching, collectives.

`train.processes: N` > 1 turns `python -m pipeline train` into a launcher: it runs N copies of
the same command through torch's elastic launcher (the engine behind `torchrun`, one local
node, a c10d rendezvous on a port the store picks itself, so parallel runs never collide) and
waits for them. Each copy is a worker: it finds RANK / WORLD_SIZE / LOCAL_RANK in its
environment, as it does under an external `torchrun` on a cluster, and joins the group: gloo on
the CPU, nccl on CUDA with one GPU per process (cuda:LOCAL_RANK).

A failing worker writes a one-line cause to the error file the launcher gives it; the launcher
stops the others and reports that line. Workers started here die with the launcher, even when
it is SIGKILLed (Linux: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pipeline.core.config import dump_yaml
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params

LAUNCHER_ENV = "PIPELINE_TRAIN_LAUNCHER"  # the launcher's pid, in the workers it starts
WORLD_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0 logs, checkpoints and writes every output."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's share of a global batch: contiguous, sizes differing by at most 1."""
        return batch if self.size == 1 else batch.tensor_split(self.size)[self.rank]


SINGLE = World()


def from_env() -> World | None:
    """The world torchrun (or our launcher) describes in the environment; None outside one."""
    found = {key: os.environ.get(key) for key in WORLD_ENV}
    if not any(found.values()):
        return None
    missing = [key for key, value in found.items() if value is None]
    if missing:
        raise PipelineError(
            f"train: {', '.join(missing)} missing from the environment while "
            f"{', '.join(k for k in WORLD_ENV if k not in missing)} set; start workers with "
            f"torchrun, or unset them to let train.processes launch them"
        )
    try:
        world = World(int(found["RANK"]), int(found["WORLD_SIZE"]), int(found["LOCAL_RANK"]))
    except ValueError:
        raise PipelineError(
            f"train: RANK / WORLD_SIZE / LOCAL_RANK must be integers: {found}"
        ) from None
    if not 0 <= world.rank < world.size:
        raise PipelineError(f"train: RANK {world.rank} is outside WORLD_SIZE {world.size}")
    return world


def check_device(processes: int, device: torch.device, name: str) -> None:
    """Devices N processes can use on one machine: the CPU, or one CUDA device each."""
    if processes == 1:
        return
    if device.type == "mps":
        raise PipelineError(
            f"train.processes: {processes} processes cannot share the one MPS device; use "
            f"train.processes: 1 on MPS, or train.device: cpu"
        )
    if device.type == "cuda" and device.index is not None:
        raise PipelineError(
            f"train.device: {name!r} names one GPU, but train.processes: {processes} gives "
            f"each process its own (cuda:LOCAL_RANK); set train.device: cuda"
        )
    if device.type == "cuda" and processes > torch.cuda.device_count():
        raise PipelineError(
            f"train.processes: {processes} processes need {processes} CUDA devices (one "
            f"each) but {torch.cuda.device_count()} is available here; lower train.processes "
            f"or use train.device: cpu"
        )


def worker_device(world: World, device: torch.device) -> torch.device:
    """cuda -> cuda:LOCAL_RANK for a worker of several; other devices as they are."""
    if world.size == 1 or device.type != "cuda":
        return device
    if world.local_rank >= torch.cuda.device_count():
        raise PipelineError(
            f"train: LOCAL_RANK {world.local_rank} has no GPU of its own: "
            f"{torch.cuda.device_count()} CUDA device(s) on this machine; start at most that "
            f"many processes per node"
        )
    return torch.device("cuda", world.local_rank)


# ---------------------------------------------------------------- the launcher


def rendezvous_port() -> int:
    """MASTER_PORT when the user set one (checked free now: a busy port would hang the
    rendezvous), else 0: the c10d store binds a free port itself, as `torchrun --standalone`."""
    value = os.environ.get("MASTER_PORT")
    if not value:
        return 0
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise PipelineError(f"train: MASTER_PORT {value!r} is not a port number (1..65535)")
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", int(value)))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PipelineError(
                f"train.processes: rendezvous port {value} (from MASTER_PORT) is in use by "
                f"another program; unset MASTER_PORT to let each run pick a free port"
            ) from None
    return int(value)


LAUNCH_DIR_PREFIX = "pipeline-train-"


def remove_stale_launch_dirs(tmp_root: Path | None = None) -> list[Path]:
    """Delete the launch directories (`pipeline-train-<pid>-*`) of launchers no longer alive:
    a SIGKILLed launcher cannot clean up after itself. Returns what was removed."""
    removed = []
    for path in Path(tmp_root or tempfile.gettempdir()).glob(f"{LAUNCH_DIR_PREFIX}*-*"):
        pid = path.name[len(LAUNCH_DIR_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def launch(params: Params) -> None:
    """Run `python -m pipeline train` as train.processes workers; return when all succeeded,
    raise PipelineError naming the first real failure (the others are stopped)."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    processes = params.train.processes
    port = rendezvous_port()
    elastic_log = logging.getLogger("torch.distributed.elastic")
    saved_level = elastic_log.level
    saved_env = {key: os.environ.get(key) for key in (LAUNCHER_ENV, "PYTHONPATH")}
    # the workers' params and logs; a SIGKILLed launcher leaves it behind, named by its pid,
    # and the next launch removes it
    remove_stale_launch_dirs()
    with tempfile.TemporaryDirectory(prefix=f"{LAUNCH_DIR_PREFIX}{os.getpid()}-") as tmp:
        params_file = Path(tmp) / "params.yaml"  # exactly the validated params, whatever file
        params_file.write_text(dump_yaml(params.model_dump(mode="json", by_alias=True)))
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=processes,
            run_id=f"{LAUNCH_DIR_PREFIX}{os.getpid()}",
            rdzv_backend="c10d",
            rdzv_endpoint=f"127.0.0.1:{port}",
            max_restarts=0,  # a failure is reported, not retried: the next run resumes
            monitor_interval=0.1,
            logs_specs=DefaultLogsSpecs(log_dir=str(Path(tmp) / "logs")),
        )
        package_root = str(Path(__file__).resolve().parents[2])  # workers import this code
        os.environ[LAUNCHER_ENV] = str(os.getpid())
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_root, os.environ.get("PYTHONPATH")) if p
        )
        elastic_log.setLevel(logging.CRITICAL)  # its per-worker logs; we report one line
        try:
            elastic_launch(config, sys.executable)(
                "-m", "pipeline", "--params", str(params_file), "train"
            )
        except ChildFailedError as exc:
            raise PipelineError(workers_failure(exc.failures, processes)) from None
        except SignalException as exc:
            raise PipelineError(
                f"train: stopped by {signal.Signals(exc.sigval).name}; the {processes} worker "
                f"processes were stopped and nothing was written"
            ) from None
        finally:
            elastic_log.setLevel(saved_level)
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def workers_failure(failures: dict[int, Any], processes: int) -> str:
    """The cause among the failed workers: a pipeline error first, then a worker that died
    without a word (a crash), then other errors; workers the launcher stopped come last."""

    def weight(item: tuple[int, Any]) -> tuple[int, int]:
        rank, failure = item
        kind = failure.error_file_data.get("kind")
        if kind == "PipelineError":
            return 0, rank
        if kind is None and failure.exitcode != -signal.SIGTERM:
            return 1, rank
        return (2 if kind is not None else 3), rank

    rank, failure = min(failures.items(), key=weight)
    kind = failure.error_file_data.get("kind")
    if kind == "PipelineError":
        return failure.message
    if kind is not None:
        return f"train: worker process {rank} of {processes} failed: {failure.message}"
    how = (
        f"was killed by signal {failure.signal_name()}"
        if failure.exitcode < 0
        else f"exited with status {failure.exitcode}"
    )
    return (
        f"train: worker process {rank} of {processes} (pid {failure.pid}) {how}; the other "
        f"processes were stopped and nothing was written"
    )


# ---------------------------------------------------------------- inside a worker


def _die_with_launcher() -> None:
    """Ask Linux to SIGKILL this worker when the launcher that started it dies."""
    launcher = os.environ.get(LAUNCHER_ENV)
    if launcher is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != int(launcher):  # it died before we asked
        os._exit(1)


def _record(exc: BaseException) -> None:
    """Write the cause where the elastic launcher (ours or torchrun) reads it."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    if isinstance(exc, PipelineError):
        message = str(exc)
    else:
        first = str(exc).strip().splitlines()
        message = f"{type(exc).__name__}: {first[0] if first else ''}".rstrip(": ")
    data = {"message": message, "timestamp": int(time.time()), "kind": type(exc).__name__}
    Path(path).write_text(json.dumps(data))


@contextmanager
def reporting(world: World) -> Iterator[None]:
    """Around a worker's whole run: die with our launcher; on failure write the one-line
    cause for the launcher (which prints it once) instead of printing it N times."""
    if world.size == 1:
        yield
        return
    _die_with_launcher()
    try:
        yield
    except BaseException as exc:
        _record(exc)
        if os.environ.get(LAUNCHER_ENV) is not None:
            raise SystemExit(1) from None
        raise


@contextmanager
def process_group(world: World, device: torch.device) -> Iterator[None]:
    """Join the group (gloo on the CPU, nccl on CUDA) for the block; nothing for one process."""
    if world.size == 1:
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", rank=world.rank, world_size=world.size, device_id=device)
    else:
        dist.init_process_group("gloo", rank=world.rank, world_size=world.size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _comm_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel: gradients averaged over the processes in backward."""
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def reseed(seed: int, epoch: int, world: World) -> None:
    """Each process its own dropout stream per epoch (not rank 0's masks N times), derived
    from the run's seed: nothing per-process to checkpoint."""
    state = np.random.SeedSequence([seed, epoch, world.rank]).generate_state(1)[0]
    torch.manual_seed(int(state))


def global_mean(total: torch.Tensor, count: int) -> float:
    """sum over processes of `total` / sum of `count`: the same float on every process."""
    both = torch.stack([total.double().reshape(()), total.new_tensor(count).double()])
    both = both.to(_comm_device())
    dist.all_reduce(both)
    return float(both[0] / both[1])


def sync_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (batch-norm running statistics) everywhere, so every process
    evaluates and checkpoints the same model."""
    for buffer in model.buffers():
        dist.broadcast(buffer, 0)


def from_main(values: dict[str, float]) -> dict[str, float]:
    """Rank 0's metric values on every process, so every decision taken on them agrees."""
    keys = list(values)  # the same keys in the same order on every process
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=_comm_device())
    dist.broadcast(tensor, 0)
    return dict(zip(keys, tensor.tolist(), strict=True))


def agree(position: tuple[int, int] | None, world: World) -> bool:
    """True when every process found a checkpoint at the same (restart, epoch); else all
    start over together (e.g. a node that cannot see the checkpoint folder)."""
    mine = torch.tensor(position if position is not None else (-1, -1), device=_comm_device())
    every = [torch.empty_like(mine) for _ in range(world.size)]
    dist.all_gather(every, mine)
    same = all(bool((other == mine).all()) for other in every)
    if position is not None and not same and world.main:
        print(
            "train: warning: the processes found different checkpoints (is checkpoints/ "
            "shared by every node?); starting over",
            file=sys.stderr,
        )
    return same and position is not None
