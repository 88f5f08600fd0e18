"""Type groups added to a metric summary (NExT-QA Acc@C/T/D, from its registry entry)."""

import torch

from mspan_pyg.data.nextqa import NEXTQA_TYPES
from mspan_pyg.data.registry import get_dataset
from mspan_pyg.training.metrics import QAMetric, add_type_groups


def test_groups_from_a_metric_match_hand_counts():
    metric = QAMetric("multichoice", NEXTQA_TYPES)
    # types: CW CW CW CH TN TC DC DO ; hits: 1 1 0 0 1 0 1 1
    qtype = torch.tensor([0, 0, 0, 1, 2, 3, 4, 6])
    answer = torch.zeros(8, dtype=torch.long)
    pred = torch.tensor([0, 0, 1, 2, 0, 3, 0, 0])
    metric.update(pred, answer, qtype)
    got = add_type_groups(metric.compute(), get_dataset("nextqa").type_groups)
    assert got["accuracy_by_group"] == {"Acc@C": 2 / 4, "Acc@T": 1 / 2, "Acc@D": 2 / 2}
    assert got["accuracy"] == 5 / 8


def test_no_groups_for_other_datasets_or_count():
    summary = {"accuracy": 1.0, "accuracy_by_type": {"a": 1.0}, "count_by_type": {"a": 1}}
    assert add_type_groups(summary, get_dataset("msvd").type_groups) == summary
    assert add_type_groups({"mse": 1.0, "accuracy": 0.0}, {"g": ("a",)}) == {
        "mse": 1.0,
        "accuracy": 0.0,
    }
