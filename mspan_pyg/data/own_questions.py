"""Your own questions: one CSV or JSON-lines format for open-ended, counting and
multiple-choice QA on your own videos (docs/datasets.md, "Your own questions").

A folder holds ``train``, ``test`` and optionally ``val`` files, each ``{split}.csv`` or
``{split}.jsonl``. One question per row / line:

=============  =========  ==================================================================
field          required   meaning
=============  =========  ==================================================================
video_id       yes        the video's id in the feature file (``/ids``)
question       yes        the question text
answer         yes        open: the answer text; count: a whole number >= 0; multiple choice:
                          the right candidate's index (0-based) or its exact text
candidates     no         multiple choice: CSV columns ``a0, a1, ...`` (2 or more, the same
                          in every row); JSON lines: ``"candidates": [...]``
type           no         a question type (any text); accuracy is reported per type
qid            no         the question's id in prediction files (default ``{video_id}_{row}``)
=============  =========  ==================================================================

Without ``val``, a seeded share of the training *videos* is held out for model selection.
The head is chosen with ``--task``: ``open``, ``count`` or ``multichoice`` (the default is
``multichoice`` when the files have candidates, else ``open``).
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Dict, List, Optional, Tuple, Union

from ..errors import ConfigError, DataError
from ..tasks import HEADS
from .annotations import QARecord, normalize_text, parse_count_answer

OWN_HEADS = HEADS
OWN_SPLITS = ("train", "val", "test")
#: the question type of questions without one (a single type: no per-type breakdown)
NO_TYPE = "all"


def own_question_file(data_dir: Union[str, os.PathLike], split: str) -> Optional[str]:
    """``{split}.csv`` or ``{split}.jsonl`` in ``data_dir`` (``None`` if neither exists; both is
    an error)."""
    if split not in OWN_SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid splits: {', '.join(OWN_SPLITS)}")
    root = os.fspath(data_dir)
    found = [
        os.path.join(root, f"{split}{ext}")
        for ext in (".csv", ".jsonl")
        if os.path.isfile(os.path.join(root, f"{split}{ext}"))
    ]
    if len(found) > 1:
        raise DataError(f"{root}: both {split}.csv and {split}.jsonl exist; keep one")
    return found[0] if found else None


def _csv_items(path: str) -> List[Tuple[int, Dict[str, Any]]]:
    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DataError(f"{path}: cannot parse as comma-separated text: {e}") from None
    if not rows:
        raise DataError(f"{path}: empty file (expected a header: video_id,question,answer,...)")
    header = [h.strip().lower() for h in rows[0]]
    if len(set(header)) != len(header):
        raise DataError(f"{path}: repeated column name in the header ({', '.join(header)})")
    cand_cols = []
    while f"a{len(cand_cols)}" in header:
        cand_cols.append(f"a{len(cand_cols)}")
    stray = [h for h in header if h.startswith("a") and h[1:].isdigit() and h not in cand_cols]
    if stray:
        raise DataError(
            f"{path}: candidate columns must be a0, a1, ... without gaps; found {stray}"
        )
    items = []
    for row_no, fields in enumerate(rows[1:], start=1):
        if not any(x.strip() for x in fields):
            continue
        if len(fields) != len(header):
            raise DataError(
                f"{path}, row {row_no}: {len(fields)} fields but the header has {len(header)}"
            )
        item: Dict[str, Any] = {h: v for h, v in zip(header, fields) if h not in cand_cols}
        if cand_cols:
            item["candidates"] = [fields[header.index(c)] for c in cand_cols]
        items.append((row_no, item))
    return items


def _jsonl_items(path: str) -> List[Tuple[int, Dict[str, Any]]]:
    items = []
    try:
        with open(path, "r", encoding="utf-8-sig") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except json.JSONDecodeError as e:
                    raise DataError(f"{path}, line {line_no}: invalid JSON: {e.msg}") from None
                if not isinstance(item, dict):
                    raise DataError(
                        f"{path}, line {line_no}: expected an object, got {type(item).__name__}"
                    )
                items.append((line_no, item))
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return items


def _has_candidates(item: Dict[str, Any]) -> bool:
    return item.get("candidates") not in (None, "", [])


def read_own_questions(path: Union[str, os.PathLike], head: Optional[str] = None) -> List[QARecord]:
    """Read one own-questions file (``.csv`` or ``.jsonl``) for ``head``.

    ``head`` (open | count | multichoice; default: multichoice when the file has candidates,
    else open) decides how ``answer`` is read. Rows (CSV, after the header) and lines (JSON
    lines) are counted from 1. Raises :class:`DataError` naming the file and row for a missing
    field, a count that is negative or not a whole number, a candidate index out of range or an
    answer that is no candidate, a different number of candidates than the first row, or a
    repeated ``qid``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: question file not found")
    is_jsonl = path.endswith(".jsonl")
    unit = "line" if is_jsonl else "row"
    items = _jsonl_items(path) if is_jsonl else _csv_items(path)
    if head is None:
        head = "multichoice" if any(_has_candidates(it) for _, it in items) else "open"
    if head not in OWN_HEADS:
        raise ConfigError(f"unknown head {head!r}; valid: {', '.join(OWN_HEADS)}")
    records: List[QARecord] = []
    seen: Dict[str, int] = {}
    num_candidates = None
    for row_no, item in items:
        where = f"{path}, {unit} {row_no}"
        missing = [k for k in ("video_id", "question", "answer") if k not in item]
        if missing:
            raise DataError(f"{where}: missing field(s) {', '.join(missing)}")
        video = item["video_id"]
        if isinstance(video, bool) or not isinstance(video, (str, int)):
            raise DataError(f"{where}: video_id must be text or an integer, got {video!r}")
        video = normalize_text(str(video))
        question = item["question"]
        question = normalize_text(question) if isinstance(question, str) else ""
        if not video or not question:
            raise DataError(f"{where}: empty {'video_id' if not video else 'question'}")
        answer_raw = item["answer"]
        if isinstance(answer_raw, bool) or not isinstance(answer_raw, (str, int, float)):
            raise DataError(f"{where}: answer must be text or a number, got {answer_raw!r}")
        answer_text = normalize_text(str(answer_raw))
        if not answer_text:
            raise DataError(f"{where}: empty answer")
        candidates = None
        if head == "multichoice":
            cands = item.get("candidates")
            if not isinstance(cands, list) or len(cands) < 2:
                raise DataError(f"{where}: multiple choice needs 2 or more candidates")
            candidates = [normalize_text(str(c)) for c in cands]
            if not all(candidates):
                raise DataError(f"{where}: empty candidate")
            if num_candidates is None:
                num_candidates = len(candidates)
            elif len(candidates) != num_candidates:
                raise DataError(
                    f"{where}: {len(candidates)} candidates, but the first question has "
                    f"{num_candidates} (every question needs the same number)"
                )
            if answer_text.isdigit():
                answer: Union[str, int] = int(answer_text)
                if answer >= len(candidates):
                    raise DataError(
                        f"{where}: answer index {answer} is outside 0..{len(candidates) - 1}"
                    )
            elif answer_text in candidates:
                answer = candidates.index(answer_text)
            else:
                raise DataError(
                    f"{where}: answer {answer_text!r} is neither a candidate index nor the "
                    "text of a candidate"
                )
        elif head == "count":
            answer = parse_count_answer(answer_text, where)
        else:
            answer = answer_text
        qtype = normalize_text(str(item.get("type") or "")) or NO_TYPE
        qid = normalize_text(str(item.get("qid") or "")) or f"{video}_{row_no}"
        if qid in seen:
            raise DataError(f"{where}: duplicate qid {qid!r} (first in {unit} {seen[qid]})")
        seen[qid] = row_no
        records.append(
            QARecord(
                video_id=int(video) if video.isdigit() else video,
                question=question,
                answer=answer,
                candidates=candidates,
                qtype=qtype,
                key=qid,
                source=path,
                row=row_no,
            )
        )
    return records


def read_own_split(
    data_dir: Union[str, os.PathLike], split: str, head: Optional[str] = None
) -> Optional[List[QARecord]]:
    """The records of ``split`` in ``data_dir`` (``None`` when the folder has no such file)."""
    path = own_question_file(data_dir, split)
    return None if path is None else read_own_questions(path, head)


def infer_own_head(data_dir: Union[str, os.PathLike]) -> str:
    """The default head of a folder: multichoice when its training file has candidates."""
    path = own_question_file(data_dir, "train")
    if path is None:
        raise DataError(f"{os.fspath(data_dir)}: no train.csv or train.jsonl")
    items = _jsonl_items(path) if path.endswith(".jsonl") else _csv_items(path)
    return "multichoice" if any(_has_candidates(it) for _, it in items) else "open"
