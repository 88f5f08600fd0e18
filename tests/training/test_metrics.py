import math

import torch

from mspan_pyg.training.metrics import QAMetric


def test_accuracy_counts_out_of_vocabulary_answers_wrong_and_splits_by_type():
    m = QAMetric("open", ["what", "who"])
    pred = torch.tensor([0, 1, 2, 0])
    answer = torch.tensor([0, -1, 2, 1])  # -1: outside the answer vocabulary
    qtype = torch.tensor([0, 0, 1, 1])
    m.update(pred, answer, qtype, loss_sum=4.0)
    out = m.compute()
    assert out["accuracy"] == 0.5 and out["count"] == 4 and out["loss"] == 1.0
    assert out["accuracy_by_type"] == {"what": 0.5, "who": 0.5}
    assert out["count_by_type"] == {"what": 2, "who": 2}


def test_count_mse_of_rounded_predictions():
    m = QAMetric("count", ["count"])
    m.update(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([2.0, 3.0, 7.0]))
    out = m.compute()
    assert math.isclose(out["mse"], (1 + 0 + 9) / 3)
    assert math.isclose(out["accuracy"], 1 / 3)
    assert "mse_by_type" not in out  # one type: no breakdown


def test_sums_of_shards_equal_the_whole():
    torch.manual_seed(0)
    pred, answer = torch.randint(0, 4, (50,)), torch.randint(-1, 4, (50,))
    qtype = torch.randint(0, 3, (50,))
    whole = QAMetric("multichoice", ["a", "b", "c"])
    whole.update(pred, answer, qtype)
    parts = [QAMetric("multichoice", ["a", "b", "c"]) for _ in range(2)]
    for r, p in enumerate(parts):
        p.update(pred[r::2], answer[r::2], qtype[r::2])
    merged = QAMetric("multichoice", ["a", "b", "c"])
    for name in ("count", "correct", "sq_error", "loss_sum"):
        setattr(merged, name, getattr(parts[0], name) + getattr(parts[1], name))
    assert merged.compute() == whole.compute()
    assert whole.value() == (pred == answer).sum().item() / 50


def test_all_reduce_applies_to_every_sum():
    m = QAMetric("open", ["x"])
    m.update(torch.tensor([1, 2]), torch.tensor([1, 0]), loss_sum=3.0)
    m.all_reduce(lambda t: t * 2)  # as if two identical processes
    out = m.compute()
    assert out["count"] == 4 and out["accuracy"] == 0.5 and out["loss"] == 1.5
