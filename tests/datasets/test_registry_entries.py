"""The three datasets are registry entries: the runner reads their optional fields, never their
names (docs/architecture.md, "Adding a dataset")."""

import json

import pytest

from mspan_pyg.data.registry import DatasetSpec, get_dataset, register_dataset
from mspan_pyg.errors import ConfigError, DataError
from mspan_pyg.tasks import NEXTQA_TYPES
from mspan_pyg.training.config import RunConfig
from mspan_pyg.training.runner import read_splits


def test_entries():
    nextqa, anet, own = (get_dataset(n) for n in ("nextqa", "activitynet", "own"))
    assert dict(nextqa.tasks) == {"mc": "multichoice"} and nextqa.eval_splits == ("val", "test")
    assert nextqa.qtype_names == NEXTQA_TYPES and set(nextqa.type_groups) == {
        "Acc@C",
        "Acc@T",
        "Acc@D",
    }
    assert dict(anet.tasks) == {"qa": "open"} and anet.answer_vocab_size == 1000
    assert set(own.tasks) == {"open", "count", "multichoice"} and own.default_task(None)
    assert all(s.builtin_suite for s in (nextqa, anet, own))
    assert not get_dataset("msvd").builtin_suite  # MSVD's built-in run stays a single run


def test_eval_split_defaults_and_checks(tmp_path):
    cfg = RunConfig.from_dict({"dataset": "nextqa", "out": str(tmp_path)}).resolve()
    assert cfg.data.eval_split == "val"
    assert cfg.train.epochs == 20  # the entry's synthetic_defaults on the built-in data
    with pytest.raises(ConfigError, match="--eval-split must be one of val, test, got 'dev'"):
        RunConfig.from_dict({"dataset": "nextqa", "eval_split": "dev"}).resolve()
    with pytest.raises(ConfigError, match="--eval-split: msvd has one test split"):
        RunConfig.from_dict({"dataset": "msvd", "eval_split": "val"}).resolve()
    paper = RunConfig.from_dict(
        {"dataset": "nextqa", "data_dir": str(tmp_path), "features": "f.h5"}
    ).resolve()
    assert paper.train.epochs == 25  # real data keeps the paper preset


def test_nextqa_test_split_is_the_eval_file(tmp_path):
    header = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
    for split, video in (("train", 1), ("val", 2), ("test", 3)):
        rows = [f"{video}{i},1,1,1,why,0,{i},CW,a,b,c,d,e\n" for i in range(10)]
        (tmp_path / f"{split}.csv").write_text(header + "".join(rows))
    base = {"dataset": "nextqa", "data_dir": str(tmp_path), "features": "f.h5"}
    for eval_split, video in (("val", 2), ("test", 3)):
        cfg = RunConfig.from_dict(dict(base, eval_split=eval_split)).resolve()
        got = read_splits(cfg, ("train", "val", "test"))
        assert {str(r.video_id)[0] for r in got["test"]} == {str(video)}
        # selection on held-out *training* videos, never on the evaluated file
        assert {str(r.video_id)[0] for r in got["train"] + got["val"]} == {"1"}
        assert got["val"] and got["train"]


def test_own_task_and_val_split_from_the_folder(tmp_path):
    (tmp_path / "train.csv").write_text("video_id,question,answer\nv1,what,cat\nv2,what,dog\n")
    (tmp_path / "test.csv").write_text("video_id,question,answer\nv3,what,cat\n")
    base = {"dataset": "own", "data_dir": str(tmp_path), "features": "f.h5", "val_fraction": 0.5}
    cfg = RunConfig.from_dict(base).resolve()
    assert cfg.data.task == "open" and cfg.head == "open"  # no candidates: open-ended
    assert [r.video_id for r in read_splits(cfg, ("val",))["val"]] in (["v1"], ["v2"])
    (tmp_path / "val.csv").write_text("video_id,question,answer\nv9,what,cow\n")
    assert [r.video_id for r in read_splits(cfg, ("val",))["val"]] == ["v9"]  # its own file
    (tmp_path / "test.csv").unlink()
    with pytest.raises(DataError, match="no test.csv or test.jsonl"):
        read_splits(cfg, ("test",))


def test_missing_video_names_file_and_row_for_any_dataset(tmp_path):
    """The error of a question without features is generic (VideoQADataset), e.g. TGIF-QA."""
    from mspan_pyg.data import FeatureStore, VideoQADataset, Vocabulary, read_tgif_csv
    from mspan_pyg.data.synthetic import make_synthetic_tgif

    made = make_synthetic_tgif(tmp_path / "d", tasks=["count"], num_videos=20)
    path = made["annotations"][("count", "test")]
    lines = path.read_text().splitlines()
    fields = lines[2].split("\t")
    fields[0] = "no_such_gif"  # a gif_name without features
    lines[2] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")
    records = read_tgif_csv(path, "count")
    store = FeatureStore(made["features"])
    with pytest.raises(
        DataError, match=rf"{path.name}, row 2: video 'no_such_gif' has no features"
    ):
        VideoQADataset(records, Vocabulary.from_records(records), None, store, "count")


def test_official_writer_and_type_groups_come_from_the_entry(tmp_path):
    """A dataset registered outside the package gets the same treatment as NExT-QA."""
    written = []

    def write(out, file_split, records, predictions):
        written.append((file_split, len(records), len(predictions)))
        path = f"{out}/official.json"
        with open(path, "w") as f:
            json.dump(list(predictions), f)
        return path

    nextqa = get_dataset("nextqa")
    register_dataset(
        DatasetSpec(
            "nextqa_copy",
            dict(nextqa.tasks),
            nextqa.read,
            batch_size=8,
            make_synthetic=nextqa.make_synthetic,
            qtype_names=nextqa.qtype_names,
            type_groups={"causal": ("CW", "CH")},
            eval_splits=("test",),
            write_official=write,
        ),
        replace=True,
    )
    from mspan_pyg.training.runner import train

    m = train(
        dict(
            dataset="nextqa_copy",
            num_videos=60,
            epochs=1,
            num_scales=2,
            num_iterations=1,
            visual_dim=8,
            module_dim=8,
            word_dim=8,
            progress=False,
            out=str(tmp_path / "run"),
        )
    )
    assert written == [("test", m["num_questions"]["test"], m["num_questions"]["test"])]
    assert set(m["test"]["accuracy_by_group"]) <= {"causal"}
    assert (tmp_path / "run" / "official.json").is_file()
