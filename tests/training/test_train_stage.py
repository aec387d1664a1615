"""The train stage as DVC runs it: outputs, resume after a kill, divergence, CUDA."""

import json
import subprocess
import sys

import pytest
import torch

from pipeline.core import io
from pipeline.stages import train

from ..conftest import ROOT, small_params
from ..helpers import FAST_TRAIN, kill_then_resume

FAST = FAST_TRAIN


def test_stage_writes_model_card_and_train_reports(encoded):
    params = small_params({"train": {**FAST, "restarts": 2}})
    train.run(params)
    card = json.loads(io.MODEL_CARD.read_text())
    assert card["parameters"] == 899 and card["features"][0] == "island=Biscoe"
    assert len(card["restarts"]) == 2 and card["restart_chosen"] in (0, 1)
    assert card["stop_reason"]
    summary = json.loads((io.TRAIN_LOG_DIR / "metrics.json").read_text())
    assert summary["best_epoch"] == card["best_epoch"]
    assert summary["val_loss"] == card["best"]["val_loss"]  # the best epoch, not the last
    assert "| 1 |" in (io.TRAIN_LOG_DIR / "report.md").read_text()
    assert list(io.TENSORBOARD_DIR.glob("restart_*/events.out.tfevents.*"))
    assert not io.TRAIN_CHECKPOINT.exists()  # a finished run removes its checkpoint


def test_killed_stage_resumes_to_byte_identical_outputs(encoded, monkeypatch):
    params = small_params(
        {"train": {**FAST, "restarts": 2, "batch_size": 16}, "model": {"normalization": "batch"}}
    )
    kill_then_resume(params, monkeypatch, encoded, restart=1, epoch=7)
    assert not io.TRAIN_CHECKPOINT.exists()


def test_resume_never_starts_over(encoded):
    params = small_params({"train": {**FAST, "resume": "never"}})
    io.TRAIN_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    io.TRAIN_CHECKPOINT.write_bytes(b"left over from an old run")
    train.run(params)  # would fail to load the junk file if it tried
    assert io.MODEL_WEIGHTS.exists()


def test_divergence_stops_the_stage_with_nothing_saved(encoded):
    params = small_params({"train": {**FAST, "optimizer": "sgd", "lr": 1e12, "momentum": 0}})
    with pytest.raises(train.PipelineError, match="diverged"):
        train.run(params)
    assert not io.MODEL_WEIGHTS.exists() and not io.MODEL_CARD.exists()
    assert not io.TRAIN_LOG_DIR.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_stage_trains_on_cuda(encoded):
    params = small_params({"train": {**FAST, "device": "cuda"}})
    train.run(params)
    card = json.loads(io.MODEL_CARD.read_text())
    assert card["best"]["val_accuracy"] >= 0.9


def test_stage_warns_but_trains_with_settings_that_do_nothing(encoded, capsys):
    params = small_params(
        {
            "train": {
                **FAST,
                "epochs": 5,
                "patience": 5,
                "batch_size": 5000,
                "scheduler": {"step_size": 3},
            }
        }
    )
    train.run(params)
    err = capsys.readouterr().err
    assert "train.patience (5) >= train.epochs (5)" in err
    assert "train.scheduler.step_size is set (3) but train.scheduler.name 'none'" in err
    assert "train.batch_size 5000 is larger than the 266 train rows" in err
    assert io.MODEL_WEIGHTS.exists()


def test_torch_setup_turns_on_deterministic_kernels_without_loading_the_inductor():
    """configure() is what every stage calls; the inductor import would cost ~1.5 s each."""
    code = (
        "import sys, torch\n"
        "from pipeline.training import torch_setup\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "torch_setup.configure(1)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert 'torch._inductor.config' not in sys.modules\n"
        "import torch._inductor.config as inductor\n"
        "torch_setup.configure(1)\n"
        "assert inductor.deterministic\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
