"""Run configuration: valid tasks and datasets, and the defaults of each kind of run.

Two sets of defaults fill every option the user did not give:

- ``PAPER``: real data (``--data-dir``) — the paper's model (K = 8, T = 3, 512-d module,
  300-d words, 2048-d visual) trained with Adam at lr 1e-4.
- ``SYNTHETIC``: the built-in synthetic data (no ``--data-dir``) — a small model at a higher
  learning rate that learns in a few CPU minutes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

from mspan_pyg.data.dataset_specs import DATASET_SPECS
from mspan_pyg.data.dataset_specs import TASK_HEAD as DATASET_TASK_HEAD
from mspan_pyg.errors import ConfigError

TGIF_TASKS = ("action", "transition", "count", "frameqa")
DATASETS = ("tgif", "msvd", "msrvtt", "nextqa", "activitynet", "own")
#: model head of each (dataset, task)
TASK_KIND = {
    "action": "multichoice",
    "transition": "multichoice",
    "count": "count",
    "frameqa": "open",
    "qa": "open",
}
TASK_KIND.update(DATASET_TASK_HEAD)  # nextqa "mc", own questions "open"/"count"/"multichoice"
#: the task name of MSVD-QA / MSRVTT-QA runs (open-ended QA)
VIDEOQA_TASK = "qa"
BATCH_SIZE = {"tgif": 64, "msvd": 128, "msrvtt": 128}
ANSWER_VOCAB_SIZE = {"tgif": None, "msvd": 1000, "msrvtt": 1000}  # None: every training answer
BATCH_SIZE.update({name: spec.batch_size for name, spec in DATASET_SPECS.items()})
ANSWER_VOCAB_SIZE.update({name: spec.answer_vocab_size for name, spec in DATASET_SPECS.items()})

PAPER: Dict[str, Any] = dict(
    epochs=25,
    lr=1e-4,
    lr_patience=2,
    warmup_epochs=0.0,
    grad_clip=0.0,
    num_scales=8,
    num_iterations=3,
    visual_dim=2048,
    module_dim=512,
    word_dim=300,
    dropout=0.1,
    question_layers=3,
)
# lr 3e-3 without warmup or clipping was faster but some runs collapsed after a gradient spike;
# small data learns in slow phases that a patience of 2 mistook for plateaus
SYNTHETIC: Dict[str, Any] = dict(
    epochs=30,
    lr=1e-3,
    lr_patience=5,
    warmup_epochs=2.0,
    grad_clip=1.0,
    num_scales=4,
    num_iterations=2,
    visual_dim=128,
    module_dim=64,
    word_dim=64,
    dropout=0.0,
    batch_size=32,
    num_videos=2500,
    appearance_dim=64,
    motion_dim=32,
    question_layers=3,
)
#: built-in data: tasks that need more than ``SYNTHETIC["num_videos"]`` questions. Action compares
#: the counts of three candidates and overfits 2500 (test accuracy 0.71-0.77; 0.90 at 5000 with
#: 40 epochs; 0.98 at 7500 with 30).
SYNTHETIC_TASK_VIDEOS: Dict[str, int] = {"action": 7500}


def synthetic_num_videos(task: str, given: Union[int, None] = None) -> int:
    """Videos (one question each) of a built-in task: ``given`` when set, else the task default."""
    if given is not None:
        return int(given)
    return SYNTHETIC_TASK_VIDEOS.get(task, SYNTHETIC["num_videos"])


def check_dataset(dataset: str) -> str:
    if dataset not in DATASETS:
        raise ConfigError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}")
    return dataset


def check_task(dataset: str, task: str, data_dir: Union[str, None] = None) -> str:
    """The task name of a run; MSVD-QA / MSRVTT-QA have the single task ``"qa"``."""
    check_dataset(dataset)
    if dataset in DATASET_SPECS:  # NExT-QA "mc", ActivityNet-QA "qa", own: the head
        return DATASET_SPECS[dataset].check_task(task, data_dir)
    if dataset == "tgif":
        if task not in TGIF_TASKS:
            raise ConfigError(
                f"unknown TGIF-QA task {task!r}; valid tasks: {', '.join(TGIF_TASKS)}"
            )
        return task
    if task not in (None, VIDEOQA_TASK):
        raise ConfigError(
            f"{dataset} has one open-ended task; drop --task {task!r} (or use --task qa)"
        )
    return VIDEOQA_TASK


def parse_clip_stride(value: Union[str, int, Sequence[int], None]) -> Union[int, str, List[int]]:
    """``"1"`` -> 1, ``"scale"`` -> "scale", ``"1,2,2,4"`` -> [1, 2, 2, 4]."""
    if value is None:
        return 1
    if isinstance(value, (int, list, tuple)):
        return list(value) if isinstance(value, tuple) else value
    value = str(value).strip()
    if value == "scale":
        return value
    try:
        parts = [int(p) for p in value.split(",")]
    except ValueError:
        raise ConfigError(
            f"--clip-stride must be an integer, 'scale' or a comma-separated list of "
            f"integers (one per scale), got {value!r}"
        ) from None
    if any(p < 1 for p in parts):
        raise ConfigError(f"--clip-stride values must be >= 1, got {value!r}")
    return parts[0] if len(parts) == 1 else parts
