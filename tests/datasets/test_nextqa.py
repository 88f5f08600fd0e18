"""NExT-QA reader, video map, official prediction file and metrics."""

import json

import pytest

from mspan_pyg.data.nextqa import (
    NEXTQA_TYPES,
    evaluate_prediction_file,
    group_accuracy,
    nextqa_video_paths,
    read_nextqa,
    read_nextqa_csv,
    read_video_map,
    write_official_predictions,
)
from mspan_pyg.errors import DataError

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"
ROWS = [
    "3000000001,420,640,480,why did the girl wave her hand,2,0,CW,dance,greet,say goodbye,run,sit",
    "3000000001,420,640,480,what does the girl do after waving,0,3,TN,walk away,sing,nod,jump,eat",
    "3000000002,300,640,360,what did the dog do before lying down,4,1,TP,bark,run,sleep,dig,spin",
    "3000000002,300,640,360,how many dogs are there,1,2,DC,one,two,three,four,five",
]


def write(tmp_path, lines, name="val.csv", header=HEADER):
    path = tmp_path / name
    path.write_text("\n".join([header] + lines) + "\n", encoding="utf-8")
    return path


def test_reads_release_format(tmp_path):
    recs = read_nextqa(write(tmp_path, ROWS).parent, "val")
    assert [r.key for r in recs] == ["3000000001_0", "3000000001_3", "3000000002_1", "3000000002_2"]
    assert recs[0].video_id == 3000000001 and recs[0].answer == 2
    assert recs[0].candidates == ["dance", "greet", "say goodbye", "run", "sit"]
    assert recs[0].question == "why did the girl wave her hand"
    # TP is scored with TN, as the official evaluation does
    assert [r.qtype for r in recs] == ["CW", "TN", "TN", "DC"]
    assert [r.row for r in recs] == [1, 2, 3, 4]


def test_variants_video_id_column_and_answer_text(tmp_path):
    header = HEADER.replace("video,", "video_id,", 1)
    rows = [ROWS[0].replace(",2,0,CW,", ",say goodbye,0,CW,"), ROWS[1]]
    recs = read_nextqa_csv(write(tmp_path, rows, header=header))
    assert recs[0].answer == 2 and recs[1].answer == 0
    assert recs[0].key == "3000000001_0"


def test_bom_crlf_and_quoted_fields(tmp_path):
    path = tmp_path / "train.csv"
    text = HEADER + "\r\n" + ROWS[0].replace("say goodbye", '"say, goodbye"') + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    (r,) = read_nextqa_csv(path)
    assert r.candidates[2] == "say, goodbye" and r.answer == 2


@pytest.mark.parametrize(
    "row,message",
    [
        (ROWS[0].replace(",2,0,CW,", ",5,0,CW,"), "answer index 5 is outside 0..4"),
        (ROWS[0].replace(",2,0,CW,", ",-1,0,CW,"), "answer index -1 is outside 0..4"),
        (ROWS[0].replace(",2,0,CW,", ",hello,0,CW,"), "neither a candidate index"),
        (ROWS[0].replace(",CW,", ",XX,"), "question type 'XX'"),
        (ROWS[0].replace(",dance,", ",,"), "empty a0"),
        (ROWS[0].rsplit(",", 2)[0], "fields"),
    ],
)
def test_bad_rows_name_file_and_row(tmp_path, row, message):
    path = write(tmp_path, [ROWS[1], row])
    with pytest.raises(DataError, match=message) as e:
        read_nextqa_csv(path)
    assert f"{path}, row 2" in str(e.value)


def test_duplicate_key(tmp_path):
    path = write(tmp_path, [ROWS[0], ROWS[1], ROWS[0]])
    with pytest.raises(DataError, match=r"row 3: duplicate question key '3000000001_0'.*row 1"):
        read_nextqa_csv(path)


def test_missing_columns(tmp_path):
    with pytest.raises(DataError, match="missing NExT-QA column.*type, a0") as e:
        read_nextqa_csv(write(tmp_path, [], header=HEADER.replace(",type,a0", "")))
    assert "val.csv" in str(e.value)
    with pytest.raises(DataError, match=r"video \(or video_id\)"):
        read_nextqa_csv(write(tmp_path, [], header=HEADER.replace("video,", "vid,", 1)))
    with pytest.raises(DataError, match="not found"):
        read_nextqa(tmp_path, "test")


def test_video_map_and_paths(tmp_path):
    path = tmp_path / "map_vid_vidorID.json"
    path.write_text(json.dumps({"2909445186": "0101/2909445186", "3000000001": "0042/3000000001"}))
    assert read_video_map(path)["2909445186"] == "0101/2909445186"
    paths = nextqa_video_paths(path, tmp_path / "NExTVideo", videos=[2909445186])
    assert paths == {"2909445186": str(tmp_path / "NExTVideo" / "0101" / "2909445186.mp4")}
    with pytest.raises(DataError, match="1 video.*not in the map"):
        nextqa_video_paths(path, tmp_path, videos=["123"])


def test_prediction_file_matches_official_layout_and_scores(tmp_path):
    csv_path = write(tmp_path, ROWS)
    recs = read_nextqa_csv(csv_path)
    out = tmp_path / "pred.json"
    write_official_predictions(out, recs, [2, 1, 4, 0])  # right, wrong, right, wrong
    preds = json.loads(out.read_text())
    assert preds["3000000001_0"] == {"prediction": 2, "answer": 2}
    assert preds["3000000002_2"] == {"prediction": 0, "answer": 1}
    got = evaluate_prediction_file(csv_path, out)
    # CW 1/1; TN (TN + TP) 1/2; DC 0/1; groups weight questions equally
    assert got == {
        "CW": 1.0,
        "TN": 0.5,
        "DC": 0.0,
        "Acc@C": 1.0,
        "Acc@T": 0.5,
        "Acc@D": 0.0,
        "overall": 0.5,
    }
    del preds["3000000002_1"]
    out.write_text(json.dumps(preds))
    with pytest.raises(DataError, match=r"no prediction for '3000000002_1'.*row 3"):
        evaluate_prediction_file(csv_path, out)


def test_group_accuracy_is_question_weighted():
    correct = {"CW": 9, "CH": 0, "TN": 1, "TC": 1, "DL": 2}
    count = {"CW": 10, "CH": 10, "TN": 2, "TC": 2, "DL": 4}
    got = group_accuracy(correct, count)
    assert got["Acc@C"] == 9 / 20
    assert got["Acc@T"] == 2 / 4 and got["Acc@D"] == 2 / 4
    assert got["overall"] == 13 / 28
    assert "DC" not in got and list(NEXTQA_TYPES)[:2] == ["CW", "CH"]
    unequal = group_accuracy({"CW": 9, "CH": 0}, {"CW": 10, "CH": 2})
    assert unequal["Acc@C"] == 9 / 12 != (0.9 + 0.0) / 2
