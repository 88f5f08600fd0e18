"""What a training run needs to know about NExT-QA, ActivityNet-QA and your own questions.

One :class:`DatasetSpec` per dataset: its tasks and the head of each, default batch size,
answer-vocabulary size, question types, how to read its splits and how to make its built-in
synthetic data. The runner consults :data:`DATASET_SPECS` for these datasets (docs/datasets.md).

Splits of a run: ``train`` is trained on, ``val`` selects the model (the best epoch),
``test`` is evaluated once with the selected model.

- NExT-QA: ``val`` is a seeded share of the *training videos* (``--val-fraction``), so that the
  official ``val.csv`` stays unseen; ``test`` is the official file named by ``--eval-split``
  (``val``, the default and what most papers report, or ``test``).
- ActivityNet-QA: its own ``val`` and ``test`` files.
- Own questions: ``val.csv``/``val.jsonl`` when present, else held-out training videos.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError, DataError
from .activitynet import ACTIVITYNET_TYPES, read_activitynet_qa
from .annotations import QARecord, split_by_video
from .nextqa import NEXTQA_TYPES, read_nextqa
from .own_questions import OWN_HEADS, infer_own_head, read_own_split

#: seed of the held-out validation videos (independent of --seed, as for TGIF-QA)
VAL_SPLIT_SEED = 0
#: head of each task name of these datasets
TASK_HEAD = {"mc": "multichoice", "qa": "open", "open": "open", "count": "count"}
TASK_HEAD["multichoice"] = "multichoice"
EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    tasks: Tuple[str, ...]
    batch_size: int
    answer_vocab_size: Optional[int]  # None: every training answer
    qtype_names: Optional[Tuple[str, ...]]  # None: the types found in the data
    read_splits: Callable[[Dict[str, Any], Sequence[str]], Dict[str, List[QARecord]]]
    synthetic: Callable[[str, Dict[str, Any]], Dict[str, str]]
    synthetic_videos: int
    synthetic_epochs: int  # built-in runs: a few CPU minutes

    def check_task(self, task: Optional[str], data_dir: Optional[str] = None) -> str:
        """The run's task: the only one, or for own questions the given or inferred head."""
        if task is None:
            if len(self.tasks) == 1:
                return self.tasks[0]
            return infer_own_head(data_dir) if data_dir else "multichoice"
        if task not in self.tasks:
            raise ConfigError(f"{self.title} tasks: {', '.join(self.tasks)} (got --task {task!r})")
        return task


def _held_out(records: List[QARecord], args: Dict[str, Any]):
    return split_by_video(records, args.get("val_fraction", 0.1), seed=VAL_SPLIT_SEED)


def _nextqa_splits(args: Dict[str, Any], splits: Sequence[str]) -> Dict[str, List[QARecord]]:
    eval_split = args.get("eval_split") or "val"
    if eval_split not in EVAL_SPLITS:
        raise ConfigError(f"--eval-split must be val or test, got {eval_split!r}")
    out: Dict[str, List[QARecord]] = {}
    if "train" in splits or "val" in splits:
        out["train"], out["val"] = _held_out(read_nextqa(args["data_dir"], "train"), args)
    if "test" in splits:
        out["test"] = read_nextqa(args["data_dir"], eval_split)
    return out


def _activitynet_splits(args: Dict[str, Any], splits: Sequence[str]):
    return {s: read_activitynet_qa(args["data_dir"], s) for s in splits}


def _own_splits(args: Dict[str, Any], splits: Sequence[str]) -> Dict[str, List[QARecord]]:
    head = TASK_HEAD[args["task"]]
    root = args["data_dir"]
    out: Dict[str, List[QARecord]] = {}
    if "test" in splits:
        test = read_own_split(root, "test", head)
        if test is None:
            raise DataError(f"{root}: no test.csv or test.jsonl (see docs/datasets.md)")
        out["test"] = test
    if "train" in splits or "val" in splits:
        train = read_own_split(root, "train", head)
        if train is None:
            raise DataError(f"{root}: no train.csv or train.jsonl (see docs/datasets.md)")
        val = read_own_split(root, "val", head)
        out["train"], out["val"] = (train, val) if val is not None else _held_out(train, args)
    return out


def _synthetic_nextqa(data_dir: str, args: Dict[str, Any]) -> Dict[str, str]:
    from .synthetic_nextqa import prepare_synthetic_nextqa

    return prepare_synthetic_nextqa(data_dir, **_synthetic_kw(args, "nextqa"))


def _synthetic_activitynet(data_dir: str, args: Dict[str, Any]) -> Dict[str, str]:
    from .synthetic_activitynet import make_synthetic_activitynet

    made = make_synthetic_activitynet(data_dir, **_synthetic_kw(args, "activitynet"))
    return {"data_dir": str(made["data_dir"]), "features": str(made["features"])}


def _synthetic_own(data_dir: str, args: Dict[str, Any]) -> Dict[str, str]:
    """Own-question files (JSON lines) made from the synthetic NExT-QA videos: multiple choice
    with the candidates, or open-ended with the right candidate's text as the answer;
    counting questions come from the synthetic TGIF-QA count task (CSV)."""
    from .synthetic import make_synthetic_tgif
    from .synthetic_nextqa import prepare_synthetic_nextqa

    kw = _synthetic_kw(args, "own")
    head = TASK_HEAD[args["task"]]
    if head == "count":
        made = make_synthetic_tgif(
            os.path.join(data_dir, "tgif_count"),
            tasks=["count"],
            num_videos=kw["num_videos"],
            num_frames=kw["num_frames"],
            appearance_dim=kw["appearance_dim"],
            motion_dim=kw["motion_dim"],
        )
        from .annotations import read_tgif_csv

        rows = {
            s: read_tgif_csv(made["annotations"][("count", s)], "count") for s in ("train", "test")
        }
        features = str(made["features"])
    else:
        made = prepare_synthetic_nextqa(os.path.join(data_dir, "nextqa"), **kw)
        rows = {s: read_nextqa(made["data_dir"], s) for s in ("train", "test")}
        features = made["features"]
    own_dir = os.path.join(data_dir, f"own_{head}")
    os.makedirs(own_dir, exist_ok=True)
    for split, records in rows.items():
        path = os.path.join(own_dir, f"{split}.jsonl")
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            for r in records:
                item: Dict[str, Any] = {"video_id": r.video_id, "question": r.question}
                if head == "multichoice":
                    item.update(answer=r.answer, candidates=r.candidates, type=r.qtype)
                elif head == "open":
                    item.update(answer=r.candidates[r.answer], type=r.qtype)
                else:
                    item.update(answer=r.answer)
                f.write(json.dumps(item) + "\n")
        os.replace(tmp, path)
    return {"data_dir": own_dir, "features": features}


def _synthetic_kw(args: Dict[str, Any], dataset: str) -> Dict[str, Any]:
    from mspan_pyg.training.config import SYNTHETIC

    return dict(
        num_videos=args.get("num_videos") or DATASET_SPECS[dataset].synthetic_videos,
        num_frames=args.get("num_frames") or 16,
        appearance_dim=SYNTHETIC["appearance_dim"],
        motion_dim=SYNTHETIC["motion_dim"],
    )


DATASET_SPECS: Dict[str, DatasetSpec] = {
    "nextqa": DatasetSpec(
        name="nextqa",
        title="NExT-QA",
        tasks=("mc",),
        batch_size=64,
        answer_vocab_size=None,
        qtype_names=NEXTQA_TYPES,
        read_splits=_nextqa_splits,
        synthetic=_synthetic_nextqa,
        synthetic_videos=4000,
        synthetic_epochs=20,
    ),
    "activitynet": DatasetSpec(
        name="activitynet",
        title="ActivityNet-QA",
        tasks=("qa",),
        batch_size=128,
        answer_vocab_size=1000,
        qtype_names=ACTIVITYNET_TYPES,
        read_splits=_activitynet_splits,
        synthetic=_synthetic_activitynet,
        synthetic_videos=1200,
        synthetic_epochs=20,
    ),
    "own": DatasetSpec(
        name="own",
        title="own questions",
        tasks=OWN_HEADS,
        batch_size=32,
        answer_vocab_size=1000,
        qtype_names=None,
        read_splits=_own_splits,
        synthetic=_synthetic_own,
        synthetic_videos=2000,
        synthetic_epochs=20,
    ),
}


def require_features(records: Dict[str, List[QARecord]], store, skip_missing: bool) -> None:
    """A question whose video has no features is a :class:`DataError` naming its file and row
    (unless ``skip_missing``: the dataset then drops it with a warning)."""
    if skip_missing:
        return
    for split_records in records.values():
        missing = {r.video_id for r in split_records} - {
            v for v in {r.video_id for r in split_records} if v in store
        }
        if missing:
            r = next(r for r in split_records if r.video_id in missing)
            raise DataError(
                f"{r.source}, row {r.row}: video {r.video_id!r} has no features in "
                f"{store.path} ({len(missing)} video(s) of this split are missing; "
                "--skip-missing drops their questions)"
            )
