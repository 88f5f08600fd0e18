"""ActivityNet-QA reader: question and answer files joined on question_id."""

import json

import pytest

from mspan_pyg.data.activitynet import ACTIVITYNET_TYPES, read_activitynet_qa
from mspan_pyg.errors import DataError

QUESTIONS = [
    {
        "video_name": "v_abcDEF12345",
        "question": "is the man wearing a hat",
        "question_id": "v_abcDEF12345_0",
    },
    {
        "video_name": "v_abcDEF12345",
        "question": "what color is the car",
        "question_id": "v_abcDEF12345_1",
    },
    {
        "video_name": "xyz-98765_a",
        "question": "what does the woman do",
        "question_id": "xyz-98765_a_0",
    },
]
ANSWERS = [
    {"question_id": "v_abcDEF12345_1", "answer": "red", "type": 4},
    {"question_id": "v_abcDEF12345_0", "answer": "yes", "type": 3},
    {"question_id": "xyz-98765_a_0", "answer": "dance", "type": "0"},
]


def write(tmp_path, questions, answers, split="train"):
    (tmp_path / f"{split}_q.json").write_text(json.dumps(questions))
    (tmp_path / f"{split}_a.json").write_text(json.dumps(answers))
    return tmp_path


def test_reads_and_joins(tmp_path):
    recs = read_activitynet_qa(write(tmp_path, QUESTIONS, ANSWERS), "train")
    assert [r.key for r in recs] == [q["question_id"] for q in QUESTIONS]  # question order
    assert [(r.answer, r.qtype) for r in recs] == [
        ("yes", "yes_no"),
        ("red", "color"),
        ("dance", "motion"),
    ]
    assert recs[0].video_id == "v_abcDEF12345" and recs[0].candidates is None
    assert recs[2].row == 3 and recs[2].source.endswith("train_q.json")
    assert ACTIVITYNET_TYPES[0] == "motion" and ACTIVITYNET_TYPES[8] == "other"


@pytest.mark.parametrize(
    "questions,answers,where,message",
    [
        (QUESTIONS, ANSWERS[:2], "train_q.json, item 3", "has no answer"),
        (QUESTIONS[:2], ANSWERS, "train_a.json, item 3", "has no question"),
        (
            QUESTIONS,
            [dict(ANSWERS[0], type=9)] + ANSWERS[1:],
            "train_a.json, item 1",
            "type 9 is not 0..8",
        ),
        (
            QUESTIONS,
            [dict(ANSWERS[0], type="motion")] + ANSWERS[1:],
            "train_a.json, item 1",
            "type 'motion'",
        ),
        (
            [{"question": "q", "question_id": "a"}],
            ANSWERS,
            "train_q.json, item 1",
            "missing key.*video_name",
        ),
        (QUESTIONS + [QUESTIONS[0]], ANSWERS, "train_q.json, item 4", "duplicate question_id"),
        (QUESTIONS, [dict(ANSWERS[0], answer="")] + ANSWERS[1:], "train_a.json, item 1", "empty"),
    ],
)
def test_bad_inputs_name_file_and_item(tmp_path, questions, answers, where, message):
    write(tmp_path, questions, answers)
    with pytest.raises(DataError, match=message) as e:
        read_activitynet_qa(tmp_path, "train")
    assert where in str(e.value)


def test_missing_file_and_bad_split(tmp_path):
    with pytest.raises(DataError, match="val_q.json: ActivityNet-QA annotation file not found"):
        read_activitynet_qa(tmp_path, "val")
    with pytest.raises(Exception, match="unknown ActivityNet-QA split"):
        read_activitynet_qa(tmp_path, "dev")
