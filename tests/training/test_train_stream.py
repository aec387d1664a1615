"""train.data: stream: the same quality as in memory, deterministic, resumable; auto's choice."""

from pathlib import Path

import pytest
import torch
import yaml

from pipeline.core import io
from pipeline.core.config import parse_params
from pipeline.core.errors import PipelineError
from pipeline.core.params import TrainParams
from pipeline.core.tables import LABEL
from pipeline.stages import encode, split, train, validate
from pipeline.stages import fit_preprocessor as scale
from pipeline.training import streaming as train_stream
from pipeline.training.streaming import StreamedTable, choose_data, encoded_bytes

from ..conftest import ROOT, small, small_params
from ..helpers import accuracy_on_test, kill_then_resume, outputs, penguins_encoded, start

FAST = {"epochs": 25, "patience": 10, "progress": False, "batch_size": 16}
STREAM = {**FAST, "data": "stream", "shuffle_rows": 40}
TRAIN = io.ENCODED_DIR / "train.parquet"


@pytest.fixture
def encoded(tmp_path, monkeypatch) -> Path:
    """Penguins through validate..encode, the tables cut into row groups of 32 rows."""
    monkeypatch.setattr(io, "ROW_GROUP_ROWS", 32)
    return penguins_encoded(tmp_path, monkeypatch, {"data": {"batch_rows": 50}})


def epoch(table: StreamedTable, seed: int, batch: int = 16) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [y for _, y in table.batches(batch, generator)]


def test_streamed_epochs_visit_every_row_once_in_a_seeded_order(encoded):
    table = StreamedTable(TRAIN, "multiclass", torch.device("cpu"), shuffle_rows=40)
    assert table.groups > 3
    rows = io.read_table(TRAIN)
    x = torch.tensor(rows.drop(columns=[LABEL]).to_numpy(dtype="float32"))
    seen = torch.cat([bx for bx, _ in table.batches(16, torch.Generator().manual_seed(0))])
    assert len(seen) == len(rows)
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, x.tolist()))
    first = epoch(table, seed=0)
    assert [len(b) for b in first[:-1]] == [16] * (len(first) - 1)
    assert all(torch.equal(a, b) for a, b in zip(first, epoch(table, seed=0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, epoch(table, seed=1), strict=False))


def test_stream_matches_memory_quality_and_is_byte_identical_run_to_run(encoded):
    train.run(small_params({"train": FAST}))
    memory = io.read_json(io.MODEL_CARD)["best"]["val_accuracy"]
    train.run(small_params({"train": STREAM}))
    streamed = io.read_json(io.MODEL_CARD)["best"]["val_accuracy"]
    first = outputs(encoded)
    assert streamed > 0.9 and abs(streamed - memory) <= 0.05
    train.run(small_params({"train": STREAM}))
    assert outputs(encoded) == first


def test_killed_streamed_run_resumes_to_byte_identical_outputs(encoded, monkeypatch):
    params = small_params({"train": {**STREAM, "restarts": 2}})
    kill_then_resume(params, monkeypatch, encoded, restart=1, epoch=5)


def test_auto_streams_only_above_the_memory_budget(encoded, monkeypatch):
    size = encoded_bytes(TRAIN)
    assert size == io.table_rows(TRAIN) * len(io.read_json(io.PREPROCESSOR)["features"]) * 4
    assert choose_data(TrainParams(), TRAIN) == "memory"
    monkeypatch.setattr(train_stream, "encoded_bytes", lambda path: 2049 * 2**20)
    assert choose_data(TrainParams(), TRAIN) == "stream"  # over the default 2048 MiB
    assert choose_data(TrainParams(memory_mb=4096), TRAIN) == "memory"
    assert choose_data(TrainParams(data="memory"), TRAIN) == "memory"
    assert choose_data(TrainParams(batch_size="full"), TRAIN) == "memory"  # needs it all
    with pytest.raises(PipelineError, match=r"train.batch_size: 'full'.*train.data is 'stream'"):
        choose_data(TrainParams(data="stream", batch_size="full"), TRAIN)


@pytest.mark.slow
def test_two_processes_stream_the_same_batches_to_the_same_bytes(tmp_path):
    """train.processes: 2 with train.data: stream, of a TabM ensemble: every worker reads the
    same seeded stream and takes its share of each batch; quality within noise of one process,
    rerun identical."""

    root = tmp_path / "project"
    (root / "data/raw").mkdir(parents=True)
    for name in ("penguins.csv", "penguins.schema.yaml"):
        (root / "data/raw" / name).write_bytes((ROOT / "data/raw" / name).read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.setattr(io, "ROW_GROUP_ROWS", 32)
        for stage in (validate, split, scale, encode):
            stage.run(parse_params({}))
        mp.setattr(io, "ROW_GROUP_ROWS", 65_536)
        ensemble = {"ensemble": 4, "ensemble_kind": "mini"}
        settings = small({"model": ensemble, "train": {**STREAM, "epochs": 12, "patience": 5}})
        (root / "params.yaml").write_text(yaml.safe_dump(settings))
        train.run(parse_params(settings))
        one = accuracy_on_test(root)
        settings["train"]["processes"] = 2
        (root / "params.yaml").write_text(yaml.safe_dump(settings))
        runs = []
        for _ in range(2):
            proc = start(root)
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0 and "on 2 processes (cpu)" in out, err
            runs.append(outputs(root))
        assert runs[0] == runs[1]
        two = accuracy_on_test(root)
        assert two >= 0.9 and abs(two - one) <= 0.06, (one, two)
