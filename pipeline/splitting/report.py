"""reports/split.md: the split report as markdown for people."""

from __future__ import annotations

from typing import Any

from pipeline.core.markdown import cell


def split_markdown(report: dict[str, Any]) -> str:
    rows = report["rows"]
    lines = [
        "# Split",
        "",
        f"Scheme **{report['scheme']}** (seed {report['seed']}, "
        f"{'stratified by class' if report['stratified'] else 'not stratified'}"
        + (f", groups of `{report['group']}` kept whole" if report["group"] else "")
        + f"): train {rows['train']}, val {rows['val']}, test {rows['test']} rows.",
    ]
    if "val_from_train" in report:
        lines += ["", report["val_from_train"].capitalize() + "."]
    if "folds" in report:
        f = report["folds"]
        lines += [
            "",
            f"{f['k']} folds of the non-test rows ({', '.join(map(str, f['rows']))} rows); "
            f"fold {f['val_fold']} is val here, and `{f['file']}` keeps every fold for "
            f"cross-validation.",
        ]
    if "class_counts" in report:
        counts = report["class_counts"]
        classes = sorted({c for split in counts.values() for c in split})
        lines += ["", "| class | " + " | ".join(counts) + " |", "|---" * (len(counts) + 1) + "|"]
        for c in classes:
            lines.append(
                f"| {cell(c)} | " + " | ".join(str(counts[s].get(c, 0)) for s in counts) + " |"
            )
    if "oversampling" in report:
        o = report["oversampling"]
        lines += [
            "",
            "Random oversampling of the train split only (val and test untouched):",
            "",
            "| class | train rows before | after |",
            "|---|---|---|",
        ]
        lines += [f"| {cell(c)} | {n} | {o['after'][c]} |" for c, n in o["before"].items()]
    dup = report["duplicates"]
    total = dup["rows"]
    lines += ["", f"## Identical feature rows across splits: {total}"]
    if total:
        lines += ["", f"Policy `split.duplicates: {dup['policy']}`."]
        lines += ["", "| splits | rows | e.g. rows |", "|---|---|---|"]
        for pair, found in dup["pairs"].items():
            lines.append(f"| {pair} | {found['rows']} | {found['examples']} |")
    shift = report["shift"]
    flagged = [r for r in shift["columns"] if r["shifted"]]
    lines += [
        "",
        f"## Train vs test shift: {len(flagged)} of {len(shift['columns'])} features "
        f"flagged (p < {shift['alpha']:g})",
        "",
        "KS test for numeric features, chi-squared for categorical ones, on the train and test "
        f"rows (a seeded sample of {shift['sample_rows']} rows of a larger split). A flag is a "
        "warning: look at the feature; with many features a few are flagged by chance.",
        "",
        "| feature | test | statistic | p-value | shifted |",
        "|---|---|---|---|---|",
    ]
    for r in shift["columns"]:
        lines.append(
            f"| {cell(r['column'])} | {r['test']} | {r['statistic']:.4g} | {r['p_value']:.4g} | "
            f"{'**yes**' if r['shifted'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"
