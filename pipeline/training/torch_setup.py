"""Torch set-up shared by every command that runs a network: threads, determinism, precision.

Same params and data must give the same bytes on the CPU and on the same GPU. On CUDA that
needs deterministic kernels (`torch.use_deterministic_algorithms`) and a fixed cuBLAS workspace
(`CUBLAS_WORKSPACE_CONFIG`, read when cuBLAS starts, so it is set before any CUDA work). An op
with no deterministic CUDA kernel then raises instead of silently differing between runs;
`nondeterministic_op` recognises that error so the stage can say which option caused it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import torch

from pipeline.core.errors import PipelineError
from pipeline.core.params import Params

# cuBLAS picks reduction orders per stream workspace; a fixed workspace makes them repeatable.
CUBLAS_WORKSPACE = ":4096:8"

# train.precision -> autocast dtype (None: full float32 arithmetic).
AUTOCAST = {"fp32": None, "tf32": None, "bf16": torch.bfloat16}


def configure(threads: int, precision: str = "fp32") -> None:
    """Call once per process before building models or moving tensors to a GPU."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.set_num_threads(threads)
    _use_deterministic_algorithms()
    torch.backends.cudnn.benchmark = False  # autotuning picks kernels by timing: not repeatable
    # float32 matmuls in float32 unless train.precision asks for TF32 (CUDA matrix units).
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"


def _use_deterministic_algorithms() -> None:
    """`torch.use_deterministic_algorithms(True)` without importing the inductor.

    That function also sets `torch._inductor.config.deterministic`, and importing that module
    costs ~1.5 s per process here (every stage, every worker). Nothing in the pipeline compiles,
    so set the flag the kernels read, and the inductor's only if something already loaded it.
    """
    torch._C._set_deterministic_algorithms(True)
    inductor = sys.modules.get("torch._inductor.config")
    if inductor is not None:
        inductor.deterministic = True


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Run the block in train.precision's autocast dtype, or as it is for fp32 and tf32."""
    dtype = AUTOCAST[precision]
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def nondeterministic_op(exc: BaseException) -> bool:
    """Whether `exc` is torch refusing an op that has no deterministic implementation."""
    return isinstance(exc, RuntimeError) and "does not have a deterministic" in str(exc)


def resolve_device(name: str) -> torch.device:
    """train.device -> a torch device; 'auto' prefers CUDA, then MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise PipelineError(
            f"train.device: {name!r} requested but CUDA is not available here; use cpu or auto"
        )
    if name == "mps" and not torch.backends.mps.is_available():
        raise PipelineError("train.device: 'mps' requested but MPS is not available; use cpu")
    return torch.device(name)


@contextlib.contextmanager
def named_nondeterminism(params: Params, device: torch.device) -> Iterator[None]:
    """Torch refuses an op with no deterministic kernel (on CUDA): say so as a PipelineError
    naming the settings in play, rather than training to bytes that differ run to run."""
    try:
        yield
    except RuntimeError as exc:
        if not nondeterministic_op(exc):
            raise
        op = str(exc).split(" does not have")[0].strip()
        model, train = params.model, params.train
        raise PipelineError(
            f"train: {op} has no deterministic implementation on {device.type}, so this run "
            f"could not be reproduced byte for byte (train.device {train.device!r}, "
            f"train.precision {train.precision!r}, train.class_weights {train.class_weights!r}, "
            f"model.normalization {model.normalization!r}); change one of these or train on "
            f"the cpu"
        ) from None
