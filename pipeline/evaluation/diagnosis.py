"""The fit's verdict from the learning curves (underfitting, overfitting after epoch N, good fit),
with the rule that produced it."""

from __future__ import annotations

from typing import Any

from pipeline.core.task import HEADLINE, lower_is_better


def diagnose(
    history: list[dict[str, float]], card: dict[str, Any], val_metrics: dict, baselines: dict
) -> dict[str, Any]:
    """A plain verdict from the learning curves, with the rule that produced it."""
    best = card["best_epoch"]
    at_best, after = history[best - 1], history[best:]
    gap = at_best["val_loss"] - at_best["train_loss"]
    # curves are noisy epoch to epoch: compare the mean after the best epoch, not one point
    rise = 0.0
    train_improved = False
    if after:
        val_after = sum(h["val_loss"] for h in after) / len(after)
        rise = (val_after - at_best["val_loss"]) / abs(at_best["val_loss"] or 1.0)
        train_improved = min(h["train_loss"] for h in after) < at_best["train_loss"]
    tail = history[-max(2, len(history) // 10) :]
    still_falling = (tail[0]["train_loss"] - tail[-1]["train_loss"]) / abs(
        tail[0]["train_loss"] or 1.0
    )
    metric = HEADLINE[card["task"]]
    higher = not lower_is_better(metric)
    simple = baselines.get("majority") or baselines.get("mean")
    beats_simple = simple is None or (
        val_metrics[metric] > simple["val"][metric]
        if higher
        else val_metrics[metric] < simple["val"][metric]
    )
    if not beats_simple:
        verdict = "underfitting"
        rule = f"val {metric} is no better than the {'majority' if higher else 'mean'} baseline's"
    elif rise > 0.10 and train_improved:
        verdict = f"overfitting after epoch {best}"
        rule = (
            f"after the best epoch, mean val loss was {rise:.0%} above its best (> 10%) "
            f"while train loss went lower still; the saved weights are epoch {best}'s"
        )
    elif best == len(history) and still_falling > 0.01:
        verdict = "underfitting"
        rule = (
            f"the last epoch was the best and train loss fell {still_falling:.1%} (> 1%) "
            f"over the last {len(tail)} epochs: more epochs or a higher lr may help"
        )
    else:
        verdict = "good fit"
        rule = (
            "beats the simple baseline; mean val loss after the best epoch stayed within 10% "
            "of its best (or train loss did not improve either); training had levelled off"
        )
    return {
        "verdict": verdict,
        "rule": rule,
        "best_epoch": best,
        "generalization_gap": gap,
        "val_loss_rise_after_best": rise,
    }
