"""Bad option values (issue 14): each is the same one-line ``error:`` as every other bad flag,
reported before any data is read, never a traceback and never silently replaced."""

import pytest
import torch
from conftest import TINY


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5"),
        (["--dropout", "-0.1"], "--dropout must be in [0, 1), got -0.1"),
        (["--dropout", "nan"], "--dropout must be in [0, 1), got nan"),
        (["--seed", str(2**64)], f"--seed must be in 0..{2**63 - 1}, got {2**64}"),
        (["--seed", "-1"], f"--seed must be in 0..{2**63 - 1}, got -1"),
        (["--num-workers", "-1"], "--num-workers must be >= 0, got -1"),
        (["--lr", "inf"], "--lr must be a finite number, got inf"),
        (["--lr", "nan"], "--lr must be a finite number, got nan"),
        (["--warmup-epochs", "nan"], "--warmup-epochs must be a finite number, got nan"),
        (["--grad-clip", "inf"], "--grad-clip must be a finite number, got inf"),
        (["--val-fraction", "nan"], "--val-fraction must be in (0, 1)"),
    ],
)
def test_bad_training_values(flags, expected, cli, tmp_path):
    """Nothing exists at --data-dir: the option must be the first thing found wrong."""
    argv = ["train", "--task", "count", "--data-dir", tmp_path / "none"]
    argv += ["--features", tmp_path / "none.h5", "--out", tmp_path / "out", *TINY, *flags]
    cli.error(argv, expected, label=flags[0])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_bad_jobs(jobs, cli, tmp_path):
    argv = ["train", "--task", "all", "--data-dir", tmp_path / "none"]
    argv += ["--features", tmp_path / "none.h5", "--out", tmp_path / "out", "--jobs", jobs]
    cli.error(argv, f"--jobs must be at least 1, got {jobs}", label=f"--jobs {jobs}")


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--batch-size", "-1"], "--batch-size must be at least 1, got -1"),
        (["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["--limit", "0"], "--limit must be at least 1, got 0"),
        (["--num-workers", "-1"], "--num-workers must be >= 0, got -1"),
    ],
)
def test_bad_evaluate_values(flags, expected, count_checkpoint, cli):
    cli.error(["evaluate", count_checkpoint, *flags], expected, label=f"evaluate {flags[0]}")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: s.update(task="dance"), "unknown TGIF-QA task 'dance'"),
        (lambda s: s["args"].update(task="dance"), "unknown TGIF-QA task 'dance'"),
        (lambda s: s["vocab"].update(question={"itos": 5}), "question vocabulary"),
        (lambda s: s["vocab"].update(question=["<pad>", "<unk>"]), "question vocabulary"),
        (lambda s: s.update(vocab=None), "vocabulary"),
        (lambda s: s.update(qtype_names=None), "question types"),
        (lambda s: s.update(args=[1, 2]), "options"),
    ],
)
def test_crafted_checkpoints(edit, expected, count_checkpoint, cli, tmp_path):
    state = torch.load(count_checkpoint, weights_only=True)
    state.pop("checksum", None)  # crafted by hand: no checksum, like a checkpoint of before
    edit(state)
    path = tmp_path / "crafted.pt"
    torch.save(state, path)
    line = cli.error(["evaluate", path], "crafted.pt", expected, label=expected)
    assert line.startswith("error: checkpoint "), line
