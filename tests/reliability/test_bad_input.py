"""Bad input end to end through ``mspan-pyg``: every malformed annotation, feature, GloVe or
checkpoint file gives exit status 2 and one ``error: ...`` line naming the file, the row / id
and what is wrong, never a traceback."""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
from conftest import REPO, TINY


def edit_tsv(path, row, column=None, value=None, line=None):
    """Sets ``column`` of data ``row`` (1-based, header not counted) or replaces the whole line."""
    with open(path) as f:
        lines = f.read().split("\n")
    if line is not None:
        lines[row] = line(lines[row])
    else:
        header = lines[0].split("\t")
        fields = lines[row].split("\t")
        fields[header.index(column)] = value
        lines[row] = "\t".join(fields)
    with open(path, "w") as f:
        f.write("\n".join(lines))


def drop_column(path, column):
    with open(path) as f:
        rows = [l.split("\t") for l in f.read().split("\n")]
    i = rows[0].index(column)
    with open(path, "w") as f:
        f.write("\n".join("\t".join(r[:i] + r[i + 1 :]) for r in rows))


# (id, task, file, edit, substrings the error line must contain)
TSV_CASES = [
    (
        "missing_column",
        "count",
        "Train_count_question.csv",
        lambda p: drop_column(p, "question"),
        ["Train_count_question.csv", "missing column(s) question"],
    ),
    (
        "extra_column",
        "count",
        "Train_count_question.csv",
        lambda p: edit_tsv(p, 3, line=lambda l: l + "\textra"),
        ["Train_count_question.csv, row 3", "6 fields but the header has 5"],
    ),
    (
        "answer_index_outside_0_4",
        "action",
        "Train_action_question.csv",
        lambda p: edit_tsv(p, 2, "answer", "7"),
        ["Train_action_question.csv, row 2", "answer '7' is not a candidate index 0..4"],
    ),
    (
        "count_not_integer",
        "count",
        "Test_count_question.csv",
        lambda p: edit_tsv(p, 2, "answer", "three"),
        ["Test_count_question.csv, row 2", "count answer 'three' is not an integer"],
    ),
    (
        "count_fraction",
        "count",
        "Train_count_question.csv",
        lambda p: edit_tsv(p, 5, "answer", "2.5"),
        ["Train_count_question.csv, row 5", "'2.5' is not an integer"],
    ),
    (
        "count_negative",
        "count",
        "Train_count_question.csv",
        lambda p: edit_tsv(p, 1, "answer", "-2"),
        ["Train_count_question.csv, row 1", "count answer -2 is negative"],
    ),
    (
        "empty_question",
        "frameqa",
        "Train_frameqa_question.csv",
        lambda p: edit_tsv(p, 4, "question", "  "),
        ["Train_frameqa_question.csv, row 4", "empty question"],
    ),
    (
        "fewer_candidates",
        "transition",
        "Train_transition_question.csv",
        lambda p: edit_tsv(p, 2, line=lambda l: "\t".join(l.split("\t")[:4])),
        ["Train_transition_question.csv, row 2", "only 4 fields", "'a3' and later are missing"],
    ),
    (
        "empty_candidate",
        "transition",
        "Test_transition_question.csv",
        lambda p: edit_tsv(p, 1, "a5", ""),
        ["Test_transition_question.csv, row 1", "empty candidate answer(s) a5"],
    ),
]


@pytest.mark.parametrize(
    "case,task,name,corrupt,expected", TSV_CASES, ids=[c[0] for c in TSV_CASES]
)
def test_tgif_annotation_errors(case, task, name, corrupt, expected, tgif, copy, cli, tmp_path):
    data = copy(tgif)
    corrupt(os.path.join(data["data_dir"], name))
    cli.error(cli.train(data, tmp_path / "out", task=task), *expected)
    assert not (tmp_path / "out" / "last.pt").exists()


def test_videoqa_json_errors(msvd, copy, cli, tmp_path):
    data = copy(msvd, "not_a_list")
    with open(os.path.join(data["data_dir"], "train_qa.json"), "w") as f:
        json.dump({"question": "what?", "answer": "x", "video_id": 1}, f)
    cli.error(
        cli.train(data, tmp_path / "o1", task=None),
        "train_qa.json",
        "expected a JSON list of question objects, got a dict",
        label="not a list",
    )

    data = copy(msvd, "no_answer")
    path = os.path.join(data["data_dir"], "val_qa.json")
    with open(path) as f:
        items = json.load(f)
    qid = items[2]["id"]
    del items[2]["answer"]
    with open(path, "w") as f:
        json.dump(items, f)
    cli.error(
        cli.train(data, tmp_path / "o2", task=None),
        "val_qa.json, item 3",
        f"(id {qid}): missing key(s) answer",
        label="missing answer",
    )

    data = copy(msvd, "cut")
    path = os.path.join(data["data_dir"], "test_qa.json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])
    cli.error(
        cli.train(data, tmp_path / "o3", task=None),
        "test_qa.json",
        "invalid JSON at line 1",
        label="truncated JSON",
    )


def test_videos_missing_from_the_feature_file(msvd, copy, cli, tmp_path):
    data = copy(msvd)
    path = os.path.join(data["data_dir"], "train_qa.json")
    with open(path) as f:
        items = json.load(f)
    for i in range(0, 12, 2):  # six questions on six videos that have no features
        items[i]["video_id"] = 90000 + i
    with open(path, "w") as f:
        json.dump(items, f)
    line = cli.error(
        cli.train(data, tmp_path / "strict", task=None),
        msvd["features"],
        "6 of",
        "question videos have no features",
        "90000, 90002, 90004, 90006, 90008",
        "--skip-missing",
    )
    assert "90010" not in line  # a few ids, not all of them

    status, _, err = cli.run(cli.train(data, tmp_path / "skip", "--skip-missing", task=None))
    assert status == 0, err
    assert (
        f"warning: {msvd['features']}: skipped 6 question(s) of 6 video(s) without features" in err
    )
    metrics = json.loads((tmp_path / "skip" / "metrics.json").read_text())
    assert metrics["num_questions"]["train"] == len(items) - 6


def make_features(path, ids, frames=8, appearance=8, motion=4):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["appearance"] = rng.standard_normal((len(ids), frames, appearance)).astype("f4")
        if motion:
            f["motion"] = rng.standard_normal((len(ids), frames, motion)).astype("f4")
        f["ids"] = ids
    return str(path)


def tgif_ids(tgif):
    with h5py.File(tgif["features"], "r") as f:
        return f["ids"][()]


def test_feature_file_errors(tgif, cli, tmp_path):
    def run(features, *extra):
        return cli.train(dict(tgif, features=features), tmp_path / "out", *extra)

    cli.error(
        run(tgif["features"], "--num-frames", "16"),
        tgif["features"],
        "asked for 16 frames per video but the file stores 8",
        label="--num-frames 16 > 8 stored",
    )

    ids = tgif_ids(tgif)
    nan = make_features(tmp_path / "nan.h5", ids)
    with h5py.File(nan, "r+") as f:
        f["appearance"][3, 2, 1] = np.nan
    cli.error(
        run(nan),
        "nan.h5",
        "/appearance has NaN or Inf values for 1 video(s)",
        repr(ids[3].decode()),
        label="NaN",
    )
    inf = make_features(tmp_path / "inf.h5", ids)
    with h5py.File(inf, "r+") as f:
        f["motion"][5, 0, 0] = np.inf
        f["motion"][7, 1, 1] = -np.inf
    cli.error(
        run(inf),
        "inf.h5",
        "/motion has NaN or Inf values for 2 video(s)",
        repr(ids[5].decode()),
        repr(ids[7].decode()),
        label="+-Inf",
    )

    whole = open(tgif["features"], "rb").read()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(whole[: int(len(whole) * 0.9)])
    cli.error(run(cut), "cut.h5", "not a readable HDF5 file (truncated", label="truncated")
    text = tmp_path / "text.h5"
    text.write_text("gif_name\tfeatures\n")
    cli.error(
        run(text),
        "text.h5",
        "not a readable HDF5 file",
        "file signature not found",
        label="not HDF5",
    )
    no_ids = tmp_path / "no_ids.h5"
    with h5py.File(no_ids, "w") as f:
        f["appearance"] = np.zeros((2, 8, 8), "f4")
    cli.error(run(no_ids), "no_ids.h5", "missing dataset /ids", label="no /ids")
    cli.error(
        run(make_features(tmp_path / "int_ids.h5", np.arange(len(ids)))),
        "int_ids.h5",
        "question videos have no features",
        "'synthetic_count_000000'",
        label="int ids for TGIF-QA",
    )


def test_glove_errors(tgif, cli, tmp_path):
    def glove(name, second_line):
        path = tmp_path / name
        path.write_text("how " + " ".join(["0.1"] * 8) + "\n" + second_line + "\n")
        return cli.train(tgif, tmp_path / "out", "--glove", path)

    cli.error(
        glove("short.txt", "many 0.2 0.2 0.2 0.2 0.2"),
        "short.txt, line 2",
        "5 values after the token, expected 8",
        label="short line",
    )
    cli.error(
        glove("long.txt", "many" + " 0.2" * 11),
        "long.txt, line 2",
        "11 values after the token 'many', expected 8",
        label="long line",
    )
    cli.error(
        glove("text.txt", "many" + " x" * 8),
        "text.txt, line 2",
        "non-numeric value 'x' in the vector of 'many'",
        label="non-numeric value",
    )
    first = tmp_path / "dim5.txt"
    first.write_text("how 0.1 0.2 0.3 0.4 0.5\n")
    cli.error(
        cli.train(tgif, tmp_path / "out", "--glove", first),
        "dim5.txt, line 1",
        "expected 8",
        "--word-dim 5",
        label="other dim",
    )


def test_checkpoint_against_other_features(tgif, count_checkpoint, cli, tmp_path):
    ids = tgif_ids(tgif)

    def evaluate(features):
        return [
            "evaluate",
            count_checkpoint,
            "--data-dir",
            tgif["data_dir"],
            "--features",
            features,
            "--no-progress",
        ]

    wide = make_features(tmp_path / "wide.h5", ids, appearance=16)
    cli.error(
        evaluate(wide),
        count_checkpoint,
        "appearance/motion dims (8, 4)",
        "wide.h5 has (16, 4)",
        label="feature dim",
    )
    cli.error(
        evaluate(make_features(tmp_path / "no_motion.h5", ids, motion=0)),
        "no_motion.h5 has (8, 0)",
        label="no motion",
    )
    cli.error(
        evaluate(make_features(tmp_path / "one_frame.h5", ids, frames=1)),
        count_checkpoint,
        "2-scale model",
        "one_frame.h5 has only 1 frames per video",
        label="fewer frames than scales",
    )
    status, out, err = cli.run(evaluate(make_features(tmp_path / "four.h5", ids, frames=4)))
    assert status == 0, err  # fewer frames than trained on, but enough for K = 2: fine


def test_checkpoint_vocabulary_is_used_on_other_data(tgif, count_checkpoint, copy, cli, tmp_path):
    # 60 words the training questions never had: a vocabulary built from these questions
    # would be larger than the checkpoint's embedding; the checkpoint's maps them to <unk>.
    vocab = torch.load(count_checkpoint, weights_only=True)["vocab"]["question"]
    data = copy(tgif)
    path = os.path.join(data["data_dir"], "Test_count_question.csv")
    with open(path) as f:
        rows = f.read().strip().split("\n")
    new = [f"zq{i}" for i in range(60)]
    assert not set(new) & set(json.dumps(vocab).split('"'))
    for r in range(1, len(rows)):
        edit_tsv(path, r, "question", "how often do " + " ".join(new[r::3]) + " happen?")
    status, out, err = cli.run(
        [
            "evaluate",
            count_checkpoint,
            "--data-dir",
            data["data_dir"],
            "--features",
            data["features"],
            "--no-progress",
        ]
    )
    assert status == 0, err
    assert json.loads(out.strip().splitlines()[-1])["count"] == len(rows) - 1


def test_checkpoint_errors(tgif, msvd, count_checkpoint, cli, tmp_path):
    good = open(count_checkpoint, "rb").read()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good[: len(good) // 2])
    cli.error(
        ["evaluate", cut], "cut.pt", "is corrupted or not a PyTorch checkpoint", label="truncated"
    )
    damaged = bytearray(good)
    damaged[len(good) // 2 : len(good) // 2 + 256] = bytes(256)
    (tmp_path / "damaged.pt").write_bytes(bytes(damaged))
    line = cli.error(["evaluate", tmp_path / "damaged.pt"], "damaged.pt", label="bytes zeroed")
    # the zip archive notices (torch's paragraph of advice cut to its first sentence), or the
    # bytes were tensor data and the checksum notices
    assert "is corrupted (" in line or "is damaged" in line, line
    assert len(line) < 250, line
    state = torch.load(count_checkpoint, weights_only=True)
    state["model_config"]["module_dim"] = 16
    del state["checksum"]  # crafted, not damaged: a checksum would call it damaged
    torch.save(state, tmp_path / "edited.pt")
    cli.error(
        ["evaluate", tmp_path / "edited.pt"],
        "edited.pt does not fit this model",
        "size mismatch",
        label="config/weights differ",
    )
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    cli.error(["evaluate", tmp_path / "foreign.pt"], "not an mspan-pyg checkpoint", label="foreign")

    # a checkpoint of another task: resuming it as action, or evaluating it on MSVD-QA data
    run = os.path.dirname(count_checkpoint)
    cli.error(
        cli.train(tgif, run, "--resume", task="action"),
        "last.pt",
        "was trained for task 'count', not 'action'",
        label="resume another task",
    )
    cli.error(
        [
            "evaluate",
            count_checkpoint,
            "--data-dir",
            msvd["data_dir"],
            "--features",
            msvd["features"],
        ],
        "Test_count_question.csv",
        "annotation file not found",
        label="TGIF-QA count checkpoint on MSVD-QA data",
    )


def test_unknown_names(tgif, count_checkpoint, cli, tmp_path):
    cli.error(
        cli.train(tgif, tmp_path / "o", task="counting"),
        "unknown TGIF-QA task 'counting'",
        "action, transition, count, frameqa",
        label="task",
    )
    cli.error(
        ["train", "--dataset", "tgifqa", "--task", "count"],
        "unknown dataset 'tgifqa'",
        "tgif, msvd, msrvtt",
        label="dataset",
    )
    cli.error(
        ["train", "--dataset", "msvd", "--task", "count"],
        "msvd has one open-ended task",
        label="task of MSVD-QA",
    )
    cli.error(
        ["evaluate", count_checkpoint, "--split", "valid"], "unknown split 'valid'", label="split"
    )
    cli.error(
        ["convert-features", "avi", "--appearance", tmp_path, "--out", tmp_path / "x.h5"],
        "unknown feature format 'avi'",
        label="feature format",
    )


@pytest.mark.slow
def test_subprocess_exit_status_without_traceback(tgif, count_checkpoint, tmp_path):
    """The real process: status 2, stderr is one ``error:`` line, no traceback (three at once)."""
    bad_csv = tmp_path / "csv"
    shutil.copytree(tgif["data_dir"], bad_csv, ignore=shutil.ignore_patterns("*.h5"))
    edit_tsv(bad_csv / "Train_count_question.csv", 2, "answer", "three")
    nan = make_features(tmp_path / "nan.h5", tgif_ids(tgif))
    with h5py.File(nan, "r+") as f:
        f["appearance"][0, 0, 0] = np.nan
    cut = tmp_path / "cut.pt"
    cut.write_bytes(open(count_checkpoint, "rb").read()[:1000])
    train = ["train", "--task", "count", "--out", tmp_path / "out", *TINY]
    cases = {
        "count answer 'three' is not an integer": train
        + ["--data-dir", bad_csv, "--features", tgif["features"]],
        "/appearance has NaN or Inf values": train
        + ["--data-dir", tgif["data_dir"], "--features", nan],
        "cut.pt is corrupted": ["evaluate", cut],
    }
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO)
    procs = {
        k: subprocess.Popen(
            [sys.executable, "-m", "mspan_pyg.cli.main", *map(str, argv)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, argv in cases.items()
    }
    for expected, p in procs.items():
        out, err = p.communicate(timeout=300)
        assert p.returncode == 2, err
        lines = err.strip().splitlines()
        assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith("error: "), err
        assert expected in lines[0], lines[0]
