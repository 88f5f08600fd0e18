"""Own questions: one CSV / JSON-lines format for open, count and multiple-choice heads."""

import json

import pytest

from mspan_pyg.data.own_questions import infer_own_head, own_question_file, read_own_questions
from mspan_pyg.errors import DataError


def csv_file(tmp_path, text, name="train.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl_file(tmp_path, items, name="train.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    return path


def test_csv_open_with_types(tmp_path):
    path = csv_file(
        tmp_path,
        "video_id,question,answer,type\n"
        "clip_01,what is on the table?,cup,object\n"
        "7,who runs,dog,\n",
    )
    a, b = read_own_questions(path)
    assert (a.video_id, a.question, a.answer, a.qtype, a.key) == (
        "clip_01",
        "what is on the table?",
        "cup",
        "object",
        "clip_01_1",
    )
    assert b.video_id == 7 and b.qtype == "all" and b.candidates is None


def test_csv_multichoice_index_or_text(tmp_path):
    text = (
        "video_id,question,answer,a0,a1,a2,qid\n"
        "v1,what color,2,red,blue,green,q1\n"
        "v2,what animal,cat,dog,cat,cow,q2\n"
    )
    a, b = read_own_questions(csv_file(tmp_path, text))  # head inferred from the candidates
    assert a.answer == 2 and a.candidates == ["red", "blue", "green"] and a.key == "q1"
    assert b.answer == 1


def test_jsonl_count_and_multichoice(tmp_path):
    path = jsonl_file(tmp_path, [{"video_id": "a", "question": "how many jumps", "answer": 3}])
    (r,) = read_own_questions(path, "count")
    assert r.answer == 3
    path = jsonl_file(
        tmp_path,
        [{"video_id": "a", "question": "q", "answer": 0, "candidates": ["x", "y"], "type": "why"}],
    )
    (r,) = read_own_questions(path)
    assert r.candidates == ["x", "y"] and r.qtype == "why"
    assert infer_own_head(tmp_path) == "multichoice"


@pytest.mark.parametrize(
    "items,head,where,message",
    [
        ([{"video_id": "a", "question": "q"}], None, "line 1", "missing field.*answer"),
        ([{"video_id": "a", "question": "q", "answer": -1}], "count", "line 1", "-1 is negative"),
        (
            [{"video_id": "a", "question": "q", "answer": "many"}],
            "count",
            "line 1",
            "not an integer",
        ),
        (
            [{"video_id": "a", "question": "q", "answer": 2, "candidates": ["x", "y"]}],
            None,
            "line 1",
            "index 2 is outside 0..1",
        ),
        (
            [{"video_id": "a", "question": "q", "answer": "z", "candidates": ["x", "y"]}],
            None,
            "line 1",
            "neither a candidate",
        ),
        (
            [
                {"video_id": "a", "question": "q", "answer": 0, "candidates": ["x", "y"]},
                {"video_id": "b", "question": "q", "answer": 0, "candidates": ["x", "y", "z"]},
            ],
            None,
            "line 2",
            "3 candidates, but the first question has 2",
        ),
        (
            [{"video_id": "a", "question": "q", "answer": "x", "qid": 1}] * 2,
            "open",
            "line 2",
            "duplicate qid '1'",
        ),
        (
            [{"video_id": "a", "question": "q", "answer": "x"}],
            "multichoice",
            "line 1",
            "2 or more candidates",
        ),
    ],
)
def test_bad_inputs_name_file_and_line(tmp_path, items, head, where, message):
    path = jsonl_file(tmp_path, items)
    with pytest.raises(DataError, match=message) as e:
        read_own_questions(path, head)
    assert f"{path}, {where}" in str(e.value)


def test_csv_errors(tmp_path):
    path = csv_file(tmp_path, "video_id,question,answer\nv1,q\n")
    with pytest.raises(DataError, match=r"train.csv, row 1: 2 fields but the header has 3"):
        read_own_questions(path)
    path = csv_file(tmp_path, "video_id,question,answer,a0,a2\nv1,q,0,x,y\n")
    with pytest.raises(DataError, match="without gaps"):
        read_own_questions(path)
    path.write_text("{not json\n")
    bad = tmp_path / "val.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(DataError, match="val.jsonl, line 1: invalid JSON"):
        read_own_questions(bad)


def test_one_file_per_split(tmp_path):
    assert own_question_file(tmp_path, "val") is None
    csv_file(tmp_path, "video_id,question,answer\n", name="test.csv")
    jsonl_file(tmp_path, [], name="test.jsonl")
    with pytest.raises(DataError, match="both test.csv and test.jsonl"):
        own_question_file(tmp_path, "test")
