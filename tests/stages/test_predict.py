"""predict: new rows through the saved pipeline give what evaluate gave; bad input is named."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.__main__ import main
from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.model import inference
from pipeline.stages.predict import run_predict

from ..conftest import ROOT, regression_table
from ..helpers import build, build_penguins, read_output


@pytest.fixture(scope="module")
def penguins_root(tmp_path_factory) -> Path:
    return build_penguins(tmp_path_factory.mktemp("penguins"))


@pytest.fixture
def penguins(penguins_root, monkeypatch) -> Path:
    monkeypatch.chdir(penguins_root)
    return penguins_root


def test_predicting_the_raw_table_matches_evaluate_on_test_rows(penguins, tmp_path):
    run_predict("data/raw/penguins.csv", str(tmp_path / "p.csv"))
    out = read_output(tmp_path / "p.csv")
    written = pd.read_csv(tmp_path / "p.csv")
    assert len(written) == 344 and list(written["row"]) == list(range(344))

    card = io.read_json(io.MODEL_CARD)
    test = io.read_table(io.ENCODED_DIR / "test.parquet")
    expected = inference.predict(inference.load_model(card), test, card)
    got = out.loc[test.index, [f"proba_{c}" for c in card["classes"]]].to_numpy(dtype=float)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    classes = np.asarray(card["classes"])
    assert list(out.loc[test.index, "prediction"]) == list(classes[expected.argmax(axis=1)])


def test_rows_cleaning_would_drop_are_reported_not_lost(penguins, tmp_path, capsys):
    run_predict("data/raw/penguins.csv", str(tmp_path / "p.csv"))
    out = read_output(tmp_path / "p.csv")
    skipped = out[out["skipped"] != ""]
    assert list(skipped.index) == [3, 8, 9, 10, 11, 47, 178, 218, 256, 268, 271]
    assert skipped["prediction"].isna().all()
    assert "null in sex (clean.missing: drop)" in skipped.loc[8, "skipped"]
    assert "11 row(s) not predicted" in capsys.readouterr().err


def test_id_column_is_kept(penguins, tmp_path):
    raw = pd.read_csv("data/raw/penguins.csv").head(5)
    raw.insert(0, "bird", [f"b{i}" for i in range(5)])
    raw.to_csv(tmp_path / "in.csv", index=False)
    run_predict(str(tmp_path / "in.csv"), str(tmp_path / "p.csv"), id_column="bird")
    out = read_output(tmp_path / "p.csv")
    assert list(out["bird"]) == ["b0", "b1", "b2", "b3", "b4"]
    assert list(pd.read_csv(tmp_path / "p.csv").columns[:3]) == ["row", "bird", "prediction"]


def test_a_semicolon_file_with_decimal_commas_predicts_as_its_comma_twin(
    penguins, tmp_path, capsys
):
    raw = pd.read_csv("data/raw/penguins.csv").head(20)
    raw.to_csv(tmp_path / "comma.csv", index=False)
    raw.to_csv(tmp_path / "semicolon.csv", index=False, sep=";", decimal=",")
    run_predict(str(tmp_path / "comma.csv"), str(tmp_path / "a.csv"))
    assert "warning" not in capsys.readouterr().err  # as penguins.csv was read in training
    run_predict(str(tmp_path / "semicolon.csv"), str(tmp_path / "b.csv"))
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    err = capsys.readouterr().err
    assert "predict: warning: --input " in err  # exported another way than the training table
    assert "';' between fields (detected: data.csv.delimiter auto)" in err
    assert "but the training table had ',' between fields, '.' as decimal mark" in err


def bad_input(tmp_path: Path, change) -> str:
    raw = pd.read_csv(ROOT / "data/raw/penguins.csv").head(20)
    raw = change(raw)
    raw.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(PipelineError) as info:
        run_predict(str(tmp_path / "in.csv"), str(tmp_path / "p.csv"))
    assert not (tmp_path / "p.csv").exists()
    return str(info.value)


def test_missing_column_is_named(penguins, tmp_path):
    message = bad_input(tmp_path, lambda df: df.drop(columns=["body_mass_g"]))
    assert "lacks column(s) ['body_mass_g']" in message


def test_text_in_a_numeric_column_is_named_with_its_row(penguins, tmp_path):
    def change(df):
        df["bill_depth_mm"] = df["bill_depth_mm"].astype(object)
        df.loc[4, "bill_depth_mm"] = "deep"
        return df

    message = bad_input(tmp_path, change)
    assert "column 'bill_depth_mm' must hold finite numbers" in message
    assert "row 4 = 'deep'" in message


def test_unseen_category_follows_the_encode_setting(penguins, tmp_path, capsys):
    raw = pd.read_csv(ROOT / "data/raw/penguins.csv").head(5)
    raw.loc[0, "island"] = "Atlantis"
    raw.to_csv(tmp_path / "in.csv", index=False)
    run_predict(str(tmp_path / "in.csv"), str(tmp_path / "p.csv"))
    out = read_output(tmp_path / "p.csv")  # unknown: ignore
    assert out.loc[0, "prediction"] in ("Adelie", "Chinstrap", "Gentoo")
    assert "1 row(s) with a category of 'island' unseen" in capsys.readouterr().err

    saved = io.read_json(io.PREPROCESSOR)
    try:
        io.write_json({**saved, "unknown": "error"}, io.PREPROCESSOR)
        with pytest.raises(PipelineError, match="column 'island' has categories not seen"):
            run_predict(str(tmp_path / "in.csv"), str(tmp_path / "q.csv"))
    finally:
        io.write_json(saved, io.PREPROCESSOR)


def test_input_that_is_not_a_table_names_the_option(penguins, tmp_path):
    with pytest.raises(PipelineError, match=r"--input: '.*nope\.csv' does not exist"):
        run_predict(str(tmp_path / "nope.csv"), str(tmp_path / "p.csv"))


def test_cli_before_training_says_to_run_dvc_repro(tmp_path, monkeypatch, capsys):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["predict", "--input", "x.csv", "--output", "y.csv"]) == 1
    assert "run `dvc repro` to train first" in capsys.readouterr().err


@pytest.mark.parametrize(
    "scale",
    [{}, {"method": "quantile", "sample_rows": 100, "clip": 3.0}],
    ids=["standard", "quantile_sampled_clipped"],
)
def test_regression_round_trip_in_original_units(tmp_path, monkeypatch, scale):
    df = regression_table()
    df.to_csv(tmp_path / "t.csv", index=False)
    root = tmp_path / "project"
    build(
        root,
        {"t.csv": (tmp_path / "t.csv").read_bytes()},
        {"data": {"path": "data/raw/t.csv", "target": "y"}, "scale": scale},
    )
    monkeypatch.chdir(root)
    run_predict("data/raw/t.csv", str(tmp_path / "p.csv"))
    out = read_output(tmp_path / "p.csv")
    card = io.read_json(io.MODEL_CARD)
    assert card["target_scaling"] is not None
    scaler = io.read_json(io.PREPROCESSOR)["scaler"]
    assert ("quantiles" in scaler) == (scale.get("method") == "quantile")
    assert scaler.get("clip") == scale.get("clip")
    test = io.read_table(io.ENCODED_DIR / "test.parquet")
    expected = inference.predict(inference.load_model(card), test, card)
    np.testing.assert_allclose(out.loc[test.index, "prediction"], expected, rtol=1e-6)
    assert abs(out["prediction"] - df["y"]).mean() < df["y"].std() / 2  # original units


def test_written_csv_escapes_formulas_and_keeps_probabilities_numeric(penguins, tmp_path):
    rows = pd.read_csv("data/raw/penguins.csv").dropna().head(4)
    rows.insert(0, "tag", ["=1+2", "@SUM(A1)", "-3.5", "+cmd|' /C calc'!A0"])
    rows.to_csv(tmp_path / "in.csv", index=False)
    run_predict(str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), id_column="tag")
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["tag"]) == ["'=1+2", "'@SUM(A1)", "-3.5", "'+cmd|' /C calc'!A0"]
    probas = written.filter(like="proba_")
    assert all(pd.api.types.is_float_dtype(t) for t in probas.dtypes)
    assert (probas.sum(axis=1) - 1).abs().max() < 1e-5
