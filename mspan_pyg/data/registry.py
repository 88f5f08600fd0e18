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

after which ``mspan-pyg train --dataset mycsv --data-dir DIR --features FILE`` works. The
optional fields describe what some datasets add to this: a task inferred from the files
(``default_task``), a fixed table of question types and groups of them reported beside the
types (``qtype_names``, ``type_groups``), several official files the test split can be
(``eval_splits``, ``--eval-split``), an official prediction file (``write_official``), and the
built-in run's defaults (``synthetic_defaults``, ``builtin_suite``). docs/datasets.md describes
the built-in NExT-QA, ActivityNet-QA and own-question entries.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError, DataError
from ..tasks import (
    ACTIVITYNET_TYPES,
    DATASETS,
    HEADS,
    NEXTQA_GROUPS,
    NEXTQA_TASK,
    NEXTQA_TYPES,
    TASK_HEAD,
    VIDEOQA_TASK,
)
from .annotations import QARecord, read_tgif_qa, read_videoqa_json

#: ``read(data_dir, task, split) -> records``; split is "train", "val" (only when the dataset
#: has its own validation split) or "test"
Reader = Callable[[str, str, str], List[QARecord]]
#: ``make(out_dir, tasks, num_videos={task: n}, num_frames=, appearance_dim=, motion_dim=,
#: seed=) -> {"data_dir", "features", ...}``
SyntheticMaker = Callable[..., Dict[str, Any]]
#: ``write(out_dir, file_split, records, answers) -> path``: the dataset's official
#: prediction file for the test split (read from the file ``file_split``); ``answers`` are the
#: decoded predictions: candidate indices (multiple choice) or answer texts (open-ended)
OfficialWriter = Callable[[str, str, Sequence[QARecord], Sequence[Union[int, str]]], str]


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
            A callable ``has_val_split(data_dir) -> bool`` decides per folder (a dataset whose
            validation file is optional).
        make_synthetic: generator of a built-in synthetic copy (``None``: needs ``--data-dir``);
            returns at least ``{"data_dir", "features"}`` and reuses a complete folder it made
            with the same parameters.
        default_task: ``default_task(data_dir) -> task`` when ``--task`` is omitted on a
            dataset with several tasks (``data_dir`` is ``None`` for the built-in data), e.g.
            the head an own-questions folder implies. ``None``: ``--task`` is required.
        qtype_names: the dataset's question types in reporting order (``None``: the types found
            in the data).
        type_groups: ``{group: types}`` reported beside the per-type accuracy as
            ``accuracy_by_group`` (question-weighted, e.g. NExT-QA's ``Acc@C``).
        eval_splits: files ``read`` serves that the test split may be (``--eval-split``, the
            first is the default); empty: the test split is ``"test"``.
        write_official: writes the official prediction file of the test split next to
            ``test_predictions.jsonl``.
        synthetic_defaults: options of the ``synthetic`` preset this dataset's built-in data
            changes (e.g. ``epochs``, ``num_videos``).
        builtin_suite: without ``--data-dir`` and ``--task``, train every task beside its
            question-only baseline (the ``--task all`` table), as multi-task datasets do.
    """

    name: str
    tasks: Mapping[str, str]
    read: Reader
    batch_size: int
    answer_vocab_size: Optional[int] = None
    has_val_split: Union[bool, Callable[[str], bool]] = False
    make_synthetic: Optional[SyntheticMaker] = None
    default_task: Optional[Callable[[Optional[str]], str]] = None
    qtype_names: Optional[Tuple[str, ...]] = None
    type_groups: Mapping[str, Sequence[str]] = field(default_factory=dict)
    eval_splits: Tuple[str, ...] = ()
    write_official: Optional[OfficialWriter] = None
    synthetic_defaults: Mapping[str, Any] = field(default_factory=dict)
    builtin_suite: bool = False

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

    def serves_val(self, data_dir: Optional[str]) -> bool:
        """``read`` serves the validation split of ``data_dir`` (else it is held out of train)."""
        if callable(self.has_val_split):
            return bool(data_dir) and bool(self.has_val_split(data_dir))
        return bool(self.has_val_split)

    @property
    def needs_task(self) -> bool:
        """``--task`` must be given (several tasks, none implied by the files)."""
        return self.single_task is None and self.default_task is None


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


def _read_nextqa(data_dir: str, task: str, split: str) -> List[QARecord]:
    from .nextqa import read_nextqa

    return read_nextqa(data_dir, split)


def _read_activitynet(data_dir: str, task: str, split: str) -> List[QARecord]:
    from .activitynet import read_activitynet_qa

    return read_activitynet_qa(data_dir, split)


def _read_own(data_dir: str, task: str, split: str) -> List[QARecord]:
    from .own_questions import read_own_split

    records = read_own_split(data_dir, split, task)
    if records is None:
        raise DataError(
            f"{data_dir}: no {split}.csv or {split}.jsonl (own questions, docs/datasets.md)"
        )
    return records


def _own_has_val(data_dir: str) -> bool:
    from .own_questions import own_question_file

    return own_question_file(data_dir, "val") is not None


def _own_default_task(data_dir: Optional[str]) -> str:
    from .own_questions import infer_own_head

    return infer_own_head(data_dir) if data_dir else "multichoice"


def _make_nextqa(out_dir: str, tasks: Sequence[str], num_videos: Mapping[str, int], **kw):
    from .synthetic_nextqa import prepare_synthetic_nextqa

    return prepare_synthetic_nextqa(out_dir, num_videos=num_videos[tasks[0]], **kw)


def _make_activitynet(out_dir: str, tasks: Sequence[str], num_videos: Mapping[str, int], **kw):
    from .synthetic_activitynet import make_synthetic_activitynet

    return make_synthetic_activitynet(out_dir, num_videos=num_videos[tasks[0]], **kw)


def _make_own(out_dir: str, tasks: Sequence[str], num_videos: Mapping[str, int], **kw):
    from .synthetic_own import make_synthetic_own

    return make_synthetic_own(out_dir, head=tasks[0], num_videos=num_videos[tasks[0]], **kw)


def _write_nextqa(out_dir: str, file_split: str, records, predictions) -> str:
    from .nextqa import write_official_predictions

    path = os.path.join(out_dir, f"{file_split}_predictions_official.json")
    write_official_predictions(path, records, predictions)
    return path


def _write_activitynet(out_dir: str, file_split: str, records, answers) -> str:
    from .activitynet import write_official_predictions

    path = os.path.join(out_dir, f"{file_split}_predictions_official.json")
    write_official_predictions(path, records, answers)
    return path


register_dataset(
    DatasetSpec(
        "nextqa",
        {NEXTQA_TASK: "multichoice"},
        _read_nextqa,
        batch_size=64,
        has_val_split=False,  # selection on held-out training videos; val.csv is evaluated
        make_synthetic=_make_nextqa,
        qtype_names=NEXTQA_TYPES,
        type_groups={f"Acc@{g}": types for g, types in NEXTQA_GROUPS.items()},
        eval_splits=("val", "test"),
        write_official=_write_nextqa,
        synthetic_defaults={"epochs": 20, "num_videos": 4000},
        builtin_suite=True,
    )
)
register_dataset(
    DatasetSpec(
        "activitynet",
        {VIDEOQA_TASK: "open"},
        _read_activitynet,
        batch_size=128,
        answer_vocab_size=1000,
        has_val_split=True,
        make_synthetic=_make_activitynet,
        qtype_names=ACTIVITYNET_TYPES,
        write_official=_write_activitynet,
        synthetic_defaults={"epochs": 20, "num_videos": 1200},
        builtin_suite=True,
    )
)
register_dataset(
    DatasetSpec(
        "own",
        {head: head for head in HEADS},
        _read_own,
        batch_size=32,
        answer_vocab_size=1000,
        has_val_split=_own_has_val,
        make_synthetic=_make_own,
        default_task=_own_default_task,
        synthetic_defaults={"epochs": 20, "num_videos": 2000},
        builtin_suite=True,
    )
)

__all__ = ["DatasetSpec", "register_dataset", "get_dataset", "dataset_names"]
