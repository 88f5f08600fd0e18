"""Names shared by every layer: answer heads, dataset tasks, question types.

Two words that are easy to mix up:

- a **head** is the kind of answer the model produces: ``"open"`` (a class out of an answer
  vocabulary), ``"count"`` (a number) or ``"multichoice"`` (a score per candidate). ``MSPAN``
  takes it as its ``task=`` argument.
- a **task** is a dataset's question task: TGIF-QA's ``action``, ``transition``, ``count`` and
  ``frameqa``, ``qa`` for the open-ended MSVD-QA / MSRVTT-QA / ActivityNet-QA, ``mc`` for
  NExT-QA's multiple choice; your own questions name the head itself (``open``, ``count``,
  ``multichoice``).

:data:`TASK_HEAD` maps each task to its head. The datasets a run can use, with their readers and
defaults, are registered in :mod:`mspan_pyg.data.registry`.
"""

from __future__ import annotations

from typing import Dict, Tuple

#: answer heads of the model
HEADS: Tuple[str, ...] = ("open", "count", "multichoice")
#: how a multiple-choice candidate meets the video (``MSPAN(mc_query=)``): ``question`` (the
#: paper: the candidate only queries the read-out) or ``question+candidate`` (the joined sentence
#: is the query of the cross-scale attention and the read-out, one reasoning pass per candidate)
MC_QUERIES: Tuple[str, ...] = ("question", "question+candidate")
#: the four TGIF-QA tasks
TGIF_TASKS: Tuple[str, ...] = ("action", "transition", "count", "frameqa")
#: the single task of the open-ended MSVD-QA / MSRVTT-QA
VIDEOQA_TASK = "qa"
#: the single task of NExT-QA (multiple choice among five candidates)
NEXTQA_TASK = "mc"
#: the head that answers each task
TASK_HEAD: Dict[str, str] = {
    "action": "multichoice",
    "transition": "multichoice",
    "count": "count",
    "frameqa": "open",
    VIDEOQA_TASK: "open",
    NEXTQA_TASK: "multichoice",
    "open": "open",  # own questions: the task is the head
    "multichoice": "multichoice",
}
#: TGIF-QA FrameQA ``type`` column 0..3
FRAMEQA_TYPES: Tuple[str, ...] = ("object", "number", "color", "location")
#: MSVD-QA / MSRVTT-QA question types (first question word; everything else is "other")
VIDEOQA_TYPES: Tuple[str, ...] = ("what", "who", "how", "when", "where", "other")
#: NExT-QA's scored question types in the official script's order (TP is scored as TN)
NEXTQA_TYPES: Tuple[str, ...] = ("CW", "CH", "TN", "TC", "DC", "DL", "DO")
#: NExT-QA's groups of types (Acc@C causal, Acc@T temporal, Acc@D descriptive)
NEXTQA_GROUPS: Dict[str, Tuple[str, ...]] = {
    "C": ("CW", "CH"),
    "T": ("TN", "TC"),
    "D": ("DC", "DL", "DO"),
}
#: ActivityNet-QA question types by their number 0..8 in ``{split}_a.json``
ACTIVITYNET_TYPES: Tuple[str, ...] = (
    "motion",
    "spatial",
    "temporal",
    "yes_no",
    "color",
    "object",
    "location",
    "number",
    "other",
)
#: the count head's predictions are clamped to it (inclusive), as HCRN and the MSPAN authors
#: score TGIF-QA Count; answers are taken as released (0..10 in TGIF-QA, 0 included)
COUNT_RANGE: Tuple[int, int] = (1, 10)
#: the built-in datasets and their tasks
DATASETS: Dict[str, Tuple[str, ...]] = {
    "tgif": TGIF_TASKS,
    "msvd": (VIDEOQA_TASK,),
    "msrvtt": (VIDEOQA_TASK,),
    "nextqa": (NEXTQA_TASK,),
    "activitynet": (VIDEOQA_TASK,),
    "own": HEADS,
}
