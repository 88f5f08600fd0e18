"""The new datasets through the training loop: tiny end-to-end runs on built-in data."""

import json

import pytest

from mspan_pyg.cli.main import main
from mspan_pyg.data.nextqa import evaluate_prediction_file
from mspan_pyg.errors import DataError
from mspan_pyg.training.runner import evaluate_checkpoint, train

TINY = dict(
    num_scales=2,
    num_iterations=1,
    visual_dim=16,
    module_dim=16,
    word_dim=16,
    epochs=1,
    batch_size=16,
    dropout=0.0,
    progress=False,
)


def test_nextqa_run_official_file_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    m = train(dict(TINY, dataset="nextqa", num_videos=120, out=str(out)))
    assert m["task"] == "mc" and m["metric"] == "accuracy"
    test = m["test"]
    assert set(test["accuracy_by_type"]) <= {"CW", "CH", "TN", "TC", "DC", "DL", "DO"}
    assert "TP" not in test["count_by_type"]
    assert set(test["accuracy_by_group"]) <= {"Acc@C", "Acc@T", "Acc@D"}
    assert "accuracy_by_group" in m["val"]
    # the official prediction file gives exactly the reported numbers on the evaluated CSV
    official = evaluate_prediction_file(
        out / "data" / "val.csv", out / "val_predictions_official.json"
    )
    assert official["overall"] == pytest.approx(test["accuracy"])
    for group, value in test["accuracy_by_group"].items():
        assert official[group] == pytest.approx(value)
    # the model was selected on held-out *training* videos, never on val.csv
    tested = {json.loads(x)["video_id"] for x in (out / "test_predictions.jsonl").open()}
    val_csv_videos = {
        int(line.split(",")[0]) for line in (out / "data" / "val.csv").open() if line[0].isdigit()
    }
    assert tested == val_csv_videos
    again = evaluate_checkpoint(str(out / "best.pt"), progress=False)
    assert again["accuracy"] == test["accuracy"]
    assert again["accuracy_by_group"] == test["accuracy_by_group"]
    on_test = evaluate_checkpoint(str(out / "best.pt"), eval_split="test", progress=False)
    assert on_test["count"] == sum(1 for _ in (out / "data" / "test.csv").open()) - 1


def test_missing_video_names_annotation_file_and_row(tmp_path):
    from mspan_pyg.data.synthetic_nextqa import prepare_synthetic_nextqa

    data = prepare_synthetic_nextqa(tmp_path / "d", num_videos=60)
    val = tmp_path / "d" / "val.csv"
    lines = val.read_text().splitlines()
    lines.insert(3, "9999999999" + lines[2][lines[2].index(",") :])  # a video without features
    val.write_text("\n".join(lines) + "\n")
    args = dict(TINY, dataset="nextqa", out=str(tmp_path / "r"), **data)
    with pytest.raises(DataError, match=r"val.csv, row 3: video 9999999999 has no features"):
        train(args)
    m = train(dict(args, skip_missing=True))  # --skip-missing drops the question instead
    assert m["num_questions"]["test"] == len(lines) - 2


@pytest.mark.slow
def test_activitynet_long_video_options_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "run"
    flags = ["train", "--dataset", "activitynet", "--num-videos", "40", "--out", str(out)]
    flags += ["--num-frames", "32", "--clip-stride", "scale", "--gradient-checkpointing"]
    flags += ["--num-scales", "3", "--epochs", "1", "--module-dim", "16", "--word-dim", "16"]
    flags += ["--visual-dim", "16", "--no-progress", "--task", "qa"]
    assert main(flags) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["model_config"]["clip_stride"] == "scale"
    assert m["model_config"]["gradient_checkpointing"] is True
    assert set(m["test"]["accuracy_by_type"]) <= {
        "motion",
        "spatial",
        "temporal",
        "yes_no",
        "color",
        "object",
        "location",
        "number",
        "other",
    }
    assert '"dataset": "activitynet"' in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize(
    "head,metric", [("open", "accuracy"), ("count", "mse"), ("multichoice", "accuracy")]
)
def test_own_questions_each_head(tmp_path, head, metric):
    m = train(dict(TINY, dataset="own", task=head, num_videos=60, out=str(tmp_path / "r")))
    assert m["task"] == head and m["metric"] == metric
    if head != "count":  # the built-in own questions carry NExT-QA's types
        assert set(m["test"]["accuracy_by_type"]) <= {
            "CW",
            "CH",
            "TN",
            "TP",
            "TC",
            "DC",
            "DL",
            "DO",
        }


def test_run_with_baseline_table(tmp_path, capsys):
    out = tmp_path / "all"
    flags = ["train", "--dataset", "nextqa", "--num-videos", "60", "--out", str(out)]
    flags += ["--epochs", "1", "--num-scales", "2", "--num-iterations", "1", "--no-progress"]
    flags += ["--module-dim", "16", "--word-dim", "16", "--visual-dim", "16", "--jobs", "1"]
    assert main(flags) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split() == ["task", "metric", "MSPAN", "question-only"]
    assert printed[1].split()[:2] == ["mc", "accuracy"]
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["mc"]) == {"metric", "mspan", "question_only", "by_type"}
    assert json.loads((out / "mc_question_only" / "metrics.json").read_text())["question_only"]
