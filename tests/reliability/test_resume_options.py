"""``--resume`` (issue 14): a resumed run takes its options from the checkpoint; an option given
that contradicts it is one ``error:`` line naming both values, and the run is left as it was."""

import json
import shutil

import pytest
from conftest import TINY

from mspan_pyg.cli.main import build_parser
from mspan_pyg.training.checkpoint import load_checkpoint


def tiny_without(*flags):
    """TINY without ``flags`` (and their values)."""
    out, skip = [], False
    for i, a in enumerate(TINY):
        if skip:
            skip = False
            continue
        if a in flags:
            skip = i + 1 < len(TINY) and not TINY[i + 1].startswith("--")
            continue
        out.append(a)
    return out


#: the options of the run below (tiny model, some non-default values)
OPTIONS = [
    *tiny_without("--epochs", "--no-progress"),
    "--epochs",
    "2",
    "--structure",
    "dense",
    "--seed",
    "3",
    "--pool",
    "mean",
]


@pytest.fixture(scope="module")
def two_epoch_run(tgif, tmp_path_factory):
    """A finished 2-epoch tiny count run with :data:`OPTIONS`."""
    from mspan_pyg.cli.main import main

    out = tmp_path_factory.mktemp("resume_run")
    argv = ["train", "--task", "count", "--data-dir", tgif["data_dir"]]
    argv += ["--features", tgif["features"], "--out", out, "--no-progress", *OPTIONS]
    assert main([str(a) for a in argv]) == 0
    return out


@pytest.fixture
def run(two_epoch_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(two_epoch_run, out)
    return out


def resume(tgif, out, *extra):
    """``train --resume`` giving only the data, the folder and ``extra``."""
    return [
        "train",
        "--task",
        "count",
        "--data-dir",
        tgif["data_dir"],
        "--features",
        tgif["features"],
        "--out",
        out,
        "--resume",
        "--no-progress",
        *extra,
    ]


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--num-scales", "3"], ["--num-scales 3", "--num-scales 2"]),
        (["--num-iterations", "2"], ["--num-iterations 2", "--num-iterations 1"]),
        (["--question-only"], ["--question-only True", "--question-only False"]),
        (["--num-frames", "4"], ["--num-frames 4", "--num-frames not set"]),
        (["--seed", "0"], ["--seed 0", "--seed 3"]),
        (["--structure", "full"], ["--structure full", "--structure dense"]),
        (["--lr", "0.5"], ["--lr 0.5", "--lr 0.001"]),
        (["--epochs", "1"], ["--epochs 1", "2 epochs"]),
    ],
)
def test_a_contradicting_option_is_an_error(run, tgif, cli, extra, named):
    """The run's own options, then one changed (the later value of a flag wins); the weight
    shapes still fit, which is why these used to be accepted."""
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    argv = resume(tgif, run, *OPTIONS, "--epochs", "3", *extra)
    cli.error(argv, str(run / "last.pt"), *named)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_options_come_from_the_checkpoint(run, tgif, cli):
    """Only the data, the folder and the epochs to extend to: the rest is the checkpoint's
    (it used to take the paper preset's model, which does not fit)."""
    status, _, err = cli.run(resume(tgif, run, "--epochs", "3"))
    assert status == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["seed"] == 3
    assert metrics["model_config"]["structure"] == "dense"
    assert metrics["model_config"]["pool"] == "mean"
    args = load_checkpoint(str(run / "last.pt"))["args"]
    assert args["structure"] == "dense" and args["seed"] == 3 and args["epochs"] == 3


def test_the_same_options_again_and_the_changeable_ones_are_accepted(run, tgif, cli):
    extra = ["--epochs", "3", "--num-workers", "0", "--device", "cpu"]
    status, _, err = cli.run(resume(tgif, run, *OPTIONS, *extra))
    assert status == 0, err
    assert load_checkpoint(str(run / "last.pt"))["epoch"] == 3


def test_help_lists_the_options_that_may_change_on_resume():
    text = " ".join(
        build_parser()._subparsers._group_actions[0].choices["train"].format_help().split()
    )
    start = text.index("--resume continue")  # its help, not the usage line
    said = text[start : start + 400]
    for flag in ("--epochs", "--device", "--num-workers", "--no-progress"):
        assert flag in said, said
