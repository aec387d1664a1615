"""noise: when two values of a metric count as the same, for compare's verdicts and best's margin.

The rule, from the most to the least informed:
- the fold-to-fold standard deviation of k-fold CV, when it is known;
- for metrics that are proportions (accuracy, f1 ...), the standard error of a proportion at the
  reference value, sqrt(p(1-p)/n) with n the rows of the split, and never less than 1/n (one row
  changing its prediction);
- otherwise (log_loss, rmse, mae, r2), 5% of the reference value (absolute, at least 1e-9).
"""

from __future__ import annotations

import math

from pipeline.task import lower_is_better

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
    metric: str, base: float, n: int | None, cv_std: float | None = None
) -> tuple[float, str]:
    """The change below which two values count as the same, and the rule that gave it."""
    if cv_std is not None:
        return cv_std, "cv std"
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
