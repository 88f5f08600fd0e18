"""Names shared by every layer: answer heads, dataset tasks, question types.

Two words that are easy to mix up:

- a **head** is the kind of answer the model produces: ``"open"`` (a class out of an answer
  vocabulary), ``"count"`` (a number) or ``"multichoice"`` (a score per candidate). ``MSPAN``
  takes it as its ``task=`` argument.
- a **task** is a dataset's question task: TGIF-QA's ``action``, ``transition``, ``count`` and
  ``frameqa``, and ``qa`` for the open-ended MSVD-QA / MSRVTT-QA.

:data:`TASK_HEAD` maps each task to its head. The datasets a run can use, with their readers and
defaults, are registered in :mod:`mspan_pyg.data.registry`.
"""

from __future__ import annotations

from typing import Dict, Tuple

#: answer heads of the model
HEADS: Tuple[str, ...] = ("open", "count", "multichoice")
#: the four TGIF-QA tasks
TGIF_TASKS: Tuple[str, ...] = ("action", "transition", "count", "frameqa")
#: the single task of the open-ended MSVD-QA / MSRVTT-QA
VIDEOQA_TASK = "qa"
#: the head that answers each task
TASK_HEAD: Dict[str, str] = {
    "action": "multichoice",
    "transition": "multichoice",
    "count": "count",
    "frameqa": "open",
    VIDEOQA_TASK: "open",
}
#: TGIF-QA FrameQA ``type`` column 0..3
FRAMEQA_TYPES: Tuple[str, ...] = ("object", "number", "color", "location")
#: MSVD-QA / MSRVTT-QA question types (first question word; everything else is "other")
VIDEOQA_TYPES: Tuple[str, ...] = ("what", "who", "how", "when", "where", "other")
#: TGIF-QA count answers (inclusive); the count head's predictions are clamped to it
COUNT_RANGE: Tuple[int, int] = (1, 10)
#: the built-in datasets and their tasks
DATASETS: Dict[str, Tuple[str, ...]] = {
    "tgif": TGIF_TASKS,
    "msvd": (VIDEOQA_TASK,),
    "msrvtt": (VIDEOQA_TASK,),
}
