"""The optional extras stay optional: the core import pulls in neither Gradio nor tensorboard,
and a missing extra is one error line naming its install command."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_core_import_and_parser_do_not_import_gradio_or_tensorboard():
    done = _python(
        "import sys, mspan_pyg, mspan_pyg.training.runner\n"
        "from mspan_pyg.cli.main import build_parser\n"
        "ns = build_parser().parse_args(['demo', 'model'])\n"
        "print(ns.host, ns.port)\n"
        "print(sorted(m for m in ('gradio', 'tensorboard') if m in sys.modules))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["127.0.0.1 7860", "[]"]


def test_missing_demo_extra_names_the_install_command():
    done = _python(
        "import sys; sys.modules['gradio'] = None\n"
        "from mspan_pyg.cli.main import main\n"
        "sys.exit(main(['demo', 'model.pt']))\n"
    )
    assert done.returncode == 2
    assert done.stderr.strip() == 'error: the demo needs Gradio: pip install "mspan-pyg[demo]"'
