"""Same seed -> identical results; a resumed run ends exactly where an uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from training_utils import REPO, cli_flags, subprocess_env, tiny_args

from mspan_pyg.errors import CheckpointError, ConfigError
from mspan_pyg.training.checkpoint import load_checkpoint
from mspan_pyg.training.runner import train

# dropout on, so that the torch RNG state matters for resumption
ARGS = dict(task="frameqa", dropout=0.1)


def weights(path):
    return load_checkpoint(str(path))["model_state"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def metrics(out):
    m = json.loads((out / "metrics.json").read_text())
    m.pop("checkpoint")
    return m


def log_without_time(out):
    rows = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("time_s")
        r.pop("samples_per_s")  # a speed: timing, like time_s
    return rows


@pytest.fixture(scope="module")
def straight(tgif_data, tmp_path_factory):
    """An uninterrupted 3-epoch run."""
    out = tmp_path_factory.mktemp("straight")
    train(tiny_args(tgif_data, out, epochs=3, **ARGS))
    return out


def test_same_seed_gives_identical_results(straight, tgif_data, tmp_path):
    train(tiny_args(tgif_data, tmp_path, epochs=3, **ARGS))
    assert metrics(tmp_path) == metrics(straight)
    assert log_without_time(tmp_path) == log_without_time(straight)
    assert same_weights(weights(tmp_path / "last.pt"), weights(straight / "last.pt"))
    other = tmp_path / "seed1"
    train(tiny_args(tgif_data, other, epochs=1, seed=1, **ARGS))
    assert not same_weights(weights(other / "last.pt"), weights(tmp_path / "last.pt"))


def test_resume_continues_where_it_left_off(straight, tgif_data, tmp_path):
    train(tiny_args(tgif_data, tmp_path, epochs=1, **ARGS))
    assert load_checkpoint(str(tmp_path / "last.pt"))["epoch"] == 1
    train(tiny_args(tgif_data, tmp_path, epochs=3, resume=True, **ARGS))
    state = load_checkpoint(str(tmp_path / "last.pt"))
    assert (
        state["epoch"] == 3 and state["step"] == load_checkpoint(str(straight / "last.pt"))["step"]
    )
    assert same_weights(state["model_state"], weights(straight / "last.pt"))
    assert metrics(tmp_path) == metrics(straight)
    assert log_without_time(tmp_path) == log_without_time(straight)


def test_resume_refuses_a_checkpoint_of_another_task_or_vocabulary(straight, tgif_data, tmp_path):
    train(tiny_args(tgif_data, tmp_path, epochs=1, **ARGS))
    with pytest.raises(CheckpointError, match="task 'frameqa', not 'count'"):
        train(tiny_args(tgif_data, tmp_path, epochs=2, resume=True, **dict(ARGS, task="count")))
    # another --limit would build another vocabulary: refused as a changed option first
    with pytest.raises(ConfigError, match="--limit 10 contradicts the checkpoint"):
        train(tiny_args(tgif_data, tmp_path, epochs=2, resume=True, limit=10, **ARGS))


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted(straight, tgif_data, tmp_path):
    """Kill a training process after its first checkpoint, resume it, compare with `straight`."""
    cmd = [
        sys.executable,
        os.path.join(REPO, "examples", "tgif_qa.py"),
        *cli_flags(tgif_data, tmp_path, epochs=3, **ARGS),
    ]
    proc = subprocess.Popen(
        cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    last = tmp_path / "last.pt"
    deadline = time.time() + 300
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists(), proc.stderr.read().decode()
    epoch = load_checkpoint(str(last))["epoch"]
    assert 1 <= epoch <= 3
    # without --resume the folder is protected
    refused = subprocess.run(cmd, env=subprocess_env(), capture_output=True, text=True)
    assert refused.returncode == 2 and "holds a previous run" in refused.stderr
    done = subprocess.run(cmd + ["--resume"], env=subprocess_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert metrics(tmp_path) == metrics(straight)
    assert same_weights(weights(tmp_path / "last.pt"), weights(straight / "last.pt"))
    assert same_weights(weights(tmp_path / "best.pt"), weights(straight / "best.pt"))
