"""The resumable training state, kept outside DVC's outputs (checkpoints/train.pt)."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

import torch

from pipeline.core import io
from pipeline.core.params import Params


class Checkpoint:
    """The training state after the last finished epoch, kept outside DVC's outputs.

    Read with `weights_only=True` (tensors and plain values only; nothing executes). A state
    whose fingerprint (params and input data) differs from the current run is ignored."""

    def __init__(self, path: Any, fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint

    def load(self) -> dict[str, Any] | None:
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, weights_only=True, map_location="cpu")
        except Exception as exc:  # not ours, damaged, or a pickle wanting code: never run it
            print(
                f"train: ignoring {self.path} (not a checkpoint that can be read as plain "
                f"data: {type(exc).__name__}); starting over",
                file=sys.stderr,
            )
            return None
        if not isinstance(saved, dict) or saved.get("fingerprint") != self.fingerprint:
            print(f"train: ignoring {self.path} (it belongs to other params or data)")
            return None
        return saved["state"]

    def save(self, state: dict[str, Any]) -> None:
        with io.atomic_path(self.path) as tmp:
            torch.save({"fingerprint": self.fingerprint, "state": state}, tmp)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


# Bumped when what a checkpoint holds means something else: 2 = train_loss is the loss of the
# ensemble's prediction (a state of format 1 would resume into a history that mixes the two).
CHECKPOINT_FORMAT = 2


def fingerprint(params: Params, paths: list[Any]) -> str:
    """What a checkpoint must match to be resumed: the params that shape training, the data."""
    digest = hashlib.sha256()
    shaping = params.train.model_dump(exclude={"resume", "progress"})
    state = [CHECKPOINT_FORMAT, params.seed, params.model.model_dump(), shaping]
    digest.update(json.dumps(state, sort_keys=True).encode())
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()
