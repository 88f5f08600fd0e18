"""Settings and fixtures shared by every test folder: tiny synthetic data sets, made once per
session in the real on-disk formats."""

import pytest
import torch

from mspan_pyg.data.synthetic import make_synthetic_tgif, make_synthetic_videoqa

# Tests use tiny tensors: one thread avoids oversubscription on small shared machines.
torch.set_num_threads(1)


def tiny_data(factory, kind: str, num_videos: int, num_frames: int) -> dict:
    """``{"data_dir", "features"}`` of a tiny synthetic TGIF-QA (``kind="tgif"``, all four
    tasks) or MSVD-QA-style data set with 8-d appearance and 4-d motion features."""
    make = make_synthetic_tgif if kind == "tgif" else make_synthetic_videoqa
    d = make(
        factory.mktemp(kind),
        num_videos=num_videos,
        num_frames=num_frames,
        appearance_dim=8,
        motion_dim=4,
        seed=0,
    )
    return {"data_dir": str(d["data_dir"]), "features": str(d["features"])}


@pytest.fixture(scope="session")
def tgif_data(tmp_path_factory):
    """TGIF-QA, 40 videos per task of 16 frames (training tests)."""
    return tiny_data(tmp_path_factory, "tgif", 40, 16)


@pytest.fixture(scope="session")
def msvd_data(tmp_path_factory):
    """MSVD-QA style, 30 videos of 16 frames (training tests)."""
    return tiny_data(tmp_path_factory, "msvd", 30, 16)


@pytest.fixture(scope="session")
def tgif(tmp_path_factory):
    """TGIF-QA, 24 videos per task of 8 frames (the reliability tests' smallest runs)."""
    return tiny_data(tmp_path_factory, "tgif", 24, 8)


@pytest.fixture(scope="session")
def msvd(tmp_path_factory):
    """MSVD-QA style, 16 videos of 8 frames."""
    return tiny_data(tmp_path_factory, "msvd", 16, 8)
