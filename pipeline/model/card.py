"""The model card (models/model.json) in words: the architecture line and the training report."""

from __future__ import annotations

from typing import Any

from pipeline.core.markdown import cell


def ensemble_text(k: int, kind: str) -> str:
    """' x k (TabM kind ensemble)' after the layer sizes of an ensemble of k, else ''."""
    return f" x {k} (TabM {kind} ensemble)" if k > 1 else ""


def ensemble_note(card: dict[str, Any]) -> str:
    """ensemble_text of a model card (cards from before ensembles are one MLP)."""
    arch = card["architecture"]
    return ensemble_text(arch.get("ensemble", 1), arch.get("ensemble_kind", "mini"))


def card_markdown(card: dict[str, Any]) -> str:
    """reports/train/report.md: the chosen restart and how each run of training went."""
    monitor = card["monitor"]
    lines = [
        "# Training",
        "",
        f"MLP {card['architecture']['hidden']}{ensemble_note(card)} ({card['parameters']} "
        f"trainable parameters), task {card['task']}, monitor `{monitor}`.",
        "",
        f"Chosen: restart {card['restart_chosen']}, best epoch {card['best_epoch']} of "
        f"{card['epochs_run']} ({card['stop_reason']}).",
        "",
        f"| restart | seed | best epoch | epochs run | {monitor} | stop reason |",
        "|---|---|---|---|---|---|",
    ]
    for r in card["restarts"]:
        lines.append(
            f"| {r['restart']} | {r['seed']} | {r['best_epoch']} | {r['epochs_run']} | "
            f"{r[monitor]:.6g} | {cell(r['stop_reason'])} |"
        )
    return "\n".join(lines) + "\n"
