import os
import stat

import numpy as np
import pandas as pd
import pytest

from pipeline.core import io
from pipeline.core.errors import PipelineError


def test_atomic_write_keeps_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "out.json"
    io.write_json({"v": 1}, target)
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed")
    assert io.read_json(target) == {"v": 1}  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_dir_replaces_a_folder_whole_or_not_at_all(tmp_path):
    target = tmp_path / "split"
    with io.atomic_dir(target) as out:
        (out / "a.txt").write_text("a")
    with pytest.raises(RuntimeError), io.atomic_dir(target) as out:
        (out / "b.txt").write_text("b")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["split"]
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]


def test_outputs_get_the_usual_permissions_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_text("x", tmp_path / "f.txt")
        with io.atomic_dir(tmp_path / "d"):
            pass
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_same_frame_gives_same_parquet_bytes(tmp_path):
    df = pd.DataFrame({"a": [1.5, 2.5], "b": ["x", "y"]})
    df.index.name = io.ROW
    io.write_table(df, tmp_path / "1.parquet")
    io.write_table(df.copy(), tmp_path / "2.parquet")
    assert (tmp_path / "1.parquet").read_bytes() == (tmp_path / "2.parquet").read_bytes()
    pd.testing.assert_frame_equal(io.read_table(tmp_path / "1.parquet"), df)


def test_table_writer_bytes_do_not_depend_on_frame_size(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "ROW_GROUP_ROWS", 64)
    df = pd.DataFrame({"x": np.arange(300, dtype=float), "c": [str(i % 5) for i in range(300)]})
    df.index.name = io.ROW
    written = []
    for size in (7, 64, 300):
        path = tmp_path / f"t{size}.parquet"
        with io.TableWriter(path) as out:
            for start in range(0, len(df), size):
                out.write(df.iloc[start : start + size])
        written.append(path.read_bytes())
        pd.testing.assert_frame_equal(pd.concat(io.iter_table(path, 50)), df)
    assert written[0] == written[1] == written[2]


def test_table_writer_leaves_nothing_when_the_block_fails(tmp_path):
    path = tmp_path / "t.parquet"
    df = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(RuntimeError), io.TableWriter(path) as out:
        out.write(df)
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_fit_inputs_reads_missing_and_date_features_or_says_what_to_rerun(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PipelineError, match=r"cv: missing input .*cleaning\.json.*dvc repro"):
        io.fit_inputs("cv")
    roles = {"drop": ["id"], "dates": {"d": ["year", "days"], "e": []}}
    io.write_json({"missing": "drop", "roles": roles}, io.CLEANING)
    assert io.fit_inputs("cv") == ("drop", {"d": ["d_year", "d_days"], "e": []})
    io.write_json({"missing": "drop"}, io.CLEANING)  # written before the roles
    with pytest.raises(PipelineError, match="written by an older validate"):
        io.fit_inputs("cv")
