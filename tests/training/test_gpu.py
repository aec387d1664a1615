"""Training on CUDA: the same promises as on the CPU (byte-identical reruns, clear refusals),
and train.precision. The CUDA cases skip without a GPU; the CPU cases run everywhere."""

import pytest
import torch

from pipeline.core.config import parse_params
from pipeline.stages import train
from pipeline.training import loop

from ..conftest import small
from ..helpers import FAST_TRAIN as FAST
from ..helpers import kill_then_resume, outputs

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

# Every training option whose kernels differ on CUDA, each trained twice on the GPU.
CUDA_OPTIONS = {
    "defaults": {},
    "batch_norm": {"model": {"normalization": "batch"}},
    "layer_norm": {"model": {"normalization": "layer"}},
    "gelu_no_dropout": {"model": {"activation": "gelu", "dropout": 0.0}},
    "balanced_weights": {"train": {"class_weights": "balanced"}},
    "sgd_step": {"train": {"optimizer": "sgd", "lr": 0.05, "scheduler": {"name": "step"}}},
    "adamw_cosine": {"train": {"optimizer": "adamw", "weight_decay": 0.01,
                               "scheduler": {"name": "cosine"}}},
    "rmsprop_plateau": {"train": {"optimizer": "rmsprop", "lr": 0.001,
                                  "scheduler": {"name": "plateau"}}},
    "l1_clip": {"train": {"l1": 0.0001, "clip_grad_norm": 1.0}},
    "full_batch": {"train": {"batch_size": "full", "lr": 0.05}},
    "restarts": {"train": {"restarts": 2}},
    "tf32": {"train": {"precision": "tf32"}},
    "bf16": {"train": {"precision": "bf16"}},
    "periodic": {"model": {"num_embeddings": "periodic"}},
    "plr_lite": {"model": {"num_embeddings": "plr", "num_embedding_lite": True}},
}  # fmt: skip


def cuda_params(option: dict) -> object:
    sections = {k: dict(v) for k, v in option.items()}
    sections["train"] = {**FAST, "epochs": 12, "device": "cuda", **sections.get("train", {})}
    return parse_params(small(sections))


@needs_cuda
@pytest.mark.parametrize("name", list(CUDA_OPTIONS))
def test_cuda_training_is_byte_identical_across_runs(encoded, name):
    params = cuda_params(CUDA_OPTIONS[name])
    train.run(params)
    first = outputs(encoded)
    train.run(params)
    assert outputs(encoded) == first


@needs_cuda
def test_bf16_on_cuda_learns_as_well_as_fp32(encoded):
    accuracy = {}
    for precision in ("fp32", "bf16"):
        train.run(cuda_params({"train": {"precision": precision, "epochs": 30}}))
        accuracy[precision] = train.io.read_json(train.io.MODEL_CARD)["best"]["val_accuracy"]
    assert accuracy["bf16"] >= 0.9 and accuracy["fp32"] >= 0.9


@needs_cuda
def test_killed_cuda_run_resumes_to_byte_identical_outputs(encoded, monkeypatch):
    kill_then_resume(cuda_params({"train": {"restarts": 2}}), monkeypatch, encoded, 1, 4)


def test_precision_on_the_cpu_warns_and_trains_in_fp32(encoded, capsys):
    train.run(parse_params(small({"train": {**FAST, "epochs": 5}})))
    fp32 = outputs(encoded)
    train.run(parse_params(small({"train": {**FAST, "epochs": 5, "precision": "bf16"}})))
    assert "train.precision 'bf16' applies on CUDA only" in capsys.readouterr().err
    assert outputs(encoded) == fp32


def test_an_op_without_a_deterministic_kernel_is_named(encoded, monkeypatch):
    """What torch raises on CUDA for such an op becomes one clear line, and no model."""

    def refuses(*args, **kwargs):
        raise RuntimeError(
            "index_add_cuda_ does not have a deterministic implementation, but you set "
            "'torch.use_deterministic_algorithms(True)'."
        )

    monkeypatch.setattr(loop, "fit", refuses)
    with pytest.raises(train.PipelineError, match="index_add_cuda_ has no deterministic"):
        train.run(parse_params(small({"train": FAST})))
    assert not train.io.MODEL_WEIGHTS.exists()


def test_bad_precision_is_rejected_with_the_allowed_values():
    with pytest.raises(train.PipelineError, match=r"train\.precision: 'fp16'.*fp32, tf32, bf16"):
        parse_params({"train": {"precision": "fp16"}})
