"""compare: reports/compare.md, the workspace against another git revision, offline.

It holds a one-line verdict per headline metric (better / worse / same within noise), DVC's
`metrics diff --md` and `params diff --md` tables, and both learning curves side by side in one
PNG (reports/compare_curves.png). The other revision's files are read with `git show` (the
cache: false reports are committed) or, for cached outputs such as reports/train/history.json,
from the local DVC cache (`dvc.api.read`); a curve that neither holds is reported missing.

Noise, explicitly: a change counts only when it exceeds the metric's noise, by the rule of
pipeline/experiments/noise.py (the cv fold std from reports/cv.json when cv ran in the workspace,
else the standard error the revision's evaluate measured on the split's rows, else a proportion's
standard error at the revision's value with n the split's rows, else 5% of that value).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from pipeline.core import io
from pipeline.core.errors import PipelineError
from pipeline.core.params import Params
from pipeline.experiments.noise import RELATIVE_NOISE, noise, verdict
from pipeline.experiments.runs import dvc

HEADLINES = {
    "classification": ("accuracy", "f1_macro", "log_loss"),
    "regression": ("rmse", "mae", "r2"),
}


def read_at(rev: str, path: Path) -> str | None:
    """A file's text at `rev`: from git, else from the DVC cache; None when neither has it."""
    proc = subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True)
    if proc.returncode == 0:
        return proc.stdout
    try:
        import dvc.api

        return dvc.api.read(str(path), rev=rev)
    except Exception:  # dvc raises many kinds for "not there"
        return None


def verdict_lines(
    base: dict[str, Any],
    new: dict[str, Any],
    rows: dict[str, int],
    cv: dict[str, Any] | None = None,
) -> list[str]:
    """One markdown bullet per headline metric of val and test."""
    task = "regression" if "rmse" in new.get("val", {}) else "classification"
    lines = []
    for split in ("val", "test"):
        for metric in HEADLINES[task]:
            old, now = base.get(split, {}).get(metric), new.get(split, {}).get(metric)
            name = f"{split}.{metric}"
            if not isinstance(old, int | float) or not isinstance(now, int | float):
                lines.append(f"- **{name}**: not comparable (missing at one side)")
                continue
            cv_std = None
            if cv and cv.get("enabled"):
                cv_std = (cv.get("val", {}).get(metric) or {}).get("std")
            row_se = base.get("standard_error", {}).get(split, {}).get(metric)
            tol, rule = noise(metric, old, rows.get(split), cv_std, row_se)
            lines.append(
                f"- **{name}**: {verdict(metric, old, now, tol)} "
                f"({old:.4g} → {now:.4g}, change {now - old:+.4g}; noise ±{tol:.3g}, {rule})"
            )
    return lines


def plot_curves(
    curves: dict[str, list[dict[str, float]] | None], path: Path, dpi: int = 100
) -> None:
    """Train and val loss per epoch, one panel per revision, sharing the y axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), sharey=True)
    for ax, (label, history) in zip(axes, curves.items(), strict=True):
        ax.set_title(label)
        ax.set_xlabel("epoch")
        if not history:
            ax.text(0.5, 0.5, "not available", ha="center", va="center", transform=ax.transAxes)
            continue
        epochs = [h["epoch"] for h in history]
        for key in ("train_loss", "val_loss"):
            ax.plot(epochs, [h[key] for h in history], label=key)
        ax.legend()
    axes[0].set_ylabel("loss")
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", metadata={"Software": None})
    plt.close(fig)


def compare(rev: str, params: Params) -> None:
    check = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], capture_output=True
    )
    if check.returncode != 0:
        raise PipelineError(f"compare --rev: {rev!r} is not a git revision here")
    if not io.METRICS.exists():
        raise PipelineError(f"compare: {io.METRICS} is missing; run `dvc repro` first")
    new = io.read_json(io.METRICS)
    base_text = read_at(rev, io.METRICS)
    base = json.loads(base_text) if base_text else {}
    rows = io.read_json(io.SPLIT_REPORT)["rows"] if io.SPLIT_REPORT.exists() else {}
    cv = io.read_json(io.CV_REPORT) if io.CV_REPORT.exists() else None
    history_path = io.TRAIN_LOG_DIR / "history.json"
    base_history = read_at(rev, history_path)
    curves = {
        f"{rev}": json.loads(base_history) if base_history else None,
        "workspace": io.read_json(history_path) if history_path.exists() else None,
    }
    plot_curves(curves, io.COMPARE_CURVES, params.evaluate.dpi)
    metrics_diff = dvc("metrics", "diff", rev, "--md").stdout.strip()
    params_diff = dvc("params", "diff", rev, "--md").stdout.strip()
    lines = [
        f"# Comparison with `{rev}`",
        "",
        "## Verdicts",
        "",
        *(verdict_lines(base, new, rows, cv) if base else [f"- no {io.METRICS} at `{rev}`"]),
        "",
        "Noise: the cv fold std when cv ran; else for proportions sqrt(p(1-p)/n), at least "
        f"1/n (n = rows of the split); else {RELATIVE_NOISE:.0%} of the value at `{rev}`.",
        "",
        "## Metrics (`dvc metrics diff`)",
        "",
        metrics_diff or "No metric changed.",
        "",
        "## Params (`dvc params diff`)",
        "",
        params_diff or "No param changed.",
        "",
        "## Learning curves",
        "",
        f"![learning curves: {rev} and workspace]({io.COMPARE_CURVES.name})",
    ]
    if curves[rev] is None:
        lines += [
            "",
            f"The curve at `{rev}` is not available: {history_path} is neither in git nor in "
            f"the local DVC cache (run `dvc repro` at `{rev}` first, or `dvc pull`).",
        ]
    io.write_text("\n".join(lines) + "\n", io.COMPARE_REPORT)
    print(f"compare: wrote {io.COMPARE_REPORT} and {io.COMPARE_CURVES} against {rev}")
