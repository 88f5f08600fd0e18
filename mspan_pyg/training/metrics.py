"""Evaluation metrics for video QA: accuracy (overall and by question type) and count MSE.

The metric keeps integer/float64 *sums* rather than running means, so that the sums of
several processes can be all-reduced and give exactly the single-process result.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import torch

from mspan_pyg.errors import ConfigError
from mspan_pyg.tasks import HEADS


def metric_name(head: str) -> str:
    """The primary metric of a model head: ``"mse"`` for count, ``"accuracy"`` otherwise."""
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
    return "mse" if head == "count" else "accuracy"


def higher_is_better(name: str) -> bool:
    """Whether a larger value of metric ``name`` is better (accuracy) or worse (mse, loss)."""
    return name == "accuracy"


class QAMetric:
    """Accumulates predictions against answers, overall and per question type.

    Args:
        head: the model head (``"open"``, ``"count"`` or ``"multichoice"``).
        qtype_names: names of the question types (``batch["qtype"]`` indexes this list).

    For ``open``/``multichoice`` a prediction is correct when it equals the answer; an answer of
    ``-1`` (outside the answer vocabulary) never equals a prediction and so always counts wrong.
    For ``count`` the metric is the mean squared error of the (already rounded and clamped)
    prediction.
    """

    def __init__(self, head: str, qtype_names: Sequence[str]):
        self.name = metric_name(head)
        self.qtype_names: List[str] = list(qtype_names)
        q = max(len(self.qtype_names), 1)
        self.count = torch.zeros(q, dtype=torch.int64)
        self.correct = torch.zeros(q, dtype=torch.int64)
        self.sq_error = torch.zeros(q, dtype=torch.float64)
        self.loss_sum = torch.zeros((), dtype=torch.float64)

    @torch.no_grad()
    def update(
        self,
        pred: torch.Tensor,
        answer: torch.Tensor,
        qtype: Optional[torch.Tensor] = None,
        loss_sum: Optional[float] = None,
    ) -> None:
        """Adds a batch. ``loss_sum`` is the batch's summed (not averaged) loss, if known."""
        pred = pred.detach().cpu()
        answer = answer.detach().cpu()
        if qtype is None:
            qtype = torch.zeros(answer.shape[0], dtype=torch.int64)
        qtype = qtype.detach().cpu().long()
        q = self.count.numel()
        self.count += torch.bincount(qtype, minlength=q)[:q]
        if self.name == "mse":
            err = (pred.double() - answer.double()).pow(2)
            self.sq_error += torch.zeros(q, dtype=torch.float64).index_add_(0, qtype, err)
            hit = pred.double().eq(answer.double())
        else:
            hit = pred.long().eq(answer.long())
        self.correct += torch.bincount(qtype, weights=hit.double(), minlength=q)[:q].round().long()
        if loss_sum is not None:
            self.loss_sum += float(loss_sum)

    def all_reduce(self, reduce_fn) -> "QAMetric":
        """Sums the accumulators across processes with ``reduce_fn(tensor) -> tensor``."""
        self.count = reduce_fn(self.count)
        self.correct = reduce_fn(self.correct)
        self.sq_error = reduce_fn(self.sq_error)
        self.loss_sum = reduce_fn(self.loss_sum)
        return self

    @property
    def total(self) -> int:
        return int(self.count.sum())

    def value(self) -> float:
        """The primary metric (accuracy or mse); ``nan`` when nothing was added."""
        n = self.total
        if n == 0:
            return float("nan")
        if self.name == "mse":
            return float(self.sq_error.sum() / n)
        return float(self.correct.sum()) / n

    def compute(self) -> Dict[str, object]:
        """A JSON-able summary: primary metric, count, loss, and the per-type breakdown."""
        n = self.total
        out: Dict[str, object] = {self.name: self.value(), "count": n}
        if self.name == "mse":
            # Exact-match rate of the rounded count: handy, but the reported metric is mse.
            out["accuracy"] = float(self.correct.sum()) / n if n else float("nan")
        if n:
            out["loss"] = float(self.loss_sum) / n
        if len(self.qtype_names) > 1:
            by_type = {}
            for i, name in enumerate(self.qtype_names):
                k = int(self.count[i])
                if k == 0:
                    continue
                if self.name == "mse":
                    by_type[name] = float(self.sq_error[i]) / k
                else:
                    by_type[name] = int(self.correct[i]) / k
            out[f"{self.name}_by_type"] = by_type
            out["count_by_type"] = {
                name: int(self.count[i])
                for i, name in enumerate(self.qtype_names)
                if int(self.count[i])
            }
        return out


def add_type_groups(summary: Dict, groups: Mapping[str, Sequence[str]]) -> Dict:
    """``summary`` (from ``QAMetric.compute``) with ``accuracy_by_group``: ``{group: accuracy}``
    for each of a dataset's groups of question types (its registry entry's ``type_groups``,
    e.g. NExT-QA's Acc@C/T/D) that has a question. A group weights every question equally, as
    the official evaluations do. Returns ``summary`` unchanged without per-type accuracy (a
    count head, or a single type)."""
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
