"""A tiny model trained on features extracted from rendered videos, for the demo tests.

The demo needs the ``demo`` extra (Gradio) and the ``video`` extra (PyAV, torchvision): without
them these tests are skipped, except under CI (``CI`` set), where that is an error.
"""

import importlib.util
import os

import pytest

_missing = [m for m in ("gradio", "av", "torchvision") if importlib.util.find_spec(m) is None]
if _missing:
    if os.environ.get("CI"):
        raise ImportError(f"the demo tests need {', '.join(_missing)}: pip install -e '.[demo]'")
    pytest.skip(f"needs the demo extra ({', '.join(_missing)})", allow_module_level=True)


@pytest.fixture(scope="session")
def tiny_video_model(tmp_path_factory):
    """``(checkpoint, videos folder)``: 12 rendered MP4s, pixel features, one epoch."""
    from mspan_pyg.testing.video_run import train_tiny_video_model

    ckpt, paths = train_tiny_video_model(tmp_path_factory.mktemp("demo"), tensorboard="off")
    return ckpt, paths["videos"]
