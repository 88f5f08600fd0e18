"""Annotation files (issue 14): no row is dropped or merged silently, and question keys are
unique so that predictions can be told apart."""

import json

import pytest

from mspan_pyg.data.annotations import (
    read_tgif_csv,
    read_videoqa_file,
    tgif_key_map,
    tgif_vid_id_map,
)
from mspan_pyg.errors import DataError

COUNT_HEADER = "gif_name\tquestion\tanswer\tvid_id\tkey"


def write_lines(path, lines, newline="\n"):
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_quote_is_an_ordinary_character(tmp_path, newline):
    """The real files are tab-separated without quoting: an unbalanced ``"`` used to swallow
    the following rows into one question."""
    rows = [
        'g1\t"how many times does the man nod?\t3\tk1\t1',
        "g2\thow many times does the cat jump?\t2\tk2\t2",
        'g3\t"big" dog: how many times does it run?\t4\tk3\t3',
        "g4\thow many times does the girl wave?\t1\tk4\t4",
    ]
    path = write_lines(tmp_path / "Test_count_question.csv", [COUNT_HEADER, *rows], newline)
    records = read_tgif_csv(path, "count")
    assert [r.key for r in records] == ["k1", "k2", "k3", "k4"]
    assert records[0].question == '"how many times does the man nod?'
    assert records[2].question == '"big" dog: how many times does it run?'
    assert [r.answer for r in records] == [3, 2, 4, 1]
    assert [r.row for r in records] == [1, 2, 3, 4]
    assert tgif_key_map(tmp_path) == {1: "g1", 2: "g2", 3: "g3", 4: "g4"}
    with pytest.warns(DeprecationWarning, match="tgif_key_map"):
        assert tgif_vid_id_map(tmp_path) == tgif_key_map(tmp_path)


def test_every_data_line_is_one_question(tmp_path):
    lines = [COUNT_HEADER] + [f"g{i}\thow many times ?\t{i % 11}\tk{i}\t{i}" for i in range(50)]
    lines.insert(10, "")  # a blank line is not a question
    path = write_lines(tmp_path / "Train_count_question.csv", lines)
    assert len(read_tgif_csv(path, "count")) == 50


def test_duplicate_tgif_question_ids_are_an_error(tmp_path):
    rows = [
        "g1\thow many times ?\t3\tk1\t1",
        "g2\thow many times ?\t2\tk2\t2",
        "g3\thow many times ?\t4\tk1\t3",
    ]
    path = write_lines(tmp_path / "Train_count_question.csv", [COUNT_HEADER, *rows])
    with pytest.raises(DataError) as e:
        read_tgif_csv(path, "count")
    assert "Train_count_question.csv" in str(e.value)
    assert "vid_id 'k1'" in str(e.value) and "rows 1 and 3" in str(e.value)


def test_duplicate_videoqa_ids_are_an_error(tmp_path):
    items = [
        {"question": "what is it?", "answer": "cat", "video_id": 1, "id": 7},
        {"question": "who is it?", "answer": "man", "video_id": 2, "id": 8},
        {"question": "where is it?", "answer": "home", "video_id": 3, "id": 7},
    ]
    path = tmp_path / "test_qa.json"
    path.write_text(json.dumps(items))
    with pytest.raises(DataError) as e:
        read_videoqa_file(path)
    assert "test_qa.json" in str(e.value)
    assert "id 7 " in str(e.value) and "items 1 and 3" in str(e.value)


def test_duplicates_through_the_command_line(tgif, copy, cli, tmp_path):
    data = copy(tgif)
    path = f"{data['data_dir']}/Test_count_question.csv"
    with open(path) as f:
        lines = f.read().split("\n")
    header = lines[0].split("\t")
    first = lines[1].split("\t")[header.index("vid_id")]
    third = lines[3].split("\t")
    third[header.index("vid_id")] = first
    lines[3] = "\t".join(third)
    with open(path, "w") as f:
        f.write("\n".join(lines))
    cli.error(
        cli.train(data, tmp_path / "out"),
        "Test_count_question.csv",
        f"vid_id {first!r} ",
        "rows 1 and 3",
        label="duplicate vid_id",
    )
