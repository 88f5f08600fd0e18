"""Command line: user errors exit 2 with one 'error: ...' line; overwrite protection; NaN stop;
atomic checkpoints; `evaluate` from the checkpoint alone."""

import json
import os
import subprocess
import sys

import pytest
import torch
from training_utils import REPO, cli_flags, subprocess_env, tiny_args

from mspan_pyg.cli.main import main
from mspan_pyg.errors import CheckpointError, ConfigError
from mspan_pyg.models.mspan import MSPAN
from mspan_pyg.training import checkpoint as ckpt
from mspan_pyg.training.engine import NonFiniteLossError
from mspan_pyg.training.runner import train


def one_error_line(capsys, argv, *expected):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [l for l in err if l.startswith("error: ")]
    # progress notes may come first; the error is one line, the last, without a traceback
    assert len(errors) == 1 and err[-1] == errors[0] and not any("Traceback" in l for l in err), err
    for e in expected:
        assert e in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def count_run(tgif_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("count_run")
    train(tiny_args(tgif_data, out, task="count"))
    return out


def test_bad_inputs_exit_2_with_one_line(capsys, tmp_path, tgif_data):
    one_error_line(
        capsys, ["train", "--task", "bogus"], "bogus", "action, transition, count, frameqa"
    )
    one_error_line(capsys, ["train", "--dataset", "bogus"], "bogus", "tgif, msvd, msrvtt")
    one_error_line(capsys, ["train", "--bogus"], "unrecognized arguments: --bogus")
    one_error_line(capsys, [], "no command")
    one_error_line(capsys, ["train", "--task", "count", "--data-dir", str(tmp_path)], "--features")
    one_error_line(
        capsys,
        [
            "train",
            "--task",
            "count",
            "--data-dir",
            str(tmp_path),
            "--features",
            tgif_data["features"],
            "--out",
            str(tmp_path / "o"),
        ],
        "Train_count_question.csv",
        "not found",
    )
    one_error_line(
        capsys,
        ["train", "--task", "count", "--epochs", "0", "--out", str(tmp_path / "o")],
        "--epochs",
    )
    one_error_line(capsys, ["evaluate", str(tmp_path / "missing.pt")], "does not exist")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    one_error_line(capsys, ["evaluate", str(bad)], "corrupted")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    one_error_line(
        capsys, ["evaluate", str(tmp_path / "foreign.pt")], "not an mspan-pyg checkpoint"
    )


@pytest.mark.slow
def test_script_exit_status_is_2_without_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", "tgif_qa.py"), "--task", "bogus"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: unknown TGIF-QA task 'bogus'")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_evaluate_command_reproduces_the_logged_test_metric(capsys, count_run, tgif_data):
    logged = json.loads((count_run / "metrics.json").read_text())["test"]
    assert (
        main(
            [
                "evaluate",
                str(count_run / "best.pt"),
                "--data-dir",
                tgif_data["data_dir"],
                "--features",
                tgif_data["features"],
                "--no-progress",
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["mse"] == logged["mse"] and printed["count"] == logged["count"]


def test_checkpoint_of_another_task_or_truncated(count_run, tmp_path):
    # the truncated copy of a good checkpoint (a crash while copying it, say)
    data = (count_run / "best.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupted"):
        ckpt.load_checkpoint(str(tmp_path / "cut.pt"))
    state = ckpt.load_checkpoint(str(count_run / "best.pt"))
    with pytest.raises(CheckpointError, match="task 'count', not 'action'"):
        ckpt.check_compatible(state, "best.pt", task="action")
    with pytest.raises(CheckpointError, match="question vocabulary"):
        ckpt.check_compatible(
            state, "best.pt", vocab={"question": {"itos": ["<pad>", "<unk>", "x"]}}
        )


def test_existing_run_is_not_overwritten_without_flag(count_run, tgif_data, capsys):
    before = (count_run / "metrics.json").read_bytes()
    with pytest.raises(ConfigError, match="holds a previous run"):
        train(tiny_args(tgif_data, count_run, task="count"))
    one_error_line(capsys, ["train", *cli_flags(tgif_data, count_run, task="count")], "--overwrite")
    assert (count_run / "metrics.json").read_bytes() == before
    train(tiny_args(tgif_data, count_run, task="count", overwrite=True, seed=3))
    assert len((count_run / "log.jsonl").read_text().splitlines()) == 1  # replaced, not appended
    assert json.loads((count_run / "metrics.json").read_text())["seed"] == 3


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    ckpt.save_checkpoint({"model_state": {"w": torch.ones(3)}, "epoch": 1}, str(path))
    good = path.read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint({"model_state": {"w": torch.zeros(3)}, "epoch": 2}, str(path))
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["last.pt"]  # no temporary file left behind


def test_nan_loss_stops_with_epoch_and_step(tgif_data, tmp_path, monkeypatch, capsys):
    calls = {"n": 0}
    loss = MSPAN.loss

    def poisoned(self, y, answer):
        value = loss(self, y, answer)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 3:  # 29 questions / batch 16 = 2 steps per epoch: epoch 2, step 3
                return value * float("nan")
        return value

    monkeypatch.setattr(MSPAN, "loss", poisoned)
    args = tiny_args(tgif_data, tmp_path, task="frameqa", epochs=3)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2, step 3"):
        train(args)
    state = ckpt.load_checkpoint(str(tmp_path / "last.pt"))  # the good one from epoch 1
    assert state["epoch"] == 1 and state["step"] == 2
    assert all(torch.isfinite(v).all() for v in state["model_state"].values())
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / "metrics.json").exists()

    calls["n"] = 0  # the same through the command line: one readable line, status 2
    one_error_line(
        capsys,
        ["train", *cli_flags(tgif_data, tmp_path / "cli", task="frameqa", epochs=3)],
        "epoch 2, step 3",
    )
