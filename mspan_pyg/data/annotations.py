"""Question/answer annotation readers: TGIF-QA (four tasks) and MSVD-QA / MSRVTT-QA.

Every reader returns a list of :class:`QARecord`. A malformed file raises
:class:`~mspan_pyg.errors.DataError` whose message names the file, the 1-based data row
(TGIF-QA; the header is not counted) or list index (JSON), and what is wrong.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import unicodedata
import warnings
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from ..errors import ConfigError, DataError
from ..tasks import FRAMEQA_TYPES, TASK_HEAD, TGIF_TASKS, VIDEOQA_TYPES

NUM_CANDIDATES = 5

# The columns read per answer head. ``vid_id`` is the release's per-question id (ACTION4,
# TRANS23, COUNT12, FRAMEQA1159) and ``key`` names the GIF, shared by the questions about it; a
# file without ``vid_id`` (written by hand or by mspan-pyg 0.1) is identified by ``key``.
# Other columns (FrameQA's ``description``) are ignored.
_TGIF_COLUMNS = {
    "multichoice": ("gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "key"),
    "count": ("gif_name", "question", "answer", "key"),
    "open": ("gif_name", "question", "answer", "type", "key"),
}
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([?.!,])$")


@dataclass
class QARecord:
    """One question. ``answer``: open -> answer string, count -> int >= 0 (as released),
    multichoice -> index into ``candidates``. ``key`` is the release's per-question id
    (TGIF-QA ``vid_id``, MSVD/MSRVTT-QA ``id``, NExT-QA ``{video}_{qid}``, ActivityNet-QA
    ``question_id``): predictions files and duplicate checks use it. ``video_key`` is a
    release's own numeric id of the video where it has one (TGIF-QA ``key``, shared by the
    questions about one GIF). ``source``/``row`` locate the question for messages."""

    video_id: Union[str, int]
    question: str
    answer: Union[str, int]
    candidates: Optional[List[str]]
    qtype: str
    key: Union[str, int]
    source: str = ""
    row: int = 0
    video_key: Optional[Union[str, int]] = None


def normalize_text(text: str) -> str:
    """NFKC-normalise, collapse whitespace, strip, and attach a final " ?" to its word."""
    text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def _int_or_str(value: str) -> Union[str, int]:
    try:
        return int(value)
    except ValueError:
        return value


def _check_task(task: str) -> str:
    if task not in TGIF_TASKS:
        raise ConfigError(f"unknown TGIF-QA task {task!r}; valid tasks: {', '.join(TGIF_TASKS)}")
    return task


def tgif_path(data_dir: Union[str, os.PathLike], task: str, split: str) -> str:
    """The release's file name: ``{Train,Test}_{task}_question.csv``."""
    _check_task(task)
    if split not in ("train", "test"):
        raise ConfigError(
            f"unknown TGIF-QA split {split!r}; valid splits: train, test "
            "(TGIF-QA has no validation split: use split_by_video)"
        )
    return os.path.join(os.fspath(data_dir), f"{split.capitalize()}_{task}_question.csv")


def read_tgif_qa(data_dir: Union[str, os.PathLike], task: str, split: str) -> List[QARecord]:
    """Read ``{Train,Test}_{task}_question.csv`` from ``data_dir`` (split: train | test)."""
    return read_tgif_csv(tgif_path(data_dir, task, split), task)


def read_tgif_csv(path: Union[str, os.PathLike], task: str) -> List[QARecord]:
    """Read one TGIF-QA tab-separated file with a header row for ``task``.

    Reads the release as it is: a BOM, CRLF line ends, surrounding spaces, blank lines, extra
    columns (FrameQA's ``description``), GIFs asked about several times (a shared ``key``) and
    count answers of 0; text is NFKC-normalised (:func:`normalize_text`). The release uses no
    quoting, so a ``"`` is an ordinary character: one line is one question. A question is
    identified by its ``vid_id`` (by ``key`` in a file without that column); one used twice is
    an error naming both rows.
    """
    head = TASK_HEAD[_check_task(task)]
    path = os.fspath(path)
    rows = _read_tsv(path)
    header = [h.strip().lower() for h in rows[0]]
    required = _TGIF_COLUMNS[head]
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(
            f"{path}: header is missing column(s) {', '.join(missing)} required for "
            f"the {task} task (header: {', '.join(header)})"
        )
    id_name = "vid_id" if "vid_id" in header else "key"
    col = {name: header.index(name) for name in required + (id_name,)}
    need = max(col.values()) + 1
    records = []
    for row_no, fields in enumerate(rows[1:], start=1):
        if not any(x.strip() for x in fields):
            continue  # blank line
        where = f"{path}, row {row_no}"
        if len(fields) > len(header):
            raise DataError(
                f"{where}: {len(fields)} fields but the header has {len(header)} (a stray tab?)"
            )
        if len(fields) < need:
            raise DataError(
                f"{where}: only {len(fields)} fields; column "
                f"{header[len(fields)]!r} and later are missing"
            )
        values = {name: normalize_text(fields[i]) for name, i in col.items()}
        records.append(_tgif_record(values, task, head, where, path, row_no, id_name))
    data_lines = sum(1 for fields in rows[1:] if any(x.strip() for x in fields))
    if len(records) != data_lines:  # pragma: no cover - guards the one-line-one-row reading
        raise DataError(f"{path}: read {len(records)} questions from {data_lines} data lines")
    check_unique_keys(records, path, "row", id_name=id_name)
    return records


def check_unique_keys(
    records: Sequence[QARecord], path: str, unit: str = "row", id_name: str = "id"
) -> None:
    """Raises :class:`DataError` naming the first question id (``QARecord.key``, the column
    ``id_name``) used by two questions of one file, and both of their rows: predictions are
    told apart by it."""
    first: dict = {}
    for r in records:
        seen = first.setdefault(r.key, r.row)
        if seen != r.row:
            raise DataError(
                f"{path}: question {id_name} {r.key!r} is used by {unit}s {seen} and "
                f"{r.row}; each question needs its own {id_name}"
            )


def _read_tsv(path: str) -> List[List[str]]:
    """The rows of a tab-separated UTF-8 file (header first), one per line; DataError when
    unreadable. No quoting (``csv.QUOTE_NONE``): a quote is an ordinary character."""
    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: annotation file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    # split the lines here (\n or \r\n), so that no character inside a line can join two
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        rows = list(reader)
    except csv.Error as e:
        raise DataError(
            f"{path}, row {reader.line_num - 1}: cannot parse as tab-separated text: {e}"
        ) from None
    if not rows:
        raise DataError(f"{path}: empty file (expected a header row)")
    return rows


def _tgif_record(
    values: dict, task: str, head: str, where: str, path: str, row_no: int, id_name: str
) -> QARecord:
    """One TGIF-QA row (normalised column values) as a QARecord of ``task``, identified by
    the column ``id_name``."""
    question, video = values["question"], values["gif_name"]
    if not question:
        raise DataError(f"{where}: empty question")
    if not video:
        raise DataError(f"{where}: empty gif_name")
    if not values[id_name]:
        raise DataError(f"{where}: empty {id_name} (the question's id)")
    candidates = None
    if head == "multichoice":
        candidates = [values[f"a{i}"] for i in range(1, NUM_CANDIDATES + 1)]
        answer, qtype = _multichoice_answer(values["answer"], candidates, where), task
    elif head == "count":
        answer, qtype = parse_count_answer(values["answer"], where), task
    else:
        answer = values["answer"]
        if not answer:
            raise DataError(f"{where}: empty answer")
        qtype = _frameqa_type(values["type"], where)
    return QARecord(
        video_id=video,
        question=question,
        answer=answer,
        candidates=candidates,
        qtype=qtype,
        key=_int_or_str(values[id_name]),
        source=path,
        row=row_no,
        video_key=_int_or_str(values["key"]) if id_name != "key" else None,
    )


def _multichoice_answer(field: str, candidates: List[str], where: str) -> int:
    empty = [f"a{i + 1}" for i, c in enumerate(candidates) if not c]
    if empty:
        raise DataError(
            f"{where}: empty candidate answer(s) {', '.join(empty)}; "
            f"multiple-choice questions need {NUM_CANDIDATES}"
        )
    try:
        answer = int(field)
    except ValueError:
        answer = None
    if answer is None or not 0 <= answer < NUM_CANDIDATES:
        raise DataError(
            f"{where}: answer {field!r} is not a candidate index 0..{NUM_CANDIDATES - 1}"
        )
    return answer


def parse_count_answer(field: str, where: str) -> int:
    """A count answer as given: a whole number >= 0. TGIF-QA's Count files answer 0 for about
    a quarter of their questions and never 1; the range is not checked beyond that, since the
    benchmark scores every answer as released (the predictions are clamped, not the answers)."""
    try:
        answer = int(field)
    except ValueError:
        raise DataError(f"{where}: count answer {field!r} is not an integer") from None
    if answer < 0:
        raise DataError(f"{where}: count answer {answer} is negative")
    return answer


def _frameqa_type(field: str, where: str) -> str:
    try:
        return FRAMEQA_TYPES[int(field)]
    except (ValueError, IndexError):
        raise DataError(
            f"{where}: question type {field!r} is not one of 0..3 ({'/'.join(FRAMEQA_TYPES)})"
        ) from None


def tgif_key_map(data_dir: Union[str, os.PathLike]) -> dict:
    """``{key: gif_name}`` from every TGIF-QA file in ``data_dir``.

    HCRN's and the MSPAN authors' feature files index TGIF-QA videos by the integer ``key``
    column (one per GIF, shared by the questions about it), while this library identifies
    them by ``gif_name``; pass this map to ``convert_hcrn(id_map=)``. A key that names two
    GIFs raises :class:`DataError` naming the file and row.
    """
    mapping: dict = {}
    found = False
    for task in TGIF_TASKS:
        for split in ("train", "test"):
            path = tgif_path(data_dir, task, split)
            if not os.path.isfile(path):
                continue
            found = True
            rows = _read_tsv(path)
            header = [h.strip().lower() for h in rows[0]]
            if "key" not in header or "gif_name" not in header:
                raise DataError(f"{path}: header lacks gif_name/key columns")
            ik, ig = header.index("key"), header.index("gif_name")
            for row_no, fields in enumerate(rows[1:], start=1):
                if not any(x.strip() for x in fields):
                    continue
                if len(fields) <= max(ik, ig):
                    raise DataError(f"{path}, row {row_no}: missing gif_name/key field")
                try:
                    key = int(fields[ik].strip())
                except ValueError:
                    raise DataError(
                        f"{path}, row {row_no}: key {fields[ik]!r} is not an integer"
                    ) from None
                gif = normalize_text(fields[ig])
                if mapping.setdefault(key, gif) != gif:
                    raise DataError(
                        f"{path}, row {row_no}: key {key} is {gif!r} here but "
                        f"{mapping[key]!r} in an earlier row"
                    )
    if not found:
        raise DataError(
            f"{os.fspath(data_dir)}: no TGIF-QA question files "
            "({Train,Test}_{task}_question.csv)"
        )
    return mapping


def tgif_vid_id_map(data_dir: Union[str, os.PathLike]) -> dict:
    """Deprecated: the old name of :func:`tgif_key_map`. Feature files of HCRN and the authors
    index GIFs by the ``key`` column; ``vid_id`` is the per-question id (``ACTION4``)."""
    warnings.warn(
        "tgif_vid_id_map is deprecated: feature files index TGIF-QA GIFs by 'key'; "
        "use tgif_key_map",
        DeprecationWarning,
        stacklevel=2,
    )
    return tgif_key_map(data_dir)


def videoqa_question_type(question: str) -> str:
    """First question word if it is what/who/how/when/where, else "other"."""
    words = question.lower().split()
    first = words[0] if words else ""
    return first if first in VIDEOQA_TYPES[:-1] else "other"


def read_videoqa_json(data_dir: Union[str, os.PathLike], split: str) -> List[QARecord]:
    """Read MSVD-QA / MSRVTT-QA ``{split}_qa.json`` (split: train | val | test)."""
    if split not in ("train", "val", "test"):
        raise ConfigError(f"unknown split {split!r}; valid splits: train, val, test")
    return read_videoqa_file(os.path.join(os.fspath(data_dir), f"{split}_qa.json"))


def read_json_list(path: str, what: str = "annotation file") -> list:
    """The JSON list of objects in ``path`` (a UTF-8 file, BOM allowed); a missing file,
    undecodable text, invalid JSON or another top-level value is a :class:`DataError`
    naming ``path`` (and ``what`` it should have been)."""
    try:
        with open(path, "r", encoding="utf-8-sig") as f:
            items = json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from None
    if not isinstance(items, list):
        raise DataError(
            f"{path}: expected a JSON list of question objects, got a {type(items).__name__}"
        )
    return items


def read_videoqa_file(path: Union[str, os.PathLike]) -> List[QARecord]:
    """Read one JSON list of ``{"question", "answer", "video_id", "id"}`` objects.

    ``row`` of each record is its 1-based position in the list; ``id`` defaults to it.
    """
    path = os.fspath(path)
    items = read_json_list(path)
    records = []
    for row_no, item in enumerate(items, start=1):
        where = f"{path}, item {row_no}"
        if not isinstance(item, dict):
            raise DataError(f"{where}: expected an object, got {type(item).__name__}")
        missing = [k for k in ("question", "answer", "video_id") if k not in item]
        if missing:
            raise DataError(
                f"{where} (id {item.get('id', '?')}): missing key(s) {', '.join(missing)}"
            )
        question, answer, video = item["question"], item["answer"], item["video_id"]
        if not isinstance(question, str) or not normalize_text(question):
            raise DataError(f"{where} (id {item.get('id', '?')}): empty or non-text question")
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise DataError(
                f"{where} (id {item.get('id', '?')}): answer must be text, got {answer!r}"
            )
        answer = normalize_text(str(answer))
        if not answer:
            raise DataError(f"{where} (id {item.get('id', '?')}): empty answer")
        if isinstance(video, bool) or not isinstance(video, (int, str)):
            raise DataError(
                f"{where} (id {item.get('id', '?')}): video_id must be an integer, got {video!r}"
            )
        if isinstance(video, str):
            video = _int_or_str(video.strip())
        question = normalize_text(question)
        records.append(
            QARecord(
                video_id=video,
                question=question,
                answer=answer,
                candidates=None,
                qtype=videoqa_question_type(question),
                key=item.get("id", row_no),
                source=path,
                row=row_no,
            )
        )
    check_unique_keys(records, path, "item")
    return records


def split_by_video(
    records: Sequence[QARecord], fraction: float = 0.1, seed: int = 0
) -> Tuple[List[QARecord], List[QARecord]]:
    """Hold out a seeded ``fraction`` of the *videos* (with all their questions).

    Returns ``(train, val)``; no video is in both, record order is kept within each part,
    and the split depends only on the set of video ids and ``seed`` (not on record order).
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"validation fraction must be in [0, 1), got {fraction}")
    videos = sorted({r.video_id for r in records}, key=lambda v: (type(v).__name__, v))
    random.Random(seed).shuffle(videos)
    n_val = int(round(fraction * len(videos)))
    if fraction > 0 and len(videos) > 1:
        n_val = min(max(n_val, 1), len(videos) - 1)
    held = set(videos[:n_val])
    train = [r for r in records if r.video_id not in held]
    val = [r for r in records if r.video_id in held]
    return train, val
