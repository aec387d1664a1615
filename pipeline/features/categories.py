"""The category cap and the names of the inputs the preprocessing adds.

Cap (encode.max_categories, encode.min_frequency), fitted on train rows: a categorical column
keeps its own code (one-hot input or ordinal code) for the categories seen in at least
`min_frequency` train rows, at most `max_categories` of them, the most frequent first (ties:
the smaller value as text); the rest share one "other" level, the column's last code. A category
unseen in train rows is not "other": it follows encode.unknown, as in a column without a cap.
A column with a declared order (the schema file) keeps every category. `validate` applies the
same rule to its counts to size the model.

Missing-value indicators (clean.missing: impute): one per column with a null in train rows,
except that the features of one date column (`d_year`, `d_month`, ... made by validate, see
`pipeline.checks.dates`) share one, named for the date column (`d__missing`): they are null
together, as every part comes from the one parsed time (a cell that is null or not a date gives
none; a date without a time gives hour 0, not null). Were they ever null apart, the indicator
is 1 where any of them is null: the date was not whole.

Names that cannot collide: the "other" level is OTHER and a missing-value indicator is
`<column>` + MISSING_SUFFIX, each lengthened by underscores while it equals a name already in
use (a category of the column; a column or feature name).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

OTHER = "__other__"
MISSING_SUFFIX = "__missing"


def cap_categories(
    counts: Mapping[str, float], max_categories: int | None, min_frequency: float
) -> tuple[list[str], list[str]]:
    """(categories keeping their own code, categories folded into "other"), each sorted."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kept = [value for value, count in ranked if count >= min_frequency][:max_categories]
    chosen = set(kept)
    return sorted(kept), sorted(value for value in counts if value not in chosen)


def capped_width(
    counts: Mapping[str, float], max_categories: int | None, min_frequency: float
) -> int:
    """Codes a column gets under the cap: those kept, plus one "other" when any is folded."""
    kept, folded = cap_categories(counts, max_categories, min_frequency)
    return len(kept) + bool(folded)


def fit_cap(
    counts: Mapping[str, int], max_categories: int | None, min_frequency: int
) -> tuple[list[str], dict[str, Any] | None]:
    """(the column's categories, in code order, "other" last when any is folded; the other
    level {label, members} or None)."""
    kept, folded = cap_categories(counts, max_categories, min_frequency)
    if not folded:
        return kept, None
    label = unique_name(OTHER, counts)
    return [*kept, label], {"label": label, "members": folded}


def indicated(columns: Iterable[str], dates: Mapping[str, list[str]]) -> dict[str, list[str]]:
    """Column whose indicator it is -> the columns it covers, for `columns` (those with a null):
    a date feature's indicator is its date column's (`dates`: date column -> its features)."""
    source = {feature: column for column, features in dates.items() for feature in features}
    groups: dict[str, list[str]] = {}
    for column in columns:
        groups.setdefault(source.get(column, column), []).append(column)
    return groups


def indicator_names(columns: list[str], taken: Collection[str]) -> dict[str, str]:
    """Column -> name of its missing-value indicator, unique among `taken` and each other."""
    names: dict[str, str] = {}
    for column in columns:
        names[column] = unique_name(column + MISSING_SUFFIX, {*taken, *names.values()})
    return names


def text_counts(counts: Mapping[Any, int]) -> dict[str, int]:
    """Counts keyed by each value as text (how categories are named and matched)."""
    text: dict[str, int] = {}
    for value, count in counts.items():
        text[str(value)] = text.get(str(value), 0) + count
    return text


def unique_name(name: str, taken: Collection[str]) -> str:
    """`name`, with "_" appended until it is none of `taken`."""
    while name in taken:
        name += "_"
    return name
