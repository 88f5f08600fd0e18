import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mspan_pyg.data import (
    normalize_text,
    read_tgif_csv,
    read_tgif_qa,
    read_videoqa_json,
    split_by_video,
)
from mspan_pyg.data.annotations import QARecord
from mspan_pyg.errors import ConfigError, DataError
from mspan_pyg.tasks import TASK_HEAD, TGIF_TASKS

HEADERS = {
    "action": "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey",
    "transition": "gif_name\tquestion\ta1\ta2\ta3\ta4\ta5\tanswer\tvid_id\tkey",
    "count": "gif_name\tquestion\tanswer\tvid_id\tkey",
    "frameqa": "gif_name\tquestion\tanswer\ttype\tvid_id\tkey\tdescription",
}


def write(path, lines, newline="\n", bom=False):
    text = newline.join(lines) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_action_with_quirks(tmp_path):
    # BOM, CRLF, quotes (ordinary characters), trailing spaces, " ?", full-width unicode,
    # blank line
    path = write(
        tmp_path / "Train_action_question.csv",
        [
            HEADERS["action"],
            'tumblr_a\t"what does the man do , 5 times ?"\tnod \tjump\tsit\tclap\twave\t3'
            "\tACTION7\t11",
            "",
            "tumblr_b \twhat does the ｃａｔ do ?\ta\tb\tc\td\te\t0\tACTION8\t12",
        ],
        newline="\r\n",
        bom=True,
    )
    recs = read_tgif_qa(tmp_path, "action", "train")
    assert len(recs) == 2
    a, b = recs
    assert a.video_id == "tumblr_a" and a.question == '"what does the man do , 5 times ?"'
    assert a.candidates == ["nod", "jump", "sit", "clap", "wave"] and a.answer == 3
    assert a.key == "ACTION7" and a.video_key == 11  # vid_id names the question, key the GIF
    assert a.qtype == "action" and a.row == 1 and a.source == str(path)
    assert b.video_id == "tumblr_b" and b.question == "what does the cat do?"
    assert b.row == 3  # blank lines still count as rows of the file


def test_count_and_frameqa(tmp_path):
    write(
        tmp_path / "Test_count_question.csv",
        [HEADERS["count"], "g1\thow many times ?\t4\tCOUNT1\t1"],
    )
    write(
        tmp_path / "Test_frameqa_question.csv",
        [
            HEADERS["frameqa"],
            "g1\twhat is the color of the car ?\tred\t2\t1\t5\ta red car",
            "g2\twhat is on the table\tcup\t0\t2\t6\t",
        ],
    )
    (c,) = read_tgif_qa(tmp_path, "count", "test")
    assert (c.answer, c.qtype, c.candidates, c.key, c.video_key) == (4, "count", None, "COUNT1", 1)
    f1, f2 = read_tgif_qa(tmp_path, "frameqa", "test")
    assert (f1.answer, f1.qtype) == ("red", "color")
    assert (f2.answer, f2.qtype) == ("cup", "object")
    assert TASK_HEAD["frameqa"] == "open" and set(TGIF_TASKS) <= set(TASK_HEAD)


@pytest.mark.parametrize(
    "task,line,message",
    [
        ("action", "g\tq ?\ta\tb\tc\td\te\t5\t1\t1", "not a candidate index"),
        ("action", "g\tq ?\ta\tb\tc\td\te\tx\t1\t1", "not a candidate index"),
        ("action", "g\tq ?\ta\t\tc\td\te\t1\t1\t1", "empty candidate answer(s) a2"),
        ("action", "g\tq ?\ta\tb\tc\td\te\t1\t1\t1\textra", "11 fields but the header has 10"),
        ("count", "g\thow many ?\tthree\t1\t1", "not an integer"),
        ("count", "g\thow many ?\t2.5\t1\t1", "not an integer"),
        ("count", "g\thow many ?\t-1\t2\t1", "count answer -1 is negative"),
        ("count", "g\thow many ?\t3\t\t7", "empty vid_id"),
        ("count", "g\t  \t3\t1\t1", "empty question"),
        ("frameqa", "g\twhat ?\tdog\t7\t1\t1\td", "question type '7'"),
        ("frameqa", "g\twhat ?\t\t0\t1\t1\td", "empty answer"),
        ("count", "g\thow many ?", "only 2 fields"),
    ],
)
def test_bad_rows_name_file_and_row(tmp_path, task, line, message):
    ok = {
        "action": "g0\tq ?\ta\tb\tc\td\te\t1\t0\t1",
        "count": "g0\tq ?\t2\t1\t1",
        "frameqa": "g0\tq ?\tx\t1\t0\t1\td",
    }[task]
    path = write(tmp_path / f"Train_{task}_question.csv", [HEADERS[task], ok, line])
    with pytest.raises(DataError) as e:
        read_tgif_csv(path, task)
    assert str(path) in str(e.value) and "row 2" in str(e.value)
    assert message in str(e.value)


def test_a_file_without_vid_id_is_identified_by_key(tmp_path):
    header = "gif_name\tquestion\tanswer\tkey"
    path = write(tmp_path / "Train_count_question.csv", [header, "g1\tq ?\t0\t5", "g2\tq ?\t3\t6"])
    records = read_tgif_csv(path, "count")
    assert [(r.key, r.video_key, r.answer) for r in records] == [(5, None, 0), (6, None, 3)]
    write(path, [header, "g1\tq ?\t0\t5", "g2\tq ?\t3\t5"])
    with pytest.raises(DataError, match="question key 5 is used by rows 1 and 2"):
        read_tgif_csv(path, "count")


def test_missing_column(tmp_path):
    path = write(
        tmp_path / "Train_count_question.csv", ["gif_name\tquestion\tvid_id\tkey", "g\tq\t1\t1"]
    )
    with pytest.raises(DataError, match="missing column.*answer") as e:
        read_tgif_csv(path, "count")
    assert str(path) in str(e.value)


def test_unknown_task_and_split(tmp_path):
    with pytest.raises(ConfigError, match="action, transition, count, frameqa"):
        read_tgif_qa(tmp_path, "actions", "train")
    with pytest.raises(ConfigError, match="split_by_video"):
        read_tgif_qa(tmp_path, "action", "val")
    with pytest.raises(DataError, match="not found"):
        read_tgif_qa(tmp_path, "action", "train")


# includes characters NFKC rewrites (full-width, ligature, nbsp, superscript) and the quote
# (an ordinary character: the files use no quoting); excludes tab/newline (separators)
_text = st.text(
    alphabet=string.ascii_letters + string.digits + " ,.'!-?éüｃﬁ\u00a0²\"", min_size=1, max_size=40
).filter(lambda s: normalize_text(s) != "")


@settings(max_examples=50, deadline=None)
@given(
    rows=st.lists(
        st.tuples(_text, _text, st.integers(0, 3), st.integers(0, 10**6)),
        min_size=1,
        max_size=8,
        unique_by=lambda r: r[3],  # question ids (vid_id) are unique within a file
    )
)
def test_tgif_frameqa_roundtrip_property(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("prop")
    lines = [HEADERS["frameqa"]] + [
        f"vid{i}\t{q}\t{a}\t{t}\t{k}\t{i}\tdesc" for i, (q, a, t, k) in enumerate(rows)
    ]
    write(d / "Train_frameqa_question.csv", lines)
    recs = read_tgif_qa(d, "frameqa", "train")
    assert [(r.video_id, r.question, r.answer, r.qtype, r.key) for r in recs] == [
        (
            f"vid{i}",
            normalize_text(q),
            normalize_text(a),
            ("object", "number", "color", "location")[t],
            k,
        )
        for i, (q, a, t, k) in enumerate(rows)
    ]


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(_text, st.lists(_text, min_size=5, max_size=5), st.integers(0, 4)),
        min_size=1,
        max_size=6,
    )
)
def test_tgif_multichoice_roundtrip_property(tmp_path_factory, rows):
    d = tmp_path_factory.mktemp("prop")
    lines = [HEADERS["transition"]] + [
        "\t".join([f"g{i}", q, *c, str(a), str(i), str(i)]) for i, (q, c, a) in enumerate(rows)
    ]
    write(d / "Test_transition_question.csv", lines)
    recs = read_tgif_qa(d, "transition", "test")
    assert [(r.question, r.candidates, r.answer) for r in recs] == [
        (normalize_text(q), [normalize_text(x) for x in c], a) for q, c, a in rows
    ]


def _json(path, obj):
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_videoqa_json(tmp_path):
    _json(
        tmp_path / "val_qa.json",
        [
            {"answer": "Man", "id": 7, "question": "who is  cooking ?", "video_id": 1201},
            {"answer": "dog", "id": 8, "question": "what runs?", "video_id": "42"},
            {"answer": "two", "id": 9, "question": "Is it late?", "video_id": 3},
        ],
    )
    a, b, c = read_videoqa_json(tmp_path, "val")
    assert (a.video_id, a.question, a.answer, a.qtype, a.key, a.row) == (
        1201,
        "who is cooking?",
        "Man",
        "who",
        7,
        1,
    )
    assert b.video_id == 42 and b.qtype == "what"
    assert c.qtype == "other"


@pytest.mark.parametrize(
    "content,message",
    [
        ({"question": "q"}, "expected a JSON list"),
        (
            [
                {"question": "q", "answer": "a", "video_id": 1, "id": 1},
                {"question": "q", "video_id": 1, "id": 99},
            ],
            "item 2 (id 99): missing key(s) answer",
        ),
        ([{"answer": "a", "video_id": 1}], "item 1 (id ?): missing key(s) question"),
        ([{"question": "q", "answer": "a", "id": 5}], "missing key(s) video_id"),
        ([{"question": " ", "answer": "a", "video_id": 1}], "empty or non-text question"),
    ],
)
def test_videoqa_json_errors(tmp_path, content, message):
    path = _json(tmp_path / "train_qa.json", content)
    with pytest.raises(DataError) as e:
        read_videoqa_json(tmp_path, "train")
    assert str(path) in str(e.value) and message in str(e.value)


def test_videoqa_invalid_json(tmp_path):
    (tmp_path / "test_qa.json").write_text('[{"question": "q",\n "answer": }]')
    with pytest.raises(DataError, match=r"test_qa.json: invalid JSON at line 2"):
        read_videoqa_json(tmp_path, "test")


def test_split_by_video():
    recs = [
        QARecord(
            video_id=f"v{i % 20}", question="q", answer=1, candidates=None, qtype="count", key=i
        )
        for i in range(100)
    ]
    train, val = split_by_video(recs, fraction=0.25, seed=3)
    assert len(train) + len(val) == 100
    train_v, val_v = {r.video_id for r in train}, {r.video_id for r in val}
    assert not train_v & val_v and len(val_v) == 5 and len(train_v) == 15
    # deterministic, independent of record order; seed matters
    again = split_by_video(list(reversed(recs)), fraction=0.25, seed=3)[1]
    assert {r.video_id for r in again} == val_v
    others = {
        frozenset(r.video_id for r in split_by_video(recs, 0.25, seed=s)[1]) for s in range(5)
    }
    assert len(others) > 1
    with pytest.raises(ConfigError):
        split_by_video(recs, fraction=1.0)
