"""NExT-QA (multiple choice): the release's CSV files, video map, metrics and prediction file.

Files of the release (docs/datasets.md)::

    train.csv, val.csv, test.csv   comma-separated, header
        video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4
    map_vid_vidorID.json           {"<video>": "<folder>/<video>"}
                                   (the video is NExTVideo/<folder>/<video>.mp4)

``answer`` is the index 0..4 of the right candidate. Two variants in circulation are accepted:
the id column named ``video_id``, and ``answer`` stored as the candidate's text (it must then be
exactly one of ``a0..a4``). A question's key is ``"{video}_{qid}"``, as in the official
prediction file.

Question types: causal CW (why), CH (how); temporal TN (after/next), TP (before/previous),
TC (when/concurrent); descriptive DC (count), DL (location), DO (other). The official evaluation
scores TP together with TN, so a record's ``qtype`` is its *scored* type (TP -> TN) and the
reported types are :data:`NEXTQA_TYPES`; the groups Acc@C, Acc@T and Acc@D are question-weighted
(micro) averages over their types, as the official script computes them.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ConfigError, DataError
from ..files import write_json
from ..tasks import NEXTQA_GROUPS, NEXTQA_TYPES
from .annotations import QARecord, normalize_text

NUM_CANDIDATES = 5
#: every type a CSV may hold (TP is scored as TN)
NEXTQA_RAW_TYPES: Tuple[str, ...] = ("CW", "CH", "TN", "TP", "TC", "DC", "DL", "DO")
SCORED_TYPE = {t: ("TN" if t == "TP" else t) for t in NEXTQA_RAW_TYPES}
NEXTQA_SPLITS = ("train", "val", "test")
_CANDIDATE_COLUMNS = tuple(f"a{i}" for i in range(NUM_CANDIDATES))
_REQUIRED = ("question", "answer", "qid", "type") + _CANDIDATE_COLUMNS


def nextqa_key(video: Union[str, int], qid: Union[str, int]) -> str:
    """The official question key ``"{video}_{qid}"``."""
    return f"{video}_{qid}"


def _video_id(text: str) -> Union[str, int]:
    # NExT-QA ids are decimal numbers (the feature files store them as integers)
    return int(text) if text.isdigit() else text


def read_nextqa_csv(path: Union[str, os.PathLike]) -> List[QARecord]:
    """Read one NExT-QA CSV (``train.csv``/``val.csv``/``test.csv`` or a variant).

    Returns :class:`QARecord` s with ``answer`` the candidate index, ``candidates`` the five
    candidate texts, ``qtype`` the scored type and ``key`` ``"{video}_{qid}"``. Rows are
    counted from 1 after the header. Raises :class:`DataError` naming the file and row for a
    missing column, an answer outside 0..4 (or a text that is no candidate), an unknown type,
    an empty field or a repeated key.
    """
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise DataError(f"{path}: NExT-QA annotation file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise DataError(f"{path}: cannot parse as comma-separated text: {e}") from None
    if not rows:
        raise DataError(f"{path}: empty file (expected the header {','.join(_REQUIRED)})")
    header = [h.strip().lower() for h in rows[0]]
    video_col = "video" if "video" in header else "video_id" if "video_id" in header else None
    missing = [c for c in _REQUIRED if c not in header]
    if video_col is None:
        missing.insert(0, "video (or video_id)")
    if missing:
        raise DataError(
            f"{path}: header is missing NExT-QA column(s) {', '.join(missing)} "
            f"(header: {', '.join(header)})"
        )
    col = {name: header.index(name) for name in (video_col,) + _REQUIRED}
    need = max(col.values()) + 1

    records: List[QARecord] = []
    seen: Dict[str, int] = {}
    for row_no, fields in enumerate(rows[1:], start=1):
        if not any(x.strip() for x in fields):
            continue
        where = f"{path}, row {row_no}"
        if len(fields) < need:
            raise DataError(f"{where}: {len(fields)} fields, the header needs at least {need}")
        values = {name: normalize_text(fields[i]) for name, i in col.items()}
        get = values.__getitem__
        for name in (video_col, "question", "qid", "type") + _CANDIDATE_COLUMNS:
            if not get(name):
                raise DataError(f"{where}: empty {name}")
        video, qid = get(video_col), get("qid")
        key = nextqa_key(video, qid)
        if key in seen:
            raise DataError(
                f"{where}: duplicate question key {key!r} (video {video}, qid {qid}; "
                f"first in row {seen[key]})"
            )
        seen[key] = row_no
        raw_type = get("type").upper()
        if raw_type not in SCORED_TYPE:
            raise DataError(
                f"{where}: question type {get('type')!r} is not one of "
                f"{', '.join(NEXTQA_RAW_TYPES)}"
            )
        candidates = [get(c) for c in _CANDIDATE_COLUMNS]
        answer_field = get("answer")
        if answer_field.lstrip("-").isdigit():
            answer = int(answer_field)
            if not 0 <= answer < NUM_CANDIDATES:
                raise DataError(
                    f"{where}: answer index {answer} is outside 0..{NUM_CANDIDATES - 1}"
                )
        elif answer_field in candidates:  # the variant that stores the answer's text
            answer = candidates.index(answer_field)
        else:
            raise DataError(
                f"{where}: answer {answer_field!r} is neither a candidate index 0..4 nor the "
                f"text of one of a0..a4"
            )
        records.append(
            QARecord(
                video_id=_video_id(video),
                question=get("question"),
                answer=answer,
                candidates=candidates,
                qtype=SCORED_TYPE[raw_type],
                key=key,
                source=path,
                row=row_no,
            )
        )
    return records


def nextqa_path(data_dir: Union[str, os.PathLike], split: str) -> str:
    if split not in NEXTQA_SPLITS:
        raise ConfigError(f"unknown NExT-QA split {split!r}; valid: {', '.join(NEXTQA_SPLITS)}")
    return os.path.join(os.fspath(data_dir), f"{split}.csv")


def read_nextqa(data_dir: Union[str, os.PathLike], split: str) -> List[QARecord]:
    """Read ``{split}.csv`` (train | val | test) of a NExT-QA folder."""
    return read_nextqa_csv(nextqa_path(data_dir, split))


def read_video_map(path: Union[str, os.PathLike]) -> Dict[str, str]:
    """``map_vid_vidorID.json``: ``{video id: "<folder>/<video>"}`` (string keys)."""
    path = os.fspath(path)
    try:
        with open(path, "r", encoding="utf-8-sig") as f:
            mapping = json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: video map not found") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from None
    if not isinstance(mapping, dict):
        raise DataError(f"{path}: expected a JSON object {{video: folder/video}}")
    bad = [k for k, v in mapping.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise DataError(f"{path}: video {bad[0]!r} maps to {mapping[bad[0]]!r}, not a path")
    return {str(k): v.strip() for k, v in mapping.items()}


def nextqa_video_paths(
    map_file: Union[str, os.PathLike],
    video_root: Union[str, os.PathLike],
    videos: Optional[Iterable[Union[str, int]]] = None,
    extension: str = ".mp4",
) -> Dict[str, str]:
    """``{video id: video_root/<folder>/<video>.mp4}`` for ``videos`` (default: all mapped).

    This is how raw NExT-QA videos (``NExTVideo/0101/2909445186.mp4``) are found for feature
    extraction; a requested id missing from the map raises :class:`DataError`.
    """
    mapping = read_video_map(map_file)
    wanted = list(mapping) if videos is None else [str(v) for v in videos]
    missing = [v for v in wanted if v not in mapping]
    if missing:
        raise DataError(
            f"{os.fspath(map_file)}: {len(missing)} video(s) not in the map, e.g. {missing[:5]}"
        )
    root = os.fspath(video_root)
    return {v: os.path.join(root, *mapping[v].split("/")) + extension for v in wanted}


# ---------------------------------------------------------------------------------- metrics
def write_official_predictions(
    path: Union[str, os.PathLike], records: Sequence[QARecord], predictions: Iterable[int]
) -> None:
    """Write ``{"<video>_<qid>": {"prediction": i, "answer": j}}`` (the official result file,
    read by NExT-QA's ``eval_mc.py``)."""
    predictions = [int(p) for p in predictions]
    if len(predictions) != len(records):
        raise DataError(f"{len(predictions)} predictions for {len(records)} questions")
    out = {
        str(r.key): {"prediction": p, "answer": int(r.answer)} for r, p in zip(records, predictions)
    }
    write_json(path, out, indent=None)


def group_accuracy(correct: Mapping[str, int], count: Mapping[str, int]) -> Dict[str, float]:
    """Accuracy per scored type, per group (``Acc@C``, ``Acc@T``, ``Acc@D``) and ``overall``,
    from per-type correct and question counts (a type or group with no question is left out).
    Groups and overall weight every question equally, as the official script does."""
    out: Dict[str, float] = {}
    for t in NEXTQA_TYPES:
        if count.get(t, 0):
            out[t] = correct.get(t, 0) / count[t]
    for g, types in NEXTQA_GROUPS.items():
        n = sum(count.get(t, 0) for t in types)
        if n:
            out[f"Acc@{g}"] = sum(correct.get(t, 0) for t in types) / n
    n = sum(count.get(t, 0) for t in NEXTQA_TYPES)
    if n:
        out["overall"] = sum(correct.get(t, 0) for t in NEXTQA_TYPES) / n
    return out


def evaluate_prediction_file(
    csv_path: Union[str, os.PathLike], prediction_path: Union[str, os.PathLike]
) -> Dict[str, float]:
    """Score an official prediction file against a NExT-QA CSV as ``eval_mc.py`` does: every
    CSV question must have a prediction; a prediction counts when it equals the file's answer."""
    records = read_nextqa_csv(csv_path)
    prediction_path = os.fspath(prediction_path)
    try:
        with open(prediction_path) as f:
            preds = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{prediction_path}: cannot read the prediction file: {e}") from None
    correct: Counter = Counter()
    count: Counter = Counter()
    for r in records:
        entry = preds.get(str(r.key))
        if not isinstance(entry, dict) or "prediction" not in entry or "answer" not in entry:
            raise DataError(
                f"{prediction_path}: no prediction for {r.key!r} ({r.source}, row {r.row})"
            )
        count[r.qtype] += 1
        correct[r.qtype] += int(entry["prediction"] == entry["answer"])
    return group_accuracy(correct, count)
