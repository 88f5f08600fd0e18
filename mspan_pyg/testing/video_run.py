"""A tiny model trained on features extracted from rendered videos: the fixture of the tests of
``answer``, the pretrained folder and the demo page (seconds on one core)."""

from pathlib import Path
from typing import Tuple

#: one epoch of a very small frameqa model
TINY_VIDEO_RUN = dict(
    dataset="tgif", task="frameqa", epochs=1, batch_size=8, num_scales=2, num_iterations=1,
    visual_dim=16, module_dim=16, word_dim=8, question_layers=1, progress=False, overwrite=True,
)  # fmt: skip


def train_tiny_video_model(root, **options) -> Tuple[str, dict]:
    """Renders 12 MP4s into ``root/data``, extracts pixel features and trains one epoch into
    ``root/run``; ``options`` override run options. Returns ``(best.pt, make_shape_videos's
    paths)``."""
    from mspan_pyg.cli.main import main
    from mspan_pyg.training.runner import train
    from mspan_pyg.video.synthetic import make_shape_videos

    root = Path(root)
    paths = make_shape_videos(str(root / "data"), 12, num_frames=12, size=32)
    feats = str(root / "data" / "features.h5")
    argv = ["extract-features", paths["videos"], "--out", feats, "--appearance", "pixels",
            "--motion", "pixels", "--workers", "0", "--no-progress"]  # fmt: skip
    if main(argv) != 0:
        raise RuntimeError(f"extract-features failed for {paths['videos']}")
    run = dict(TINY_VIDEO_RUN, data_dir=str(root / "data"), features=feats, out=str(root / "run"))
    run.update(options)
    train(run)
    return str(root / "run" / "best.pt"), paths
