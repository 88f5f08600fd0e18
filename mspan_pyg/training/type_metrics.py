"""Accuracy of groups of question types, added to a metric summary (NExT-QA's Acc@C/T/D).

:class:`~mspan_pyg.training.metrics.QAMetric` reports accuracy per question type; some datasets
also report groups of types. A group's accuracy weights every question equally (the correct
answers of its types over their questions), as NExT-QA's official evaluation does.
"""

from __future__ import annotations

from typing import Dict, Mapping, Sequence

from mspan_pyg.data.nextqa import NEXTQA_GROUPS

#: dataset -> {group name: its question types}
TYPE_GROUPS: Dict[str, Dict[str, Sequence[str]]] = {
    "nextqa": {f"Acc@{g}": types for g, types in NEXTQA_GROUPS.items()},
}


def add_type_groups(summary: Dict, groups: Mapping[str, Sequence[str]]) -> Dict:
    """``summary`` (from ``QAMetric.compute``) with ``accuracy_by_group``: ``{group: accuracy}``
    for each group with at least one question. Returns ``summary`` unchanged when it has no
    per-type accuracy (a count head, or a single type)."""
    by_type = summary.get("accuracy_by_type")
    counts = summary.get("count_by_type")
    if not groups or by_type is None or counts is None or "mse" in summary:
        return summary
    out = {}
    for name, types in groups.items():
        n = sum(counts.get(t, 0) for t in types)
        if n:
            # the per-type accuracy is correct / count, so this recovers the correct count
            correct = sum(round(by_type[t] * counts[t]) for t in types if counts.get(t))
            out[name] = correct / n
    summary = dict(summary)
    summary["accuracy_by_group"] = out
    return summary


def dataset_type_groups(summary: Dict, dataset: str) -> Dict:
    """:func:`add_type_groups` with the groups of ``dataset`` (unchanged if it has none)."""
    return add_type_groups(summary, TYPE_GROUPS.get(dataset, {}))
