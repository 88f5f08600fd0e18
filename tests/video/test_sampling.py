import numpy as np
import pytest

from mspan_pyg.errors import ConfigError
from mspan_pyg.video.sampling import hcrn_clip_indices, plan, snippet_indices, uniform_indices


@pytest.mark.parametrize("stored", [16, 17, 40, 301])
def test_uniform_indices_are_segment_centres(stored):
    got = uniform_indices(stored, 16)
    want = [int(np.floor((i + 0.5) * stored / 16)) for i in range(16)]
    assert got.tolist() == want


def test_short_video_is_padded_by_repeating_its_ends():
    assert uniform_indices(3, 8).tolist() == [0, 0, 0, 1, 2, 2, 2, 2]
    assert uniform_indices(1, 4).tolist() == [0, 0, 0, 0]
    with pytest.raises(ConfigError):
        uniform_indices(0, 4)


def test_snippets_are_centred_and_clamped():
    s = snippet_indices(np.array([0, 10, 19]), 20, 16)
    assert s[1].tolist() == list(range(2, 18))  # c - 8 .. c + 7
    assert s[0].tolist() == [0] * 9 + list(range(1, 8))
    assert s[2].tolist() == list(range(11, 20)) + [19] * 7


def test_hcrn_clips_follow_the_original_rule():
    c = hcrn_clip_indices(100, 8, 16)
    assert c.shape == (8, 16)
    # centres linspace(0, 100, 10)[1:9] = 11, 22, ..., 88; windows [c - 8, c + 8)
    assert c[0].tolist() == list(range(3, 19))
    assert c[7].tolist() == list(range(80, 96))
    short = hcrn_clip_indices(10, 8, 16)  # start clamped to 0 (front padded), end to F - 1
    assert short.shape == (8, 16) and short.min() >= 0 and short.max() <= 9
    # the script pads in front first and keeps 16 frames: a clip clamped at both ends never
    # reaches the last frame (its quirk, kept so old features are reproduced)
    assert short[-1].tolist() == [0] * 7 + list(range(9))


def test_plan_needs_each_frame_once():
    p = plan(40, "mspan", 16, 16)
    assert p.appearance.shape == (16,) and p.motion.shape == (16, 16)
    assert np.array_equal(p.needed, np.unique(p.motion))  # centres are inside their snippets
    assert np.array_equal(p.needed[p.positions(p.appearance)], p.appearance)
    h = plan(40, "hcrn", num_clips=8, snippet=16)
    assert h.appearance.shape == (128,) and h.motion.shape == (8, 16)
