"""noise: when two values of a metric count as the same, for compare's verdicts and best's margin.

The rule, from the most to the least informed:
- the fold-to-fold standard deviation of k-fold CV, when it is known;
- the standard error evaluate measured from the split's rows (metrics.json's standard_error,
  pipeline/evaluation/standard_errors.py: accuracy, log_loss, rmse, mae, r2), when the run has
  it. It is one run's own, not the paired s.e. of the difference (that needs both runs' rows),
  so it is cautious where two runs find the same rows hard;
- for metrics that are proportions (accuracy, f1 ...), the standard error of a proportion at the
  reference value, sqrt(p(1-p)/n) with n the rows of the split, and never less than 1/n (one row
  changing its prediction);
- otherwise (log_loss, rmse, mae, r2), 5% of the reference value (absolute, at least 1e-9).
"""

from __future__ import annotations

import math

from pipeline.core.task import lower_is_better

PROPORTIONS = {
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "precision_macro",
    "recall_macro",
    "roc_auc",
}
RELATIVE_NOISE = 0.05


def noise(
    metric: str,
    base: float,
    n: int | None,
    cv_std: float | None = None,
    row_se: float | None = None,
) -> tuple[float, str]:
    """The change below which two values count as the same, and the rule that gave it."""
    if cv_std is not None:
        return cv_std, "cv std"
    if row_se is not None:
        floor = 1 / n if n and metric in PROPORTIONS else 1e-9  # one row flipping, as below
        return max(row_se, floor), "s.e. over the rows" + (f", n={n}" if n else "")
    if metric in PROPORTIONS and n:
        p = min(max(base, 0.0), 1.0)
        return max(math.sqrt(p * (1 - p) / n), 1 / n), f"proportion s.e., n={n}"
    return max(abs(base) * RELATIVE_NOISE, 1e-9), f"{RELATIVE_NOISE:.0%} of value"


def verdict(metric: str, base: float, new: float, tolerance: float) -> str:
    delta = new - base
    if abs(delta) <= tolerance:
        return "same within noise"
    improved = delta < 0 if lower_is_better(metric) else delta > 0
    return "better" if improved else "worse"
