"""evaluate: score the saved model on val and test, beside simple baselines; diagnose the fit.

The test split is read here and nowhere else. Writes reports/metrics.json (`{"val": {...}, "test":
{...}, "baselines": {name: {"val": ..., "test": ...}}, "standard_error": {"val": {...}, "test":
{...}}}`, the last the MLP's, pipeline/evaluation/standard_errors.py), reports/diagnosis.json (the
fit's verdict, and the MLP minus each baseline on the same test rows with the paired standard
error), plot data and PNGs under reports/plots/, and reports/report.md.
"""

from __future__ import annotations

from typing import Any

from pipeline.core import io
from pipeline.core.config import load_params
from pipeline.core.params import Params
from pipeline.core.sampling import sample_positions, take_positions
from pipeline.core.tables import LABEL
from pipeline.core.task import HEADLINE
from pipeline.evaluation.baselines import baseline_models, fit_baselines
from pipeline.evaluation.diagnosis import diagnose
from pipeline.evaluation.metrics import EVAL_SPLITS, score
from pipeline.evaluation.plots import plot_tables, render_pngs
from pipeline.evaluation.predictions import MLP_NAME, predict_split
from pipeline.evaluation.standard_errors import (
    paired_differences,
    standard_errors,
)
from pipeline.model.inference import features, load_model
from pipeline.training import torch_setup


def run(params: Params) -> None:
    torch_setup.configure(params.train.threads)
    card = io.read_json(io.MODEL_CARD)
    model = load_model(card)
    history = io.read_json(io.TRAIN_LOG_DIR / "history.json")
    batch_rows = params.data.batch_rows
    train_path = io.ENCODED_DIR / "train.parquet"
    train_rows = io.table_rows(train_path) if train_path.exists() else 0
    positions = sample_positions(train_rows, params.evaluate.baseline_rows, params.seed)
    baselines: dict[str, Any] = {}
    if baseline_models(card["task"], params.evaluate, params.seed):  # any switched on
        sample = take_positions(io.iter_table(train_path, batch_rows), positions)
        baselines = fit_baselines(
            features(sample), sample[LABEL].to_numpy(), card["task"], params.evaluate, params.seed
        )
        del sample
    metrics: dict[str, Any] = {}
    scored: dict[str, dict[str, Any]] = {name: {} for name in baselines}
    errors: dict[str, dict[str, float | None]] = {}
    gathered = {}
    for split in EVAL_SPLITS:
        gathered[split] = predict_split(
            io.ENCODED_DIR / f"{split}.parquet", model, baselines, card, batch_rows
        )
        y = gathered[split].labels(card)
        mlp = gathered[split].of(MLP_NAME)
        metrics[split] = score(y, mlp, card["task"])
        errors[split] = standard_errors(y, mlp, card["task"])
        for name in baselines:
            scored[name][split] = score(y, gathered[split].of(name), card["task"])
        if split != "test":
            del gathered[split]
    metrics["baselines"] = scored
    metrics["standard_error"] = errors
    diagnosis = diagnose(history, card, metrics["val"], metrics["baselines"])

    test = gathered.pop("test")
    y_test, mlp_test = test.labels(card), test.of(MLP_NAME)
    diagnosis["versus_baselines"] = {
        name: paired_differences(y_test, mlp_test, test.of(name), card["task"])
        for name in baselines
    }
    plot_data = plot_tables(y_test, mlp_test, card)
    del test, y_test, mlp_test
    with io.atomic_dir(io.PLOTS_DIR) as out:
        for name, table in plot_data.items():
            io.write_csv(table, out / name)
        pngs = render_pngs(plot_data, history, card, out, params.evaluate.dpi)
    io.write_json(metrics, io.METRICS)
    io.write_json(diagnosis, io.DIAGNOSIS)

    from pipeline.evaluation.report import report_markdown

    fitted_on = (len(positions), train_rows)
    io.write_text(report_markdown(params, card, metrics, diagnosis, pngs, fitted_on), io.REPORT)
    headline = HEADLINE[card["task"]]
    print(f"evaluate: test {headline} {metrics['test'][headline]:.4f}; {diagnosis['verdict']}")


if __name__ == "__main__":
    run(load_params())
