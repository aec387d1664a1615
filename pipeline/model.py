"""The network: a multi-layer perceptron defined as an `nn.Module` class, built from params."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from pipeline.config import ModelParams
from pipeline.embeddings import FeatureEmbeddings
from pipeline.feature_layout import FeatureLayout, embedding_spec

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def output_size(task: str, n_classes: int | None) -> int:
    """1 logit for binary, one per class for multiclass, 1 value for regression."""
    if task == "multiclass":
        assert n_classes is not None
        return n_classes
    return 1


NORMALIZATIONS: dict[str, type[nn.Module]] = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


class MLP(nn.Module):
    """[Input embeddings ->] hidden blocks (linear, normalization, activation, dropout) ->
    output. `embeddings` (feature_layout.embedding_spec) is absent from the spec when None."""

    def __init__(
        self,
        in_features: int,
        hidden: list[int],
        out_features: int,
        activation: str = "relu",
        dropout: float = 0.0,
        normalization: str = "none",
        embeddings: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.spec = {
            "in_features": in_features,
            "hidden": list(hidden),
            "out_features": out_features,
            "activation": activation,
            "dropout": dropout,
            "normalization": normalization,
        }
        self.embed: FeatureEmbeddings | None = None
        width = in_features
        if embeddings:
            self.spec["embeddings"] = embeddings
            self.embed = FeatureEmbeddings(in_features, embeddings)
            width = self.embed.out_features
        layers: list[nn.Module] = []
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if normalization != "none":
                layers.append(NORMALIZATIONS[normalization](size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed is not None:
            x = self.embed(x)
        return self.output(self.hidden(x))

    @classmethod
    def from_params(
        cls,
        params: ModelParams,
        in_features: int,
        out_features: int,
        layout: FeatureLayout | None = None,
    ) -> MLP:
        """`layout` (feature_layout.feature_layout of preprocessor.json): which inputs the
        embedding params apply to (needed when they ask for embeddings)."""
        wanted = params.num_embeddings != "none" or params.categorical != "onehot"
        if layout is None and wanted:
            raise ValueError("model embeddings need the feature layout of preprocessor.json")
        return cls(
            in_features,
            params.hidden,
            out_features,
            params.activation,
            params.dropout,
            params.normalization,
            embedding_spec(params, layout) if layout is not None else None,
        )

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MLP:
        return cls(**spec)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def outputs_to_predictions(outputs: torch.Tensor, task: str) -> np.ndarray:
    """Raw network outputs -> class probabilities (n, k) or regression values (n,)."""
    outputs = outputs.detach().to("cpu", torch.float64)
    if task == "binary":
        p = torch.sigmoid(outputs[:, 0])
        return torch.stack([1 - p, p], dim=1).numpy()
    if task == "multiclass":
        return torch.softmax(outputs, dim=1).numpy()
    return outputs[:, 0].numpy()
