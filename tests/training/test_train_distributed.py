"""train.processes: N worker processes with torch.distributed (gloo on the CPU here): how a
batch is shared, results against one process, kill-and-resume to the same bytes, and bad input
and faults (each one line, nothing written, no worker left running). CUDA/NCCL: last test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from pipeline.__main__ import main
from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.stages import encode, split, validate
from pipeline.stages import fit_preprocessor as scale
from pipeline.training import distributed
from pipeline.training.distributed import LAUNCHER_ENV, World

from ..conftest import ROOT, small
from ..helpers import accuracy_on_test, outputs, start

# Tiny on purpose: every process imports torch (~2 s on 2 cores), the epochs are the cheap part.
TRAIN = {"epochs": 12, "patience": 5, "progress": False, "processes": 2}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Penguins run through validate..encode once for the module; tests set params.yaml."""
    root = tmp_path_factory.mktemp("distributed")
    (root / "data/raw").mkdir(parents=True)
    for name in ("penguins.csv", "penguins.schema.yaml"):
        (root / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    here = Path.cwd()
    os.chdir(root)
    try:
        for stage in (validate, split, scale, encode):
            stage.run(parse_params({}))
    finally:
        os.chdir(here)
    return root


@pytest.fixture
def project(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The module's folder as the working directory, without the last test's outputs."""
    monkeypatch.chdir(folder)
    for path in (io.MODEL_WEIGHTS, io.MODEL_CARD, io.TRAIN_CHECKPOINT):
        path.unlink(missing_ok=True)
    for var in ("MASTER_PORT", *distributed.WORLD_ENV):
        monkeypatch.delenv(var, raising=False)
    return folder


def set_train(root: Path, **train: object) -> None:
    (root / "params.yaml").write_text(yaml.safe_dump(small({"train": {**TRAIN, **train}})))


def workers(launcher: int) -> dict[int, int]:
    """pid -> RANK of every live process the launcher started (zombies have no environment)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = dict(
                item.split("=", 1)
                for item in (proc / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in item
            )
        except OSError:
            continue
        if env.get(LAUNCHER_ENV) == str(launcher):
            found[int(proc.name)] = int(env.get("RANK", -1))
    return found


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def checkpoint_epoch(root: Path) -> int:
    """The epoch the checkpoint holds (-1: none yet, or caught mid-replace)."""
    try:
        saved = torch.load(root / io.TRAIN_CHECKPOINT, weights_only=True)
    except Exception:
        return -1
    return saved["state"]["fit"]["epoch"]


# ---------------------------------------------------------------- pure parts


def test_a_global_batch_is_shared_out_whole_and_disjoint():
    batch = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    shares = [World(rank, 3, rank).shard(batch) for rank in range(3)]
    assert [len(s) for s in shares] == [4, 4, 3]
    assert torch.equal(torch.cat(shares), batch)  # every row once, in the seeded order
    assert World().shard(batch) is batch


def test_params_reach_the_workers_unchanged():
    params = parse_params({"train": {"processes": 2, "lr": 0.003}, "validate": {"min_rows": 5}})
    text = yaml.safe_dump(params.model_dump(mode="json", by_alias=True))
    assert parse_params(yaml.safe_load(text)) == params


def failure(exitcode: int, data: dict | None = None, pid: int = 7) -> SimpleNamespace:
    data = data or {}
    message = data.get("message", "")
    signal_name = signal.Signals(-exitcode).name if exitcode < 0 else ""
    return SimpleNamespace(
        exitcode=exitcode,
        pid=pid,
        error_file_data=data,
        message=message,
        signal_name=lambda: signal_name,
    )


def test_a_launch_removes_the_folders_of_dead_launchers_only(tmp_path: Path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"pipeline-train-{gone.pid}-abc"
    live = tmp_path / f"pipeline-train-{os.getpid()}-def"
    other = tmp_path / "pipeline-train-notapid-x"
    for folder in (stale, live, other):
        (folder / "logs").mkdir(parents=True)
    assert distributed.remove_stale_launch_dirs(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()


def test_the_cause_is_named_not_the_processes_stopped_because_of_it():
    stopped = failure(-signal.SIGTERM)  # the launcher stops the rest after a failure
    hung_up = failure(1, {"message": "RuntimeError: Connection closed by peer", "kind": "X"})
    crashed = failure(-signal.SIGKILL, pid=42)
    said = failure(1, {"message": "train: val_loss became nan ...", "kind": "PipelineError"})
    message = distributed.workers_failure
    assert message({0: stopped, 1: crashed}, 2) == (
        "train: worker process 1 of 2 (pid 42) was killed by signal SIGKILL; the other "
        "processes were stopped and nothing was written"
    )
    assert message({0: hung_up, 1: crashed}, 2).startswith("train: worker process 1 of 2")
    assert message({0: hung_up, 1: said}, 2) == "train: val_loss became nan ..."
    assert message({0: hung_up, 1: stopped}, 2) == (
        "train: worker process 0 of 2 failed: RuntimeError: Connection closed by peer"
    )
    assert "exited with status 3" in message({1: failure(3)}, 2)


def test_a_failing_worker_writes_its_cause_for_the_launcher(tmp_path, monkeypatch):
    error_file = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    monkeypatch.setenv(LAUNCHER_ENV, str(os.getppid()))  # as our launcher starts a worker
    monkeypatch.setattr(distributed, "_die_with_launcher", lambda: None)
    with pytest.raises(SystemExit) as exit_, distributed.reporting(World(1, 2, 1)):
        raise distributed.PipelineError("train: something named")
    assert exit_.value.code == 1  # quiet: the launcher prints the line once
    data = json.loads(error_file.read_text())
    assert data["message"] == "train: something named" and data["kind"] == "PipelineError"
    monkeypatch.delenv(LAUNCHER_ENV)  # under an external torchrun: recorded and raised
    with pytest.raises(RuntimeError), distributed.reporting(World(1, 2, 1)):
        raise RuntimeError("gloo: Connection closed by peer\nmore detail")
    assert json.loads(error_file.read_text())["message"] == (
        "RuntimeError: gloo: Connection closed by peer"
    )


# ---------------------------------------------------------------- bad input, before any worker


def refused(root: Path, capsys: pytest.CaptureFixture) -> str:
    before = sorted(p for p in root.rglob("*"))
    assert main(["train"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert sorted(p for p in root.rglob("*")) == before  # nothing written, nothing started
    return err


def test_more_processes_than_the_rows_or_batch_allow(project, capsys):
    set_train(project, processes=300, batch_size="full")
    err = refused(project, capsys)
    assert "train.processes: 300 processes split every batch, so a batch needs at least 300" in err
    assert "but a batch holds 266 (all 266 train rows)" in err
    (project / "params.yaml").write_text(
        yaml.safe_dump(
            small(
                {
                    "train": {**TRAIN, "processes": 3, "batch_size": 4},
                    "model": {"normalization": "batch"},
                }
            )
        )
    )
    err = refused(project, capsys)
    assert "at least 6 rows (2 per process, as batch normalization needs 2)" in err
    assert "but a batch holds 4 (train.batch_size)" in err


def test_more_processes_than_cuda_devices(project, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    set_train(project, device="cuda")
    err = refused(project, capsys)
    assert "train.processes: 2 processes need 2 CUDA devices (one each) but 1 is" in err
    set_train(project, device="cuda:0")
    assert "train.device: 'cuda:0' names one GPU" in refused(project, capsys)


def test_a_rendezvous_port_in_use_is_named(project, capsys, monkeypatch):
    set_train(project)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("MASTER_PORT", str(port))
        err = refused(project, capsys)
    assert f"rendezvous port {port} (from MASTER_PORT) is in use by another program" in err


def test_under_torchrun_the_world_must_match_the_params(project, capsys, monkeypatch):
    set_train(project, processes=1)
    for var, value in (("RANK", "0"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(var, value)
    err = refused(project, capsys)
    assert "train.processes: 1, but torchrun started 4 processes (WORLD_SIZE)" in err
    monkeypatch.delenv("LOCAL_RANK")
    assert "LOCAL_RANK missing from the environment" in refused(project, capsys)


# ---------------------------------------------------------------- two processes, for real


@pytest.mark.slow
def test_two_processes_match_one_and_resume_after_kills_to_the_same_bytes(project, tmp_path):
    """One process in-process, then two, twice at once in two folders, once through
    train.processes and once under an external torchrun: both complete (each rendezvous found
    its own port), with byte-identical outputs and an accuracy within noise of one process.
    A worker SIGKILLed: one line naming it, no outputs, nothing left running. The launcher
    SIGKILLed: its workers die with it. The next run resumes from the checkpoint and ends
    with the bytes of the uninterrupted run."""
    set_train(project, processes=1)
    assert main(["train"]) == 0
    one = accuracy_on_test(project)

    set_train(project)
    twin = tmp_path / "twin"  # the same inputs and params in another folder
    for rel in ("params.yaml", io.PREPROCESSOR, *sorted((project / io.ENCODED_DIR).glob("*"))):
        path = project / rel
        (twin / path.relative_to(project)).parent.mkdir(parents=True, exist_ok=True)
        (twin / path.relative_to(project)).write_bytes(path.read_bytes())
    began = time.perf_counter()
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    procs = [start(project), start(twin, *torchrun)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "Traceback" not in err, err
        assert "on 2 processes (cpu)" in out
    seconds = time.perf_counter() - began
    reference = outputs(project)
    assert outputs(twin) == reference
    two = accuracy_on_test(project)
    assert two >= 0.9 and abs(two - one) <= 0.06, (one, two)
    assert not (project / io.TRAIN_CHECKPOINT).exists()

    # A worker crashes: the launcher stops the other and names the one that died.
    for path in (io.MODEL_WEIGHTS, io.MODEL_CARD):
        (project / path).unlink()  # as DVC does before it runs the stage
    proc = start(project)
    wait_for(lambda: checkpoint_epoch(project) >= 1)
    ranks = workers(proc.pid)
    assert sorted(ranks.values()) == [0, 1]
    victim = next(pid for pid, rank in ranks.items() if rank == 1)
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    assert err == (
        f"error: train: worker process 1 of 2 (pid {victim}) was killed by signal SIGKILL; "
        f"the other processes were stopped and nothing was written\n"
    )
    assert not workers(proc.pid)
    assert not (project / io.MODEL_WEIGHTS).exists() and not (project / io.MODEL_CARD).exists()
    stopped_at = checkpoint_epoch(project)
    assert 1 <= stopped_at < TRAIN["epochs"]

    # The launcher is SIGKILLed (no clean-up of its own): the workers die with it.
    proc = start(project)
    wait_for(lambda: checkpoint_epoch(project) > stopped_at)  # resumed, one more epoch done
    ranks = workers(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    # A dying worker loses its environment (so `workers` no longer sees it) a moment before
    # the kernel marks it a zombie: wait on each pid's own state.
    wait_for(lambda: all(_exited(pid) for pid in ranks), timeout=10)
    killed = proc.pid

    proc = start(project)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    # the killed launcher's temporary folder (workers' params, logs) went with the next launch
    assert not list(Path(tempfile.gettempdir()).glob(f"pipeline-train-{killed}-*"))
    assert "ignoring" not in out + err  # resumed, not started over
    assert outputs(project) == reference
    assert not (project / io.TRAIN_CHECKPOINT).exists()
    print(
        f"\ntwo processes: accuracy {two:.4f} (one process {one:.4f}); "
        f"2 runs at once {seconds:.1f} s"
    )


def _exited(pid: int) -> bool:
    """Gone, or a zombie (Z) or dead (X) entry that only waits for its reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] in "ZX"
    except OSError:
        return True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_processes_on_cuda_take_one_gpu_each(project, capsys):
    """Two processes need two GPUs (nccl); with one, the error names the shortage."""
    set_train(project, device="cuda")
    if torch.cuda.device_count() < 2:
        err = refused(project, capsys)
        assert f"need 2 CUDA devices (one each) but {torch.cuda.device_count()} is" in err
        return
    proc = start(project)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "on 2 processes (cuda)" in out
    assert accuracy_on_test(project) >= 0.9
