"""The network: a multi-layer perceptron defined as an `nn.Module` class, built from params."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pipeline.core.params import ModelParams
from pipeline.model.embeddings import FeatureEmbeddings
from pipeline.model.ensemble import (
    BatchEnsembleLinear,
    MemberBatchNorm,
    MemberHeads,
    MemberScale,
)
from pipeline.model.feature_layout import FeatureLayout, embedding_spec, feature_layout
from pipeline.model.sizing import output_width

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


NORMALIZATIONS: dict[str, type[nn.Module]] = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


class MLP(nn.Module):
    """[Input embeddings ->] hidden blocks (linear, normalization, activation, dropout) ->
    output. `embeddings` (feature_layout.embedding_spec) is absent from the spec when None.

    With `ensemble` k > 1 it is k MLPs trained as one, TabM-style (pipeline.model.ensemble, kind
    `mini` or `batch`): the hidden blocks carry a (B, k, d) tensor and k heads give (B, k, out).
    `forward` always returns member outputs (B, k, out), in training and in eval mode alike; a
    plain MLP (k = 1) is an ensemble of one. `pipeline.model.ensemble.combine` makes them the
    ensemble's one prediction. `task` is kept in the spec for the card."""

    def __init__(
        self,
        in_features: int,
        hidden: list[int],
        out_features: int,
        activation: str = "relu",
        dropout: float = 0.0,
        normalization: str = "none",
        ensemble: int = 1,
        ensemble_kind: str = "mini",
        task: str | None = None,
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
            "ensemble": ensemble,
            "ensemble_kind": ensemble_kind,
            "task": task,
        }
        self.k = ensemble
        self.embed: FeatureEmbeddings | None = None
        width = in_features
        if embeddings:
            self.spec["embeddings"] = embeddings
            self.embed = FeatureEmbeddings(in_features, embeddings)
            width = self.embed.out_features
        layers: list[nn.Module] = []
        batch_ensemble = ensemble > 1 and ensemble_kind == "batch" and bool(hidden)
        if ensemble > 1 and not batch_ensemble:  # mini (or no hidden layer): input adapters
            layers.append(MemberScale(ensemble, width))
        for i, size in enumerate(hidden):
            if batch_ensemble:
                layers.append(BatchEnsembleLinear(ensemble, width, size, first=i == 0))
            else:
                layers.append(nn.Linear(width, size))
            if normalization == "batch" and ensemble > 1:
                layers.append(MemberBatchNorm(size))
            elif normalization != "none":
                layers.append(NORMALIZATIONS[normalization](size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        self.hidden = nn.Sequential(*layers)
        if ensemble > 1:
            self.output: nn.Module = MemberHeads(ensemble, width, out_features)
        else:
            self.output = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, features) -> (B, k, out): each member's output."""
        if self.embed is not None:
            x = self.embed(x)
        outputs = self.output(self.hidden(x))
        return outputs.unsqueeze(-2) if self.k == 1 else outputs

    @classmethod
    def from_params(
        cls,
        params: ModelParams,
        in_features: int,
        out_features: int,
        layout: FeatureLayout | None = None,
        task: str | None = None,
    ) -> MLP:
        """`layout` (feature_layout.feature_layout of preprocessor.json): which inputs the
        embedding params apply to (needed when they ask for embeddings); `task` combines an
        ensemble's members."""
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
            params.ensemble,
            params.ensemble_kind,
            task,
            embedding_spec(params, layout) if layout is not None else None,
        )

    @classmethod
    def for_features(cls, params: ModelParams, saved: Mapping[str, Any]) -> MLP:
        """The configured network for the fitted preprocessing `saved` (preprocessor.json):
        its features, their layout, the task and its classes."""
        classes = saved["classes"] or []
        out = output_width(saved["task"], len(classes))
        layout = feature_layout(saved)
        return cls.from_params(params, len(saved["features"]), out, layout, saved["task"])

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> MLP:
        return cls(**spec)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
