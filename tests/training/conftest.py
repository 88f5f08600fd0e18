"""Fixtures of the training tests: tiny synthetic data sets (made once per session)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from training_utils import REPO  # noqa: E402

if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mspan_pyg.data.synthetic import make_synthetic_tgif, make_synthetic_videoqa  # noqa: E402


@pytest.fixture(scope="session")
def tgif_data(tmp_path_factory):
    d = make_synthetic_tgif(
        tmp_path_factory.mktemp("tgif"),
        num_videos=40,
        num_frames=16,
        appearance_dim=8,
        motion_dim=4,
        seed=0,
    )
    return {"data_dir": str(d["data_dir"]), "features": str(d["features"])}


@pytest.fixture(scope="session")
def msvd_data(tmp_path_factory):
    d = make_synthetic_videoqa(
        tmp_path_factory.mktemp("msvd"),
        num_videos=30,
        num_frames=16,
        appearance_dim=8,
        motion_dim=4,
        seed=0,
    )
    return {"data_dir": str(d["data_dir"]), "features": str(d["features"])}
