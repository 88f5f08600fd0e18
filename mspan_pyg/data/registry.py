"""The datasets a run can train on: one :class:`DatasetSpec` entry per dataset.

A dataset is everything the training run needs to know about it: how to read the questions of a
(task, split), its tasks and the answer head of each, its default batch size and answer
vocabulary size, whether it has its own validation split, and (optionally) how to generate a
built-in synthetic copy of it. Adding a dataset is one :func:`register_dataset` call::

    from mspan_pyg.data.registry import DatasetSpec, register_dataset

    register_dataset(DatasetSpec(
        name="mycsv",
        tasks={"qa": "open"},                       # task -> head (open | count | multichoice)
        read=lambda data_dir, task, split: read_my_csv(f"{data_dir}/{split}.csv"),
        batch_size=64,
        answer_vocab_size=1000,                     # open-ended: keep the top 1000 answers
        has_val_split=True,                         # False: hold out val_fraction of train
    ))

after which ``mspan-pyg train --dataset mycsv --data-dir DIR --features FILE`` works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError
from ..tasks import DATASETS, HEADS, TASK_HEAD
from .annotations import QARecord, read_tgif_qa, read_videoqa_json

#: ``read(data_dir, task, split) -> records``; split is "train", "val" (only when the dataset
#: has its own validation split) or "test"
Reader = Callable[[str, str, str], List[QARecord]]
#: ``make(out_dir, tasks, num_videos={task: n}, num_frames=, appearance_dim=, motion_dim=,
#: seed=) -> {"data_dir", "features", ...}``
SyntheticMaker = Callable[..., Dict[str, Any]]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the registry.

    Args:
        name: the ``--dataset`` value.
        tasks: ``{task: head}``; the first task is the default when ``--task`` is omitted and
            the dataset has a single task.
        read: ``read(data_dir, task, split) -> List[QARecord]``.
        batch_size: default global batch size on real data.
        answer_vocab_size: open-ended heads: answers kept (most frequent first); ``None`` keeps
            every training answer.
        has_val_split: ``read`` serves ``"val"``; otherwise a seeded ``val_fraction`` of the
            training videos is held out for model selection.
        make_synthetic: generator of a built-in synthetic copy (``None``: needs ``--data-dir``).
    """

    name: str
    tasks: Mapping[str, str]
    read: Reader
    batch_size: int
    answer_vocab_size: Optional[int] = None
    has_val_split: bool = False
    make_synthetic: Optional[SyntheticMaker] = None

    def __post_init__(self):
        bad = {t: h for t, h in self.tasks.items() if h not in HEADS}
        if not self.tasks or bad:
            raise ConfigError(
                f"dataset {self.name!r}: tasks must map each task to a head in "
                f"{', '.join(HEADS)}, got {dict(self.tasks)}"
            )

    @property
    def single_task(self) -> Optional[str]:
        """The only task of a one-task dataset, else ``None``."""
        return next(iter(self.tasks)) if len(self.tasks) == 1 else None

    def head(self, task: str) -> str:
        return self.tasks[task]


_REGISTRY: Dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec, replace: bool = False) -> DatasetSpec:
    """Adds ``spec`` to the registry (``replace=True`` to redefine an existing name)."""
    if spec.name in _REGISTRY and not replace:
        raise ConfigError(f"dataset {spec.name!r} is already registered (pass replace=True)")
    _REGISTRY[spec.name] = spec
    return spec


def dataset_names() -> Tuple[str, ...]:
    return tuple(_REGISTRY)


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset ``name``; :class:`ConfigError` naming the valid ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}; valid datasets: {', '.join(_REGISTRY)}"
        ) from None


# --------------------------------------------------------------------------- built-in datasets
def _read_tgif(data_dir: str, task: str, split: str) -> List[QARecord]:
    return read_tgif_qa(data_dir, task, split)


def _read_videoqa(data_dir: str, task: str, split: str) -> List[QARecord]:
    return read_videoqa_json(data_dir, split)


def _make_tgif(out_dir: str, tasks: Sequence[str], num_videos: Mapping[str, int], **kw):
    from .synthetic import make_synthetic_tgif

    return make_synthetic_tgif(out_dir, tasks=list(tasks), num_videos=dict(num_videos), **kw)


def _make_videoqa(out_dir: str, tasks: Sequence[str], num_videos: Mapping[str, int], **kw):
    from .synthetic import make_synthetic_videoqa

    return make_synthetic_videoqa(out_dir, num_videos=num_videos[tasks[0]], **kw)


def _tasks(dataset: str) -> Dict[str, str]:
    return {task: TASK_HEAD[task] for task in DATASETS[dataset]}


register_dataset(
    DatasetSpec("tgif", _tasks("tgif"), _read_tgif, batch_size=64, make_synthetic=_make_tgif)
)
for _name in ("msvd", "msrvtt"):
    register_dataset(
        DatasetSpec(
            _name,
            _tasks(_name),
            _read_videoqa,
            batch_size=128,
            answer_vocab_size=1000,
            has_val_split=True,
            make_synthetic=_make_videoqa,
        )
    )

__all__ = ["DatasetSpec", "register_dataset", "get_dataset", "dataset_names"]
