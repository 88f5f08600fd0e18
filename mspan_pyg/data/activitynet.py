"""ActivityNet-QA (open-ended): the release's question and answer JSON files.

Files of the release (docs/datasets.md), for split in train | val | test::

    {split}_q.json   [{"video_name": ..., "question": ..., "question_id": ...}, ...]
    {split}_a.json   [{"question_id": ..., "answer": ..., "type": 0..8}, ...]

Questions and answers are joined on ``question_id``; the video id is ``video_name`` (the
feature file's ids must use the same names). ``type`` is one of :data:`ACTIVITYNET_TYPES`
(0 motion ... 8 other); the answer vocabulary is the training set's top-K answers with the
OOV rule of MSVD-QA / MSRVTT-QA (training questions outside it are dropped, evaluation
questions outside it count wrong). A run also writes ``{split}_predictions_official.json``, the
list of ``{"question_id", "answer"}`` that the release's ``evaluation/eval.py`` scores.
"""

from __future__ import annotations

import os
from typing import Dict, List, Sequence, Tuple, Union

from ..errors import ConfigError, DataError
from ..files import write_json
from ..tasks import ACTIVITYNET_TYPES
from .annotations import QARecord, normalize_text, read_json_list

ACTIVITYNET_SPLITS = ("train", "val", "test")


def _load_list(path: str) -> list:
    return read_json_list(path, "ActivityNet-QA annotation file")


def _text(value) -> str:
    return normalize_text(str(value)) if isinstance(value, (str, int, float)) else ""


def _items(path: str, keys: Tuple[str, ...]) -> Dict[str, Tuple[int, dict]]:
    """``{question_id: (item number, item)}`` after checking each item's keys."""
    out: Dict[str, Tuple[int, dict]] = {}
    for row_no, item in enumerate(_load_list(path), start=1):
        where = f"{path}, item {row_no}"
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected an object, got {type(item).__name__}")
        missing = [k for k in keys if k not in item]
        if missing:
            raise DataError(f"{where}: missing key(s) {', '.join(missing)}")
        qid = _text(item["question_id"])
        if not qid:
            raise DataError(f"{where}: empty question_id")
        if qid in out:
            raise DataError(f"{where}: duplicate question_id {qid!r} (first in item {out[qid][0]})")
        out[qid] = (row_no, item)
    return out


def activitynet_paths(data_dir: Union[str, os.PathLike], split: str) -> Tuple[str, str]:
    if split not in ACTIVITYNET_SPLITS:
        raise ConfigError(
            f"unknown ActivityNet-QA split {split!r}; valid: {', '.join(ACTIVITYNET_SPLITS)}"
        )
    root = os.fspath(data_dir)
    return os.path.join(root, f"{split}_q.json"), os.path.join(root, f"{split}_a.json")


def read_activitynet_qa(data_dir: Union[str, os.PathLike], split: str) -> List[QARecord]:
    """Read ``{split}_q.json`` + ``{split}_a.json``; records in question-file order.

    ``source``/``row`` of a record point at its question item. Raises :class:`DataError` naming
    the file and item for a missing key, an empty field, a type outside 0..8, a duplicate
    ``question_id`` or a question without answer (and the reverse).
    """
    q_path, a_path = activitynet_paths(data_dir, split)
    questions = _items(q_path, ("video_name", "question", "question_id"))
    answers = _items(a_path, ("question_id", "answer", "type"))
    extra = [qid for qid in answers if qid not in questions]
    if extra:
        row = answers[extra[0]][0]
        raise DataError(
            f"{a_path}, item {row}: question_id {extra[0]!r} has no question in {q_path} "
            f"({len(extra)} such answer(s))"
        )
    records = []
    for qid, (row_no, q) in questions.items():
        where = f"{q_path}, item {row_no}"
        if qid not in answers:
            raise DataError(f"{where}: question_id {qid!r} has no answer in {a_path}")
        a_row, a = answers[qid]
        a_where = f"{a_path}, item {a_row}"
        question, video = _text(q["question"]), _text(q["video_name"])
        # the answer is kept as released (only stripped): evaluation/eval.py compares the
        # predicted text with it exactly, and val_a.json holds "14.62  seconds"
        answer = str(a["answer"]).strip() if isinstance(a["answer"], (str, int, float)) else ""
        if not question:
            raise DataError(f"{where}: empty or non-text question")
        if not video:
            raise DataError(f"{where}: empty video_name")
        if not answer:
            raise DataError(f"{a_where}: empty or non-text answer")
        qtype = a["type"]
        if isinstance(qtype, str) and qtype.strip().isdigit():
            qtype = int(qtype)
        if isinstance(qtype, bool) or not isinstance(qtype, int):
            qtype = -1
        if not 0 <= qtype < len(ACTIVITYNET_TYPES):
            raise DataError(
                f"{a_where}: type {a['type']!r} is not 0..8 "
                f"({', '.join(f'{i} {n}' for i, n in enumerate(ACTIVITYNET_TYPES))})"
            )
        records.append(
            QARecord(
                video_id=video,
                question=question,
                answer=answer,
                candidates=None,
                qtype=ACTIVITYNET_TYPES[qtype],
                key=qid,
                source=q_path,
                row=row_no,
            )
        )
    return records


def write_official_predictions(
    path: Union[str, os.PathLike], records: Sequence[QARecord], answers: Sequence[str]
) -> None:
    """Write ``[{"question_id": ..., "answer": ...}, ...]``, the prediction file the release's
    ``evaluation/eval.py`` reads (it compares ``answer`` with ``{split}_a.json`` exactly)."""
    if len(answers) != len(records):
        raise DataError(f"{len(answers)} predictions for {len(records)} questions")
    out = [{"question_id": str(r.key), "answer": str(a)} for r, a in zip(records, answers)]
    write_json(path, out, indent=None)
