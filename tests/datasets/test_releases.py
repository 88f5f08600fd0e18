"""Issue 17: every reader on every file of the official releases, as downloaded.

Each test runs on fixtures that reproduce the releases' quirks (always) and, when
``MSPAN_RELEASES=DIR`` is set, on the real files (tests/datasets/releases.py says the layout).
"""

import json
from pathlib import Path

import pytest
from releases import (
    csv_rows,
    release_root,
    synthesize_features,
    training_folder,
    tsv_column,
    tsv_data_lines,
    write_activitynet_fixture,
    write_nextqa_fixture,
    write_tgif_fixture,
)

from mspan_pyg.data.activitynet import read_activitynet_qa, write_official_predictions
from mspan_pyg.data.annotations import read_tgif_csv, read_videoqa_file, tgif_key_map
from mspan_pyg.data.nextqa import read_nextqa_csv, read_video_map
from mspan_pyg.training.runner import train

TINY = dict(
    num_scales=2,
    num_iterations=1,
    visual_dim=8,
    module_dim=8,
    word_dim=8,
    epochs=1,
    batch_size=64,
    dropout=0.0,
    progress=False,
    num_frames=4,
)


@pytest.fixture(scope="module", params=["fixture", "release"])
def releases(request, tmp_path_factory):
    if request.param == "release":
        root = release_root()
        if root is None:
            pytest.skip("set MSPAN_RELEASES=DIR to read the real releases")
        return root
    root = tmp_path_factory.mktemp("releases")
    write_tgif_fixture(root / "tgif-qa")
    write_nextqa_fixture(root / "nextqa")
    write_activitynet_fixture(root / "activitynet-qa")
    return root


def _files(folder: Path, pattern: str):
    files = sorted(folder.glob(pattern))
    if not files:
        pytest.skip(f"no {pattern} in {folder}")
    return files


def _tgif_task(path: Path) -> str:
    return path.name.split("_")[1]


# ------------------------------------------------------------------------------- reading
def test_every_tgif_file_reads_completely(releases):
    for path in _files(releases / "tgif-qa", "*_question.csv"):
        task = _tgif_task(path)
        records = read_tgif_csv(path, task)
        assert len(records) == tsv_data_lines(path), path.name
        # a question is its vid_id; the GIF's key is kept beside it
        assert [str(r.key) for r in records] == tsv_column(path, "vid_id"), path.name
        assert [r.video_key for r in records] == [int(k) for k in tsv_column(path, "key")]
        if task == "count":  # answers as given, 0 included
            assert [r.answer for r in records] == [int(a) for a in tsv_column(path, "answer")]


def test_tgif_fixture_has_the_release_quirks(tmp_path):
    folder = write_tgif_fixture(tmp_path)
    raw = (folder / "Test_transition_question.csv").read_bytes()
    assert raw.count(b"\r\n") == tsv_data_lines(folder / "Test_transition_question.csv") + 1
    for task in ("transition", "frameqa"):  # several questions about one GIF
        records = read_tgif_csv(folder / f"Test_{task}_question.csv", task)
        assert len({r.video_key for r in records}) < len(records)
        assert len({r.key for r in records}) == len(records)
    count = read_tgif_csv(folder / "Train_count_question.csv", "count")
    assert 0 in {r.answer for r in count} and 1 not in {r.answer for r in count}
    frameqa = read_tgif_csv(folder / "Train_frameqa_question.csv", "frameqa")
    assert frameqa[0].answer == "red" and frameqa[0].qtype == "color"  # description ignored
    transition = read_tgif_csv(folder / "Train_transition_question.csv", "transition")
    assert transition[0].question.count('"') == 2  # a quote is text, not CSV quoting


def test_tgif_key_map_names_every_gif(releases):
    folder = releases / "tgif-qa"
    files = _files(folder, "*_question.csv")
    keys = {int(k) for p in files if not p.name.startswith("Total") for k in tsv_column(p, "key")}
    mapping = tgif_key_map(folder)
    assert set(mapping) == keys


def test_every_nextqa_file_reads_completely(releases):
    folder = releases / "nextqa"
    for path in _files(folder, "*.csv"):
        records = read_nextqa_csv(path)
        assert len(records) == csv_rows(path), path.name
        assert len({r.key for r in records}) == len(records)
    map_file = folder / "map_vid_vidorID.json"
    if map_file.exists():
        assert len(read_video_map(map_file)) == len(json.loads(map_file.read_text()))


def test_every_activitynet_file_reads_completely(releases, tmp_path):
    folder = releases / "activitynet-qa"
    for q_path in _files(folder, "*_q.json"):
        split = q_path.name[: -len("_q.json")]
        records = read_activitynet_qa(folder, split)
        gold = json.loads((folder / f"{split}_a.json").read_text())
        assert len(records) == len(json.loads(q_path.read_text())) == len(gold)
        # the official scorer compares answer texts exactly: gold answers written as the
        # predictions score every question right
        out = tmp_path / f"{split}_official.json"
        write_official_predictions(out, records, [r.answer for r in records])
        truth = {g["question_id"]: g["answer"] for g in gold}
        preds = json.loads(out.read_text())
        assert len(preds) == len(gold)
        assert all(p["answer"] == truth[p["question_id"]] for p in preds)


def test_every_videoqa_file_reads_completely(releases):
    found = [p for d in ("msvd-qa", "msrvtt-qa") for p in sorted((releases / d).glob("*_qa.json"))]
    if not found:
        pytest.skip("no MSVD-QA / MSRVTT-QA files (the stored copies lack them)")
    for path in found:
        assert len(read_videoqa_file(path)) == len(json.loads(path.read_text())), path


# ------------------------------------------------------------------ one epoch on the files
def _predictions(out: Path):
    return [json.loads(line) for line in (out / "test_predictions.jsonl").open()]


@pytest.mark.parametrize("task", ["action", "transition", "count", "frameqa"])
def test_one_epoch_on_tgif_files(releases, tmp_path, task):
    source = releases / "tgif-qa"
    names = [f"Train_{task}_question.csv", f"Test_{task}_question.csv"]
    if not (source / names[1]).exists():
        pytest.skip(f"no {names[1]}")
    # a copy without the Train file (the stored copy of transition/frameqa) trains on Test
    folder = training_folder(source, tmp_path / "data", names, {names[0]: names[1]})
    records = {n: read_tgif_csv(folder / n, task) for n in names}
    gifs = [r.video_id for rs in records.values() for r in rs]
    features = synthesize_features(tmp_path / "features.h5", gifs)
    out = tmp_path / "run"
    metrics = train(
        dict(TINY, dataset="tgif", task=task, data_dir=str(folder), features=features, out=str(out))
    )
    test = records[names[1]]
    assert metrics["test"]["count"] == len(test)
    predictions = _predictions(out)
    assert [p["key"] for p in predictions] == [r.key for r in test]
    assert [p["video_key"] for p in predictions] == [r.video_key for r in test]
    if task in ("action", "transition"):  # the index of the chosen candidate
        assert all(type(p["prediction"]) is int and 0 <= p["prediction"] < 5 for p in predictions)
    if task == "count":
        answers = [p["answer"] for p in predictions]
        assert answers == [r.answer for r in test] and 0 in answers
        assert all(1 <= p["prediction"] <= 10 for p in predictions)
        mse = sum((p["prediction"] - p["answer"]) ** 2 for p in predictions) / len(predictions)
        assert metrics["test"]["mse"] == pytest.approx(mse)


def test_one_epoch_on_nextqa_files(releases, tmp_path):
    source = releases / "nextqa"
    names = ["train.csv", "val.csv"]
    if not (source / "val.csv").exists():
        pytest.skip("no val.csv")
    folder = training_folder(source, tmp_path / "data", names, {"train.csv": "val.csv"})
    videos = [r.video_id for n in names for r in read_nextqa_csv(folder / n)]
    features = synthesize_features(tmp_path / "features.h5", videos)
    out = tmp_path / "run"
    metrics = train(
        dict(TINY, dataset="nextqa", data_dir=str(folder), features=features, out=str(out))
    )
    val = read_nextqa_csv(folder / "val.csv")
    assert metrics["test"]["count"] == len(val)
    official = json.loads((out / "val_predictions_official.json").read_text())
    assert sorted(official) == sorted(r.key for r in val)


def test_one_epoch_on_activitynet_files(releases, tmp_path):
    source = releases / "activitynet-qa"
    names = [f"{s}_{k}.json" for s in ("train", "val", "test") for k in "qa"]
    if not all((source / n).exists() for n in names):
        pytest.skip("ActivityNet-QA files missing")
    folder = training_folder(source, tmp_path / "data", names, {})
    videos = [r.video_id for s in ("train", "val", "test") for r in read_activitynet_qa(folder, s)]
    features = synthesize_features(tmp_path / "features.h5", videos)
    out = tmp_path / "run"
    metrics = train(
        dict(TINY, dataset="activitynet", data_dir=str(folder), features=features, out=str(out))
    )
    test = read_activitynet_qa(folder, "test")
    assert metrics["test"]["count"] == len(test)
    official = json.loads((out / "test_predictions_official.json").read_text())
    assert [p["question_id"] for p in official] == [r.key for r in test]
