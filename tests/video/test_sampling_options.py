"""``--sampling uniform|fps|random``: frames by timestamps (a variable-delay GIF is sampled by
time, not by frame), one random frame per segment (seeded), and the recorded rule."""

import json

import h5py
import numpy as np
import pytest

from mspan_pyg.cli.main import main
from mspan_pyg.errors import ConfigError
from mspan_pyg.video.extract import ExtractConfig
from mspan_pyg.video.sampling import fps_indices, plan, segment_indices, uniform_indices

GIF_TIMES = np.array([0.0, 0.1, 0.6, 0.63, 1.63])  # conftest.GIF_DELAYS in seconds


def test_fps_follows_the_timestamps_and_caps():
    # 2 fps: 0.0, 0.5, 1.0, 1.5, 2.0 s -> the frames shown then (the last one lasts ~0.41 s)
    assert fps_indices(GIF_TIMES, 5, 2.0, 5).tolist() == [0, 1, 3, 3, 4]
    assert fps_indices(GIF_TIMES, 5, 2.0, 3).tolist() == [0, 3, 4]  # capped: thinned uniformly
    assert fps_indices(GIF_TIMES, 5, 1.0, 4).tolist() == [0, 3, 4, 4]  # fewer: ends repeated
    # without timestamps: evenly spaced at 25 fps, so 5 fps takes every 5th frame
    assert fps_indices(None, 50, 5.0, 10).tolist() == list(range(0, 50, 5))


def test_random_segments_are_seeded_and_stay_in_their_segment():
    a = segment_indices(100, 8, seed=1)
    assert np.array_equal(a, segment_indices(100, 8, seed=1))
    assert not np.array_equal(a, segment_indices(100, 8, seed=2))
    bounds = np.floor(np.arange(9) * 100 / 8)
    assert ((a >= bounds[:-1]) & (a < bounds[1:])).all()
    assert np.array_equal(segment_indices(5, 8, 0), uniform_indices(5, 8))
    assert np.array_equal(plan(100, sampling="uniform").appearance, uniform_indices(100, 16))


def test_sampling_errors():
    with pytest.raises(ConfigError, match="--fps"):
        ExtractConfig(appearance="pixels", motion="pixels", sampling="fps").check()
    with pytest.raises(ConfigError, match="--sampling"):
        ExtractConfig(appearance="pixels", motion="pixels", sampling="dense").check()
    with pytest.raises(ConfigError, match="--preset mspan"):
        ExtractConfig(appearance="pixels", layout="hcrn", sampling="random").check()


def test_extract_fps_on_the_variable_delay_gif(good_videos, tmp_path):
    out = tmp_path / "f.h5"
    flags = ["extract-features", str(tmp_path / "list.txt"), "--out", str(out), "--appearance",
             "pixels", "--motion", "pixels", "--workers", "0", "--no-progress", "--num-frames",
             "5", "--snippet", "2"]  # fmt: skip
    (tmp_path / "list.txt").write_text(good_videos["gif"] + "\n")
    assert main([*flags, "--sampling", "fps", "--fps", "2"]) == 0
    with h5py.File(out, "r") as f:
        assert f["frame_indices"][0].tolist() == [0, 1, 3, 3, 4]
        record = json.loads(f.attrs["extraction"])
    assert (record["sampling"], record["fps"]) == ("fps", 2.0) and "2 fps" in record["frame_rule"]
    # a second sampling of the same videos cannot resume into this file
    assert main([*flags, "--sampling", "random", "--sampling-seed", "3"]) == 2
