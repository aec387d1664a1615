"""TabM-style ensembles: k MLPs trained as one network (Gorishniy et al., ICLR 2025, "TabM").

Every module here works on a (B, k, d) tensor, one row of d values per member. The members
share the hidden layers' weights and differ through small per-member vectors:

- `mini` (TabM-mini): the input is copied k times and each copy scaled by its member's adapter
  vector r_i (initialized with random signs, so the members differ from the first step).
- `batch` (TabM, BatchEnsemble in every layer): each hidden linear layer computes
  ((x * r_i) W) * s_i + b_i with a shared W; r_i of the first layer starts at random signs, every
  other r_i and s_i at ones, b_i at the shared initial bias.

Both end with k separate output heads (`batch` with no hidden layer is `mini`: adapters, then
heads). The network always returns each member's output (B, k, out) (a plain MLP is k = 1): the
training objective is the mean of the members' losses (`per_member_targets`), and every
prediction, val_loss and the reported train_loss are of their combination (`combine`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

KINDS = ("mini", "batch")


def _random_signs(k: int, d: int) -> torch.Tensor:
    """+1 or -1 with equal chance, from the global torch generator (seeded per run)."""
    return torch.randint(0, 2, (k, d)).float() * 2 - 1


class MemberScale(nn.Module):
    """(B, d) -> (B, k, d): k copies of the input, copy i scaled by the adapter r_i."""

    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self.r = nn.Parameter(_random_signs(k, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-2) * self.r

    def extra_repr(self) -> str:
        return f"k={self.r.shape[0]}, features={self.r.shape[1]}"


class BatchEnsembleLinear(nn.Module):
    """A linear layer shared by k members, each with its own input scale r, output scale s and
    bias: ((x * r_i) W) * s_i + b_i. A (B, d) input is taken as the same row for every member."""

    def __init__(self, k: int, d_in: int, d_out: int, first: bool) -> None:
        super().__init__()
        shared = nn.Linear(d_in, d_out)  # torch's default initialization for W and b
        self.weight = nn.Parameter(shared.weight.detach().clone())
        self.r = nn.Parameter(_random_signs(k, d_in) if first else torch.ones(k, d_in))
        self.s = nn.Parameter(torch.ones(k, d_out))
        self.bias = nn.Parameter(shared.bias.detach().repeat(k, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = x.unsqueeze(-2) if x.dim() == 2 else x
        return (members * self.r) @ self.weight.T * self.s + self.bias

    def extra_repr(self) -> str:
        d_out, d_in = self.weight.shape
        return f"k={self.r.shape[0]}, in_features={d_in}, out_features={d_out}"


class MemberHeads(nn.Module):
    """k output layers applied at once: (B, k, d) -> (B, k, out), member i through head i."""

    def __init__(self, k: int, d: int, out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(d)  # as nn.Linear initializes each head
        self.weight = nn.Parameter(torch.empty(k, d, out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(k, out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bkd,kdo->bko", x, self.weight) + self.bias

    def extra_repr(self) -> str:
        k, d, out = self.weight.shape
        return f"k={k}, in_features={d}, out_features={out}"


class MemberBatchNorm(nn.BatchNorm1d):
    """Batch normalization over the rows of every member at once: statistics of all B * k rows,
    one scale and shift per unit shared by the members (BatchNorm1d reads (N, d) only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def combine(outputs: torch.Tensor, task: str) -> torch.Tensor:
    """(B, k, out) member outputs -> (B, out) of the ensemble's mean prediction, in the form a
    single network gives: the logit of the mean probability (binary), the log of the mean class
    probabilities (multiclass; softmax gives them back), the mean value (regression). One
    member's output is passed through as it is."""
    if outputs.shape[1] == 1:
        return outputs[:, 0]
    if task == "binary":  # log(mean p) - log(mean (1 - p)), computed in log space
        log_p = torch.logsumexp(nn.functional.logsigmoid(outputs), dim=1)
        return log_p - torch.logsumexp(nn.functional.logsigmoid(-outputs), dim=1)
    if task == "multiclass":
        log_p = torch.log_softmax(outputs, dim=-1)
        return torch.logsumexp(log_p, dim=1) - math.log(outputs.shape[1])
    return outputs.mean(dim=1)


def per_member_targets(outputs: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, k, out) outputs and (B,) targets -> (B * k, out) and (B * k,) rows, each member's
    output beside its row's target. A mean-reduced loss of these is the mean over members of
    each member's loss: every member sees the same rows, so each has the same share (with
    class weights too: each member's weight total is the same)."""
    k = outputs.shape[1]
    return outputs.flatten(0, 1), y.repeat_interleave(k)
