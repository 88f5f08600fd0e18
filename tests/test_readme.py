"""README's Python examples run as written, and its commands are the ones CI runs."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()
CODE_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


@pytest.mark.parametrize("index", range(len(CODE_BLOCKS)))
def test_readme_python_example_runs(index):
    exec(compile(CODE_BLOCKS[index], f"README.md[python block {index}]", "exec"), {})


def test_readme_has_both_commands_and_ci_runs_the_test_command():
    commands = dict(re.findall(r"<!-- (main|test)-command -->\n```bash\n(.*?)\n```", README))
    assert "examples/tgif_qa.py" in commands["main"]
    assert "pytest" in commands["test"]
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "test-command" in ci  # .ci/run extracts and runs README's test command
