"""Training throughput: our loop vs a bare loop, a DataLoader loop and scikit-learn; and our
loop on N worker processes (train.processes; torch.distributed, gloo on the CPU).

Synthetic 200k x 32 classification table, MLP 128-64, the same optimizer (Adam) and thread
count for every loop, the table resident on the device. Prints samples/s per loop and batch
size; the last lines hold ours / bare per batch size (target: ratio_vs_bare >= 0.9).

    python benchmarks/train_throughput.py [--rows 200000] [--epochs 3] [--threads 1]
    python benchmarks/train_throughput.py --device cuda --batches 256 4096
    python benchmarks/train_throughput.py --processes 1 2 [--batches 256]
    python benchmarks/train_throughput.py --only ours_streamed --batches 4096

`ours_streamed` is our loop with train.data: stream: the same table written to a temporary
Parquet file (row groups of io.ROW_GROUP_ROWS) and read back each epoch through the shuffle
buffer (TrainParams().shuffle_rows) with the prefetch thread; `streamed=` on the last lines is
its rate over the in-memory loop's (goal >= 0.8).

On CUDA every loop runs under the pipeline's determinism set-up (`torch_setup.configure`),
except `bare_nondeterministic`, which shows what that set-up costs; `ours_tf32` and
`ours_bf16` are the pipeline's loop with train.precision tf32 and bf16; scikit-learn is skipped.
With --processes, each N runs in N fresh processes started by torch's elastic launcher, the
global batch split among them, timed after a warm-up (process start-up, ~5-10 s here, is not
in the rate).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline.core import io
from pipeline.core.params import TrainParams
from pipeline.core.tables import LABEL
from pipeline.model.mlp import MLP
from pipeline.training import distributed, torch_setup
from pipeline.training.checkpoint import Checkpoint
from pipeline.training.data import Tensors, TrainData
from pipeline.training.distributed import SINGLE, World
from pipeline.training.loop import fit
from pipeline.training.streaming import StreamedTable

FEATURES, CLASSES, HIDDEN, LR = 32, 4, [128, 64], 1e-3


def make_data(rows: int, seed: int = 0) -> tuple[Tensors, Tensors]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows + rows // 10, FEATURES, generator=g)
    w = torch.randn(FEATURES, CLASSES, generator=g)
    y = (x @ w + 0.5 * torch.randn(len(x), CLASSES, generator=g)).argmax(dim=1)
    return Tensors(x[:rows], y[:rows]), Tensors(x[rows:], y[rows:])


THREADS = 1  # set from --threads in main()


def new_model(device: torch.device) -> MLP:
    torch.manual_seed(0)
    return MLP(FEATURES, HIDDEN, CLASSES, "relu", 0.0).to(device)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so the wall clock measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ours(
    train: TrainData,
    val: Tensors,
    batch: int,
    epochs: int,
    checkpoint: bool,
    precision: str = "fp32",
    world: World = SINGLE,
) -> None:
    """The pipeline's loop: per-epoch validation, early-stopping bookkeeping, checkpoints
    (written by rank 0 only, as the stage does)."""
    torch_setup.configure(THREADS, precision)
    params = TrainParams(
        epochs=epochs,
        batch_size=batch,
        lr=LR,
        early_stopping=True,
        patience=epochs + 1,
        precision=precision,
    )
    device = train.device
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Checkpoint(Path(tmp) / "c.pt", "bench") if checkpoint and world.main else None
        save = ckpt.save if ckpt else None
        fit(new_model(device), train, val, "multiclass", params, seed=0, save=save, world=world)
    sync(device)


def write_parquet(train: Tensors, path: Path) -> None:
    """The table as the encode stage would write it (features, then the label)."""
    x, y = train.x.cpu().numpy(), train.y.cpu().numpy()
    with io.TableWriter(path, dictionary=False) as out:
        for start in range(0, len(y), io.ROW_GROUP_ROWS):
            rows = slice(start, start + io.ROW_GROUP_ROWS)
            frame = pd.DataFrame(x[rows], columns=[f"x{i}" for i in range(x.shape[1])])
            frame.index = pd.RangeIndex(start, start + len(frame), name=io.ROW)
            out.write(frame.assign(**{LABEL: y[rows].astype(np.int64)}))


def bare(train: Tensors, val: Tensors, batch: int, epochs: int, deterministic: bool = True) -> None:
    """The least a loop can do: randperm + slicing on resident tensors, on their device."""
    torch_setup.configure(THREADS)
    torch.use_deterministic_algorithms(deterministic)
    device = train.x.device
    model, loss_fn = new_model(device), nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(train.y), device=device).split(batch):
            optimizer.zero_grad()
            loss_fn(model(train.x[idx])[:, 0], train.y[idx]).backward()  # one member
            optimizer.step()
    sync(device)
    torch.use_deterministic_algorithms(True)


def dataloader(train: Tensors, val: Tensors, batch: int, epochs: int) -> None:
    """The common tutorial loop: DataLoader(TensorDataset, shuffle=True)."""
    torch_setup.configure(THREADS)
    device = train.x.device
    model, loss_fn = new_model(device), nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(train.x, train.y), batch_size=batch, shuffle=True)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x)[:, 0], y).backward()
            optimizer.step()
    sync(device)


def sklearn_mlp(train: Tensors, val: Tensors, batch: int, epochs: int) -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(HIDDEN),
        batch_size=batch,
        solver="adam",
        learning_rate_init=LR,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=10**6,
        shuffle=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(train.x.numpy(), train.y.numpy())


def interleaved_rates(
    loops: dict[str, Callable[[], None]], samples: int, repeats: int
) -> dict[str, float]:
    """Median samples/s per loop. Each repeat runs every loop once, in an order rotated per
    repeat, so slow drift of a shared machine does not favour whichever loop runs first."""
    times: dict[str, list[float]] = {name: [] for name in loops}
    names = list(loops)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            loops[name]()
            times[name].append(time.perf_counter() - started)
    return {name: samples / statistics.median(t) for name, t in times.items()}


def process_worker(rows: int, epochs: int, batch: int, threads: int, repeats: int) -> float:
    """One of N launched processes: the median seconds of `repeats` fits of our loop."""
    import torch.distributed as dist

    torch.set_num_threads(threads)
    world = distributed.from_env() or SINGLE
    train, val = make_data(rows)
    with distributed.process_group(world, torch.device("cpu")):
        small = Tensors(train.x[:2048], train.y[:2048])
        ours(small, val, batch, 1, checkpoint=True, world=world)  # first DDP: imports dynamo
        times = []
        for _ in range(repeats):
            if world.size > 1:
                dist.barrier()
            started = time.perf_counter()
            ours(train, val, batch, epochs, checkpoint=True, world=world)
            if world.size > 1:
                dist.barrier()
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def processes_rate(processes: int, args: argparse.Namespace, batch: int) -> float:
    """Samples/s of our loop on `processes` fresh processes (global batch `batch`)."""
    import logging

    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    logging.getLogger("torch.distributed.elastic").setLevel(logging.ERROR)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=processes,
        run_id=f"bench-{processes}",
        rdzv_backend="c10d",
        rdzv_endpoint="127.0.0.1:0",
        max_restarts=0,
    )
    seconds = elastic_launch(config, process_worker)(
        args.rows, args.epochs, batch, args.threads, args.repeats
    )[0]
    return args.rows * args.epochs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many timings")
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--features", type=int, default=32, help="input width")
    parser.add_argument("--only", nargs="+", help="run only these loops (ours is always run)")
    parser.add_argument(
        "--processes", type=int, nargs="+", help="only our loop, on each of these N processes"
    )
    args = parser.parse_args()
    if args.processes:
        print(
            f"torch {torch.__version__}, threads per process {args.threads}, rows "
            f"{args.rows}, epochs {args.epochs}, median of {args.repeats}, "
            f"{os.cpu_count()} CPUs"
        )
        for batch in args.batches:
            for n in args.processes:
                rate = processes_rate(n, args, batch)
                print(f"batch {batch:>5}  ours on {n} process(es) {rate:>12,.0f} samples/s")
        return

    global THREADS, FEATURES
    THREADS, FEATURES = args.threads, args.features
    torch_setup.configure(args.threads)
    device = torch.device(args.device)
    train, val = (Tensors(t.x.to(device), t.y.to(device)) for t in make_data(args.rows))
    print(
        f"torch {torch.__version__}, device {describe(device)}, threads "
        f"{torch.get_num_threads()}, rows {args.rows}, features {FEATURES}, MLP {HIDDEN}, "
        f"epochs {args.epochs}, median of {args.repeats}"
    )
    loops: dict[str, Callable[..., None]] = {
        "ours": lambda *a: ours(*a, checkpoint=True),
        "ours_no_checkpoint": lambda *a: ours(*a, checkpoint=False),
        "bare": bare,
        "dataloader": dataloader,
    }
    if device.type == "cuda":
        loops["bare_nondeterministic"] = lambda *a: bare(*a, deterministic=False)
        loops["ours_tf32"] = lambda *a: ours(*a, checkpoint=True, precision="tf32")
        loops["ours_bf16"] = lambda *a: ours(*a, checkpoint=True, precision="bf16")
    else:
        loops["sklearn"] = sklearn_mlp
    folder = tempfile.TemporaryDirectory()
    write_parquet(train, Path(folder.name) / "train.parquet")
    table = StreamedTable(
        Path(folder.name) / "train.parquet", "multiclass", device, TrainParams().shuffle_rows
    )
    # the whole table streamed; the warm-up's small tensors stay in memory
    loops["ours_streamed"] = lambda t, *a: ours(table if t is train else t, *a, checkpoint=True)
    if args.only:
        loops = {k: v for k, v in loops.items() if k == "ours" or k in args.only}
    small = Tensors(train.x[:2048], train.y[:2048])
    for loop in loops.values():  # one-time costs (first torch.save, allocator) stay untimed
        loop(small, val, 256, 1)
    results: dict[tuple[str, int], float] = {}
    for batch in args.batches:
        bound = {
            name: (lambda loop=loop, batch=batch: loop(train, val, batch, args.epochs))
            for name, loop in loops.items()
        }
        rates = interleaved_rates(bound, args.rows * args.epochs, args.repeats)
        for name, rate in rates.items():
            results[name, batch] = rate
            print(f"batch {batch:>5}  {name:<20} {rate:>12,.0f} samples/s")
    for b in args.batches:
        ratios = " ".join(
            f"ratio_vs_{name}={results['ours', b] / results[name, b]:.3f}"
            for name in loops
            if name not in ("ours", "ours_no_checkpoint", "ours_streamed")
        )
        if ("ours_streamed", b) in results:
            ratios += f" streamed={results['ours_streamed', b] / results['ours', b]:.3f}"
        print(f"batch={b} {ratios}")


def describe(device: torch.device) -> str:
    if device.type != "cuda":
        return "cpu"
    return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})"


if __name__ == "__main__":
    main()
