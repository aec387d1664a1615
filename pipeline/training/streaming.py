"""train.data: stream: the encoded train table read from disk in row groups, shuffled by seed.

Each epoch the row groups are visited in a seeded order; rows pass through a shuffle buffer of
`train.shuffle_rows` rows (at least a batch): whenever it is full, it is permuted (seeded) and
cut into batches, the rows left over staying for the next fill. A background thread reads the
row groups ahead (in the order the main thread drew), so the loop does not wait on the disk and
the order never depends on its timing. Memory: the buffer and two row groups, not the table.
The labels (one number per row) stay resident, for class weights and the row count.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.params import TrainParams
from pipeline.core.tables import LABEL

PREFETCH_GROUPS = 2  # row groups read ahead of the loop


def label_tensor(values: np.ndarray, task: str) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long if task == "multiclass" else torch.float32)


def encoded_bytes(path: Path) -> int:
    """Bytes the table's features take as float32 tensors (rows x features x 4), from the
    Parquet footer: nothing read."""
    return io.table_rows(path) * len(feature_columns(pq.ParquetFile(path))) * 4


def feature_columns(parquet: pq.ParquetFile) -> list[str]:
    """The feature columns in table order (not the index, not the label)."""
    index = set((parquet.schema_arrow.pandas_metadata or {}).get("index_columns", []))
    return [n for n in parquet.schema_arrow.names if n not in index and n != LABEL]


def choose_data(params: TrainParams, path: Path) -> str:
    """'memory' or 'stream': train.data, or for auto the encoded size against
    train.memory_mb."""
    if params.data != "auto":
        chosen = params.data
    else:
        fits = encoded_bytes(path) <= params.memory_mb * 2**20
        chosen = "memory" if fits or params.batch_size == "full" else "stream"
    if chosen == "stream" and params.batch_size == "full":
        raise PipelineError(
            "train.batch_size: 'full' needs the whole train table in memory, but train.data is "
            "'stream'; set an integer train.batch_size or train.data: memory"
        )
    return chosen


class StreamedTable:
    """The encoded train split as a source of seeded batches (see the module docstring)."""

    def __init__(self, path: Path, task: str, device: torch.device, shuffle_rows: int) -> None:
        self.path = Path(path)
        self.device = device
        self.shuffle_rows = shuffle_rows
        parquet = pq.ParquetFile(self.path, pre_buffer=False)
        self.columns = feature_columns(parquet)
        self.groups = parquet.metadata.num_row_groups
        labels = parquet.read(columns=[LABEL]).column(LABEL).to_numpy()
        self.task = task
        self.y = label_tensor(labels, task).to(device)

    def _read(self, order: list[int], out: queue.Queue, stop: threading.Event) -> None:
        """Background thread: put (x, y) of each row group of `order`, then None (or the
        error that stopped it); gives up as soon as the loop has stopped listening."""

        def put(item: object) -> bool:
            while not stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            parquet = pq.ParquetFile(self.path, pre_buffer=False)
            for group in order:
                table = parquet.read_row_group(group, columns=[*self.columns, LABEL])
                x = np.empty((table.num_rows, len(self.columns)), dtype=np.float32)
                for i, column in enumerate(self.columns):
                    x[:, i] = table.column(column).to_numpy()
                y = label_tensor(table.column(LABEL).to_numpy(), self.task)
                if not put((torch.from_numpy(x), y)):
                    return
            put(None)
        except Exception as exc:  # handed to the loop, raised there
            put(exc)

    def _groups(self, order: list[int]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        out: queue.Queue = queue.Queue(maxsize=PREFETCH_GROUPS)
        stop = threading.Event()
        reader = threading.Thread(target=self._read, args=(order, out, stop), daemon=True)
        reader.start()
        try:
            while (item := out.get()) is not None:
                if isinstance(item, BaseException):
                    raise PipelineError(
                        f"train: cannot read {str(self.path)!r} ({type(item).__name__}: "
                        f"{item}); rebuild it with `dvc repro --force encode`"
                    )
                yield item
        finally:
            stop.set()
            reader.join()

    def batches(
        self, batch_size: int, generator: torch.Generator, min_batch: int = 1
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of (x, y) batches on the device; a last batch under `min_batch` rows is
        skipped, as in memory."""
        order = torch.randperm(self.groups, generator=generator).tolist()
        capacity = max(self.shuffle_rows, batch_size)
        held_x: list[torch.Tensor] = []
        held_y: list[torch.Tensor] = []
        held = 0

        def drain(final: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            nonlocal held_x, held_y, held
            x, y = torch.cat(held_x), torch.cat(held_y)
            perm = torch.randperm(len(y), generator=generator)
            whole = len(y) if final else len(y) - len(y) % batch_size
            for start in range(0, whole, batch_size):  # one gather per batch, as in memory
                rows = perm[start : min(start + batch_size, whole)]
                if len(rows) >= min_batch:
                    yield x[rows].to(self.device), y[rows].to(self.device)
            rest = perm[whole:]
            held_x, held_y, held = [x[rest]], [y[rest]], len(rest)

        for x, y in self._groups(order):
            held_x.append(x)
            held_y.append(y)
            held += len(y)
            if held >= capacity:
                yield from drain(final=False)
        if held:
            yield from drain(final=True)
