"""The first training rows raw beside encoded, with their labels, as a markdown page.

The course material asks to "review the first 25 training features and corresponding labels";
this shows them twice: as `split` wrote them, and as the model receives them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.core.markdown import cell
from pipeline.core.tables import LABEL

ROWS = 25


def _cell(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "·"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}g}"
    return cell(value)


def preview_markdown(
    raw: pd.DataFrame, encoded: pd.DataFrame, encoder: dict[str, Any], rows: int = ROWS
) -> str:
    """Markdown table: row number, raw features, raw label ‖ encoded features, encoded label."""
    target = encoder["target"]
    raw_features = [c for c in raw.columns if c != target]
    features = encoder["features"]
    n = min(rows, len(raw))
    header = ["row", *raw_features, f"**{target}**", "→", *features, f"**{LABEL}**"]
    lines = [
        f"# First {n} training rows",
        "",
        "Left of →: the rows as `split` wrote them (data/split/train.parquet; `·` = null). "
        "Right: what the model receives (data/encoded/train.parquet, float32 features "
        "in the encoder's order) and the encoded label "
        + (
            f"(class index into {encoder['classes']})."
            if encoder["classes"]
            else "(the target, standardized with train-row mean/std when encode.scale_target)."
        ),
        "",
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    for i in range(n):
        source, coded = raw.iloc[i], encoded.iloc[i]
        cells = [
            str(raw.index[i]),
            *(_cell(source[c], 4) for c in raw_features),
            f"**{_cell(source[target], 6)}**",
            "→",
            *(_cell(float(coded[c]), 4) for c in features),
            f"**{_cell(coded[LABEL].item(), 4)}**",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
