"""Train rows as the loop reads them: resident tensors cut by a seeded permutation, or (for a
table over `train.memory_mb`) streamed from disk (`pipeline.training.streaming`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from pipeline.core.tables import LABEL
from pipeline.training.streaming import StreamedTable


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
