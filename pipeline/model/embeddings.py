"""The MLP's input embeddings, built from the `embeddings` entry of its spec (feature_layout.py).

Numeric features (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular Deep
Learning"): a feature x becomes [cos(2 pi c x), sin(2 pi c x)] for k trainable frequencies c of
its own, initialised from N(0, frequency_scale) truncated at 3 standard deviations (as the
authors' package rtdl_num_embeddings), then a linear map of its own to `dim` values (periodic:
P-L), then a ReLU (plr: P-L-R); `lite` shares one linear map across features (their TabR
variant, PLR only). Categorical features coded as ordinals: code c looks up row c + 1 of an
`nn.Embedding(categories + 1, dim)`; row 0 is the unknown code -1.

Inputs not embedded (one-hot columns, numeric ones when only categories are embedded) pass
through unchanged; the output is [passed through, numeric embeddings flattened, categorical
embeddings], the width `feature_layout.embedding_size` gives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pipeline.model.feature_layout import embedding_size


class Periodic(nn.Module):
    """(n, m) features -> (n, m, 2k): cosines and sines at k trainable frequencies each."""

    def __init__(self, features: int, frequencies: int, scale: float) -> None:
        super().__init__()
        self.frequencies = nn.Parameter(torch.empty(features, frequencies))
        nn.init.trunc_normal_(self.frequencies, 0.0, scale, -3 * scale, 3 * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angle = 2 * math.pi * self.frequencies * x[..., None]
        return torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)


class PerFeatureLinear(nn.Module):
    """(n, m, a) -> (n, m, b): a separate linear map for each of the m features."""

    def __init__(self, features: int, in_size: int, out_size: int) -> None:
        super().__init__()
        bound = in_size**-0.5  # nn.Linear's default range
        self.weight = nn.Parameter(torch.empty(features, in_size, out_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(features, out_size).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.transpose(0, 1) @ self.weight).transpose(0, 1) + self.bias


class NumericEmbeddings(nn.Module):
    """(n, m) scaled numeric features -> (n, m * dim): periodic (P-L) or plr (P-L-R)."""

    def __init__(
        self,
        features: int,
        kind: str,
        dim: int,
        frequencies: int,
        frequency_scale: float,
        lite: bool,
    ) -> None:
        super().__init__()
        if kind not in ("periodic", "plr"):
            raise ValueError(f"unknown numeric embedding {kind!r}")
        self.periodic = Periodic(features, frequencies, frequency_scale)
        self.linear = (
            nn.Linear(2 * frequencies, dim)
            if lite
            else PerFeatureLinear(features, 2 * frequencies, dim)
        )
        self.activation = nn.ReLU() if kind == "plr" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.linear(self.periodic(x))).flatten(1)


class CategoricalEmbeddings(nn.Module):
    """(n, c) ordinal codes (-1 = unknown, as float) -> (n, sum of dims)."""

    def __init__(self, cardinalities: list[int], dims: list[int]) -> None:
        super().__init__()
        self.tables = nn.ModuleList(
            nn.Embedding(card + 1, dim) for card, dim in zip(cardinalities, dims, strict=True)
        )

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        rows = codes.long() + 1
        return torch.cat([table(rows[:, i]) for i, table in enumerate(self.tables)], dim=1)


class FeatureEmbeddings(nn.Module):
    """The encoded features (n, in_features) -> the hidden layers' input (n, out_features)."""

    def __init__(self, in_features: int, spec: Mapping[str, Any]) -> None:
        super().__init__()
        numeric, categorical = spec.get("numeric"), spec.get("categorical")
        embedded: list[int] = []
        self.numeric: NumericEmbeddings | None = None
        self.categorical: CategoricalEmbeddings | None = None
        if numeric:
            embedded += numeric["columns"]
            self.numeric = NumericEmbeddings(
                len(numeric["columns"]),
                numeric["kind"],
                numeric["dim"],
                numeric["frequencies"],
                numeric["frequency_scale"],
                numeric["lite"],
            )
        if categorical:
            embedded += categorical["columns"]
            self.categorical = CategoricalEmbeddings(
                categorical["cardinalities"], categorical["dims"]
            )
        if len(set(embedded)) != len(embedded) or not all(0 <= i < in_features for i in embedded):
            raise ValueError(f"embedded columns {embedded} overlap or exceed {in_features} inputs")
        passed = [i for i in range(in_features) if i not in set(embedded)]
        # index lists, not weights: kept out of the state dict (the spec holds them)
        self.register_buffer("passed", torch.tensor(passed, dtype=torch.long), persistent=False)
        for name, part in (("numeric_columns", numeric), ("categorical_columns", categorical)):
            columns = part["columns"] if part else []
            self.register_buffer(name, torch.tensor(columns, dtype=torch.long), persistent=False)
        self.out_features = embedding_size(in_features, spec)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x.index_select(1, self.passed)]
        if self.numeric is not None:
            parts.append(self.numeric(x.index_select(1, self.numeric_columns)))
        if self.categorical is not None:
            parts.append(self.categorical(x.index_select(1, self.categorical_columns)))
        return torch.cat(parts, dim=1)
