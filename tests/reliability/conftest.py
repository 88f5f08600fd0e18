"""Fixtures of the reliability tests (the data sets are in tests/conftest.py): a trained
checkpoint, and ``cli``, which runs ``mspan-pyg`` in-process and checks the one-line
``error: ...`` contract.

Set ``MSPAN_RELIABILITY_REPORT=FILE`` to collect every error line the tests saw into FILE
(one ``case<TAB>line`` per row) for release notes.
"""

import os
import shutil

import pytest

from mspan_pyg.cli.main import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: a model small enough for a one-epoch run in about a second on one core
TINY = [
    "--num-scales",
    "2",
    "--num-iterations",
    "1",
    "--visual-dim",
    "8",
    "--module-dim",
    "8",
    "--word-dim",
    "8",
    "--epochs",
    "1",
    "--batch-size",
    "8",
    "--lr",
    "1e-3",
    "--no-progress",
]
_SEEN = []


class Cli:
    """``mspan-pyg`` in-process with captured output."""

    def __init__(self, capsys, request):
        self.capsys = capsys
        self.case = request.node.name

    def run(self, argv):
        self.capsys.readouterr()
        status = main([str(a) for a in argv])
        out = self.capsys.readouterr()
        return status, out.out, out.err

    def error(self, argv, *expected, label=""):
        """Runs ``argv``; asserts status 2, exactly one ``error:`` line (the last line of
        stderr, after any progress notes), no traceback, and each ``expected`` substring."""
        status, _, err = self.run(argv)
        lines = err.strip().splitlines()
        errors = [l for l in lines if l.startswith("error:")]
        assert status == 2, (status, err)
        assert "Traceback" not in err, err
        assert len(errors) == 1 and lines[-1] == errors[0], lines
        for e in expected:
            assert e in errors[0], (e, errors[0])
        _SEEN.append((f"{self.case} {label}".strip(), errors[0]))
        return errors[0]

    def train(self, data, out, *extra, task="count"):
        """``train`` flags for tiny TGIF-QA (task given) or MSVD-QA (task None) runs."""
        dataset = ["--task", task] if task else ["--dataset", "msvd"]
        return [
            "train",
            *dataset,
            "--data-dir",
            data["data_dir"],
            "--features",
            data["features"],
            "--out",
            out,
            *TINY,
            *extra,
        ]


@pytest.fixture
def cli(capsys, request):
    return Cli(capsys, request)


@pytest.fixture(scope="session")
def count_checkpoint(tgif, tmp_path_factory):
    """``best.pt`` of a one-epoch tiny count run on ``tgif``."""
    out = tmp_path_factory.mktemp("count_run")
    assert (
        main(
            [
                "train",
                "--task",
                "count",
                "--data-dir",
                tgif["data_dir"],
                "--features",
                tgif["features"],
                "--out",
                str(out),
                *TINY,
            ]
        )
        == 0
    )
    return str(out / "best.pt")


def copy_data(data, dest):
    """Copy of the annotation files of ``data`` (not the features) in ``dest``."""
    shutil.copytree(data["data_dir"], dest, ignore=shutil.ignore_patterns("*.h5", "*.json.tmp"))
    return {"data_dir": str(dest), "features": data["features"]}


@pytest.fixture
def copy(tmp_path):
    return lambda data, name="data": copy_data(data, tmp_path / name)


def pytest_sessionfinish(session):
    path = os.environ.get("MSPAN_RELIABILITY_REPORT")
    if path and _SEEN:
        with open(path, "w") as f:
            for case, line in _SEEN:
                f.write(f"{case}\t{line}\n")
