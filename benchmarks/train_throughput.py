"""Training throughput: our loop vs a bare loop, a DataLoader loop and scikit-learn.

Synthetic 200k x 32 classification table, MLP 128-64, the same optimizer (Adam) and thread
count for all four. Prints samples/s per loop and batch size; the last line holds the ratios
at batch 256 (target: ratio_vs_bare >= 0.9).

    python benchmarks/train_throughput.py [--rows 200000] [--epochs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline.config import TrainParams
from pipeline.model import MLP
from pipeline.train import Checkpoint, Tensors, fit

FEATURES, CLASSES, HIDDEN, LR = 32, 4, [128, 64], 1e-3


def make_data(rows: int, seed: int = 0) -> tuple[Tensors, Tensors]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows + rows // 10, FEATURES, generator=g)
    w = torch.randn(FEATURES, CLASSES, generator=g)
    y = (x @ w + 0.5 * torch.randn(len(x), CLASSES, generator=g)).argmax(dim=1)
    return Tensors(x[:rows], y[:rows]), Tensors(x[rows:], y[rows:])


def new_model() -> MLP:
    torch.manual_seed(0)
    return MLP(FEATURES, HIDDEN, CLASSES, "relu", 0.0)


def ours(train: Tensors, val: Tensors, batch: int, epochs: int, checkpoint: bool) -> None:
    """The pipeline's loop: per-epoch validation, early-stopping bookkeeping, checkpoints."""
    params = TrainParams(
        epochs=epochs, batch_size=batch, lr=LR, early_stopping=True, patience=epochs + 1
    )
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Checkpoint(Path(tmp) / "c.pt", "bench") if checkpoint else None
        save = ckpt.save if ckpt else None
        fit(new_model(), train, val, "multiclass", params, seed=0, save=save)


def bare(train: Tensors, val: Tensors, batch: int, epochs: int) -> None:
    """The least a loop can do: randperm + slicing on resident tensors."""
    model, loss_fn = new_model(), nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(train.y)).split(batch):
            optimizer.zero_grad()
            loss_fn(model(train.x[idx]), train.y[idx]).backward()
            optimizer.step()


def dataloader(train: Tensors, val: Tensors, batch: int, epochs: int) -> None:
    """The common tutorial loop: DataLoader(TensorDataset, shuffle=True)."""
    model, loss_fn = new_model(), nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(train.x, train.y), batch_size=batch, shuffle=True)
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many timings")
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024])
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    train, val = make_data(args.rows)
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, rows {args.rows}, "
        f"features {FEATURES}, MLP {HIDDEN}, epochs {args.epochs}, median of {args.repeats}"
    )
    loops: dict[str, Callable[..., None]] = {
        "ours": lambda *a: ours(*a, checkpoint=True),
        "ours_no_checkpoint": lambda *a: ours(*a, checkpoint=False),
        "bare": bare,
        "dataloader": dataloader,
        "sklearn": sklearn_mlp,
    }
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
    b = 256 if 256 in args.batches else args.batches[0]
    r = {name: results["ours", b] / results[name, b] for name in ("bare", "dataloader", "sklearn")}
    print(
        f"ratio_vs_bare={r['bare']:.3f} ratio_vs_dataloader={r['dataloader']:.3f} "
        f"ratio_vs_sklearn={r['sklearn']:.3f}"
    )


if __name__ == "__main__":
    main()
