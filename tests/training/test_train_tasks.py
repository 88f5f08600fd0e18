"""One-epoch train + evaluate per task on tiny synthetic data; the checkpoint alone reproduces
the logged test metric."""

import json
import math
import os

import pytest
import torch
from training_utils import tiny_args

from mspan_pyg.training.checkpoint import load_checkpoint
from mspan_pyg.training.runner import evaluate_checkpoint, train

CASES = [
    ("tgif", "action", "accuracy"),
    ("tgif", "transition", "accuracy"),
    ("tgif", "count", "mse"),
    ("tgif", "frameqa", "accuracy"),
    ("msvd", None, "accuracy"),
]


@pytest.mark.parametrize("dataset,task,metric", CASES, ids=[c[1] or c[0] for c in CASES])
def test_one_epoch_then_checkpoint_evaluation(
    dataset, task, metric, tgif_data, msvd_data, tmp_path
):
    data = tgif_data if dataset == "tgif" else msvd_data
    out = tmp_path / "run"
    m = train(tiny_args(data, out, dataset=dataset, task=task))

    written = json.loads((out / "metrics.json").read_text())
    assert written["task"] == (task or "qa") and written["dataset"] == dataset
    assert metric in written["test"] and metric in written["val"]
    value = written["test"][metric]
    if metric == "accuracy":
        assert 0.0 <= value <= 1.0
    else:
        assert value >= 0.0
    assert written["test"]["count"] == m["num_questions"]["test"] > 0
    log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1] and log[0]["step"] == math.ceil(
        m["num_questions"]["train"] / 16
    )
    assert metric in log[0]["train"] and "loss" in log[0]["train"]
    preds = (out / "test_predictions.jsonl").read_text().splitlines()
    assert len(preds) == written["test"]["count"]

    if task == "frameqa":
        assert set(written["test"]["accuracy_by_type"]) <= {"object", "number", "color", "location"}
        assert sum(written["test"]["count_by_type"].values()) == written["test"]["count"]
    if dataset == "msvd":
        assert set(written["test"]["accuracy_by_type"]) <= {
            "what",
            "who",
            "how",
            "when",
            "where",
            "other",
        }
        assert len(written["test"]["accuracy_by_type"]) >= 3

    state = load_checkpoint(str(out / "best.pt"))
    assert state["task"] == (task or "qa") and state["dataset"] == dataset
    assert state["model_config"]["num_scales"] == 2 and "glove" not in state["model_config"]
    again = evaluate_checkpoint(str(out / "best.pt"), progress=False)
    assert again[metric] == value  # exactly: same weights, data, batches
    assert again["count"] == written["test"]["count"]


def test_bf16_autocast_on_cpu(tgif_data, tmp_path):
    m = train(tiny_args(tgif_data, tmp_path, task="count", amp="bf16"))
    assert m["test"]["count"] > 0 and math.isfinite(m["test"]["loss"])
    state = load_checkpoint(str(tmp_path / "best.pt"))
    assert state["args"]["amp"] == "bf16"
    assert all(
        v.dtype != torch.bfloat16 for v in state["model_state"].values()
    )  # fp32 master weights


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])  # in this process / two worker processes
def test_task_all_prints_the_table_with_question_only_baselines(tmp_path, capsys, jobs):
    from training_utils import TINY

    from mspan_pyg.cli.main import main

    flags = ["--num-videos", "40", "--jobs", jobs]
    for k, v in TINY.items():
        if k not in ("progress", "device"):
            flags += [f"--{k.replace('_', '-')}", str(v)]
    assert (
        main(["train", "--dataset", "tgif", "--out", str(tmp_path), "--no-progress", *flags]) == 0
    )
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].split() == ["task", "metric", "MSPAN", "question-only"]
    if jobs == "1":  # (worker processes write to their own stderr)
        for run in ("count", "count (question only)", "action", "frameqa (question only)"):
            assert f"\n{run}: test " in "\n" + captured.err, run  # each result names its run
    assert [l.split()[0] for l in lines[1:]] == ["action", "transition", "count", "frameqa"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    for task in ("action", "transition", "count", "frameqa"):
        blind = json.loads((tmp_path / f"{task}_question_only" / "metrics.json").read_text())
        full = json.loads((tmp_path / task / "metrics.json").read_text())
        assert blind["question_only"] and not full["question_only"]
        for run in (task, f"{task}_question_only"):  # the CLI draws every run's curves
            assert (tmp_path / run / "training_curves.png").read_bytes()[:4] == b"\x89PNG"
        metric = "mse" if task == "count" else "accuracy"
        assert summary[task] == {
            "metric": metric,
            "mspan": full["test"][metric],
            "question_only": blind["test"][metric],
        }
    assert sorted(os.listdir(tmp_path / "data")) == sorted(
        ["features.h5", "synthetic.json"]
        + [
            f"{s}_{t}_question.csv"
            for s in ("Train", "Test")
            for t in ("action", "transition", "count", "frameqa")
        ]
    )


def test_model_flags_reach_the_model(tgif_data, tmp_path):
    from training_utils import cli_flags

    from mspan_pyg.cli.main import main

    out = tmp_path / "run"
    flags = cli_flags(tgif_data, out, task="count")
    assert (
        main(
            [
                "train",
                *flags,
                "--no-gcn",
                "--scale-scores",
                "--gradient-checkpointing",
                "--structure",
                "bottom_up",
                "--pool",
                "mean",
                "--clip-stride",
                "1,2",
            ]
        )
        == 0
    )
    config = load_checkpoint(str(out / "best.pt"))["model_config"]
    assert config["use_gcn"] is False and config["scale_scores"] is True
    assert config["gradient_checkpointing"] is True
    assert (config["structure"], config["pool"], config["clip_stride"]) == (
        "bottom_up",
        "mean",
        [1, 2],
    )


@pytest.mark.slow
def test_main_command_ends_without_a_leaked_semaphore_warning(tmp_path):
    """Two worker processes, as the main command runs them; the pool used to be terminated,
    which killed the workers before they released their semaphores."""
    import subprocess
    import sys

    from training_utils import REPO, TINY, subprocess_env

    flags = ["--num-videos", "20", "--jobs", "2", "--out", str(tmp_path), "--no-progress"]
    for k, v in TINY.items():
        if k not in ("progress", "device"):
            flags += [f"--{k.replace('_', '-')}", str(v)]
    done = subprocess.run(
        [sys.executable, "-W", "default", f"{REPO}/examples/tgif_qa.py", *flags],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "leaked semaphore" not in done.stderr
    for task in ("action", "transition", "count", "frameqa"):
        assert f"{task}: test " in done.stderr and f"{task} (question only): test " in done.stderr
