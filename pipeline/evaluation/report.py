"""reports/report.md: the one page a person reads after a run."""

from __future__ import annotations

from typing import Any

from pipeline.core import io
from pipeline.core.config import flatten
from pipeline.core.markdown import cell
from pipeline.core.params import Params
from pipeline.core.task import HEADLINE, lower_is_better
from pipeline.model.card import ensemble_note

CLEAR = 2.0  # a paired difference beyond 2 standard errors is one the test rows can tell


def changed_params(params: Params) -> dict[str, tuple[Any, Any]]:
    """key path -> (default, value) for every param that differs from the code's default."""
    ours = flatten(params.model_dump(by_alias=True))
    defaults = flatten(Params().model_dump(by_alias=True))
    return {k: (defaults.get(k), v) for k, v in ours.items() if defaults.get(k) != v}


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _difference(entry: dict[str, Any]) -> str:
    if entry.get("difference") is None:
        return "n/a"
    se = entry.get("standard_error")
    cell = f"{entry['difference']:+.4f}" + (f" ± {se:.4f}" if se is not None else "")
    if "rows_only_a_right" in entry:
        cell += f" ({entry['rows_only_a_right']} vs {entry['rows_only_b_right']} rows)"
    return cell


def reading(entry: dict[str, Any] | None, metric: str) -> str:
    """Whether a paired difference (MLP minus baseline) is beyond CLEAR standard errors."""
    if not entry or entry.get("standard_error") is None or entry.get("difference") is None:
        return "n/a"
    diff, se = entry["difference"], entry["standard_error"]
    if diff == 0 and se == 0:
        return (
            "right on the same rows" if metric == "accuracy" else f"the same {metric} on every row"
        )
    if abs(diff) <= CLEAR * se:
        return "within 2 s.e.: these rows cannot tell them apart"
    better = "better" if (diff < 0 if lower_is_better(metric) else diff > 0) else "worse"
    return f"MLP {better} by {abs(diff) / se:.1f} s.e." if se else f"MLP {better} on every row"


def versus_lines(versus: dict[str, dict[str, Any]], task: str) -> list[str]:
    """The MLP minus each baseline on the same test rows, with paired standard errors."""
    if not versus:
        return []
    headline = HEADLINE[task]
    names = list(next(iter(versus.values())))
    lines = [
        "",
        "## The MLP against each baseline, on the same test rows",
        "",
        "MLP minus baseline ± the paired standard error (the sd of the two models' per-row "
        "differences / √n, by the delta method for rmse and r2; "
        "`pipeline/evaluation/standard_errors.py`)."
        + (
            " Accuracy's brackets count the rows only the MLP got right against those only the "
            "baseline did."
            if headline == "accuracy"
            else ""
        )
        + f" The reading is on {headline}.",
        "",
        "| baseline | " + " | ".join(names) + " | reading |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for name, entries in versus.items():
        cells = [_difference(entries[n]) if n in entries else "n/a" for n in names]
        said = reading(entries.get(headline), headline)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {said} |")
    return lines


def _read(path: Any) -> dict[str, Any]:
    return io.read_json(path) if path.exists() else {}


def report_markdown(
    params: Params,
    card: dict[str, Any],
    metrics: dict[str, Any],
    diagnosis: dict[str, Any],
    pngs: list[str],
    baselines_fitted_on: tuple[int, int] | None = None,
) -> str:
    """report.md; `baselines_fitted_on` is (sampled, all) train rows the baselines saw."""
    validation = _read(io.VALIDATION_REPORT)
    split = _read(io.SPLIT_DIR / "split.json")
    lines = ["# Run report", ""]

    lines += ["## Data", ""]
    lines.append(
        f"`{params.data.path}`: {validation.get('rows_in', '?')} rows in, "
        f"{validation.get('rows_out', '?')} after cleaning; target "
        f"`{card['target']}`, task **{card['task']}** "
        f"({validation.get('task_reason', 'set by data.task')})."
    )
    missing = validation.get("cleaning", {}).get("missing", {})
    if missing:
        lines.append(
            f"Missing values: {missing.get('rule')}, {missing.get('rows_removed', 0)} rows removed."
        )
    warned = [r for r in validation.get("rules", []) if not r["passed"]]
    for rule in warned:
        column = f"`{rule['column']}` " if rule.get("column") else ""
        lines.append(f"- warning: {column}{cell(rule['rule'])} (observed {cell(rule['observed'])})")
    rows = split.get("rows", {})
    if rows:
        sizes = ", ".join(f"{name} {rows[name]}" for name in io.SPLITS if name in rows)
        lines += ["", f"Split: {sizes} rows."]

    changed = changed_params(params)
    lines += ["", "## Params that differ from the defaults", ""]
    if changed:
        lines += ["| key | default | this run |", "|---|---|---|"]
        lines += [f"| `{k}` | {cell(d)} | {cell(v)} |" for k, (d, v) in sorted(changed.items())]
    else:
        lines.append("None: this run used the defaults.")

    lines += ["", "## Model", ""]
    lines.append(
        f"MLP {card['architecture']['hidden']}{ensemble_note(card)} ({card['parameters']} "
        f"trainable parameters), best epoch {card['best_epoch']} of {card['epochs_run']} by "
        f"`{card['monitor']}` ({card['stop_reason']}); restart "
        f"{card['restart_chosen']} of {len(card['restarts'])}."
    )

    names = list(metrics["test"])
    lines += [
        "",
        "## Test metrics beside the baselines",
        "",
        "| model | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    lines.append("| **MLP** | " + " | ".join(_fmt(metrics["test"][n]) for n in names) + " |")
    for name, result in metrics.get("baselines", {}).items():
        lines.append(f"| {name} | " + " | ".join(_fmt(result["test"][n]) for n in names) + " |")
    if (
        metrics.get("baselines")
        and baselines_fitted_on
        and baselines_fitted_on[0] < baselines_fitted_on[1]
    ):
        used, of = baselines_fitted_on
        lines += [
            "",
            f"The baselines were fitted on a seeded sample of {used} of the {of} train rows "
            f"(`evaluate.baseline_rows`); every model is scored on all val and test rows.",
        ]
    lines.append("")
    lines.append(
        "Validation (used for choosing): "
        + ", ".join(f"{n} {_fmt(v)}" for n, v in metrics["val"].items())
        + "."
    )

    lines += versus_lines(diagnosis.get("versus_baselines", {}), card["task"])
    lines += [
        "",
        "## Diagnosis",
        "",
        f"**{diagnosis['verdict']}**: {diagnosis['rule']}.",
        f"Generalization gap at the best epoch (val loss - train loss): "
        f"{diagnosis['generalization_gap']:.4g}.",
    ]

    lines += ["", "## Plots", "", *[f"![{p}](plots/{p})" for p in pngs]]
    lines += [
        "",
        "## Artifacts",
        "",
        f"- metrics `{io.METRICS}`, diagnosis `{io.DIAGNOSIS}`, validation "
        f"`{io.VALIDATION_REPORT.with_suffix('.md')}`",
        f"- model `{io.MODEL_WEIGHTS}` + `{io.MODEL_CARD}`; preprocessing `{io.PREPROCESSOR}`",
        f"- training curves `{io.TRAIN_LOG_DIR}/` (DVC plots), "
        f"`tensorboard --logdir {io.TENSORBOARD_DIR}`; plots `{io.PLOTS_DIR}/`",
    ]
    return "\n".join(lines) + "\n"
