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

TINY = dict(
    dataset="tgif", task="frameqa", epochs=1, batch_size=8, num_scales=2, num_iterations=1,
    visual_dim=16, module_dim=16, word_dim=8, question_layers=1, progress=False, overwrite=True,
    tensorboard="off",
)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_video_model(tmp_path_factory):
    """``(checkpoint, videos folder)``: 12 rendered MP4s, pixel features, one epoch."""
    from mspan_pyg.cli.main import main
    from mspan_pyg.training.runner import train
    from mspan_pyg.video.synthetic import make_shape_videos

    root = tmp_path_factory.mktemp("demo")
    paths = make_shape_videos(str(root / "data"), 12, num_frames=12, size=32)
    feats = str(root / "data" / "features.h5")
    argv = ["extract-features", paths["videos"], "--out", feats, "--appearance", "pixels",
            "--motion", "pixels", "--workers", "0", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    train(dict(TINY, data_dir=str(root / "data"), features=feats, out=str(root / "run")))
    return str(root / "run" / "best.pt"), paths["videos"]
