"""README's Python examples run as written, its commands are the ones CI runs and parse with the
real command line, and its layout table names folders that exist."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
CODE_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
COMMANDS = dict(re.findall(r"<!-- (main|test)-command -->\n```bash\n(.*?)\n```", README))


@pytest.mark.parametrize("index", range(len(CODE_BLOCKS)))
def test_readme_python_example_runs(index):
    exec(compile(CODE_BLOCKS[index], f"README.md[python block {index}]", "exec"), {})


def test_ci_runs_exactly_the_readme_test_command():
    printed = subprocess.run(
        ["bash", str(ROOT / ".ci" / "run"), "--print-test-command"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == COMMANDS["test"]
    # the dev extra brings ruff for CI; the video extra makes the extraction tests run there,
    # clip and torchcodec the CLIP and decoder tests, hub, tensorboard and demo the tests of
    # save_pretrained, the event files and the demo page
    extras = '".[dev,video,clip,torchcodec,hub,tensorboard,demo]"'
    assert extras in printed and "pytest" in printed


def test_readme_main_command_parses_with_the_real_flags():
    from mspan_pyg.cli.main import build_parser

    last = COMMANDS["main"].split("&&")[-1]
    argv = shlex.split(last)
    assert argv[:2] == ["python", "examples/tgif_qa.py"]
    ns = build_parser().parse_args(["train", "--dataset", "tgif", *argv[2:]])
    assert ns.out == "runs/builtin" and ns.data_dir is None  # the built-in data


def test_layout_table_names_existing_paths():
    layout = README.split("## Layout", 1)[1]
    paths = re.findall(r"^\| `([^`]+)` \|", layout, flags=re.M)
    assert len(paths) >= 10
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert not missing, missing
