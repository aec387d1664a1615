"""summary: the test metrics and where the reports are, printed at the end of `make run`."""

from __future__ import annotations

from pipeline.core import io
from pipeline.core.task import HEADLINE
from pipeline.evaluation.report import reading


def summary() -> None:
    """Test metrics and where the reports are, for the end of `make run`."""
    metrics = io.read_json(io.METRICS)
    card = io.read_json(io.MODEL_CARD)
    diagnosis = io.read_json(io.DIAGNOSIS)
    verdict = diagnosis["verdict"]
    headline = HEADLINE[card["task"]]

    def fmt(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    print(
        f"\nTarget '{card['target']}' ({card['task']}), best epoch {card['best_epoch']} "
        f"of {card['epochs_run']}; fit: {verdict}."
    )
    print("Test metrics: " + ", ".join(f"{k} {fmt(v)}" for k, v in metrics["test"].items()))
    baselines = metrics.get("baselines", {})
    if baselines:
        print(
            f"Baselines, test {headline}: "
            + ", ".join(f"{name} {fmt(b['test'][headline])}" for name, b in baselines.items())
        )
    against = diagnosis.get("versus_baselines", {}).get("hist_gradient_boosting", {}).get(headline)
    if against and against.get("standard_error") is not None:
        print(
            f"MLP minus hist_gradient_boosting on the same test rows, {headline}: "
            f"{against['difference']:+.4f} ± {against['standard_error']:.4f} (paired s.e.): "
            f"{reading(against, headline)}"
        )
    print(
        f"Report: {io.REPORT}   metrics: {io.METRICS}   plots: {io.PLOTS_DIR}/   "
        f"validation: {io.VALIDATION_REPORT.with_suffix('.md')}"
    )
