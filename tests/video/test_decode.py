import numpy as np
import pytest

from mspan_pyg.video.decode import VideoError, decode, probe
from mspan_pyg.video.sampling import plan


def _decode_all(path, num_frames=16, **kw):
    calls = []

    def convert(index, rgb):
        calls.append(index)
        return {"rgb": rgb}

    p, frames, info = decode(path, lambda n, t: plan(n, "mspan", num_frames, 4), convert, **kw)
    return p, frames, info, calls


def test_variable_delay_gif_counts_its_frames(good_videos, gif_delays):
    info = probe(good_videos["gif"])
    assert info.num_frames == len(gif_delays)  # not duration x rate
    p, frames, info, _ = _decode_all(good_videos["gif"], num_frames=5)
    values = [int(f["rgb"][0, 0, 0]) for f in frames]
    assert len(values) == 5 and values == sorted(values) and len(set(values)) == 5


def test_only_needed_frames_are_converted_and_decoding_stops(good_videos):
    p, frames, info, calls = _decode_all(good_videos["long"])
    assert info.num_frames == 300
    assert calls == p.needed.tolist()  # nothing else converted, each once
    # brightness 8 t + 8 identifies the frame (the codec is lossy: compare coarsely)
    got = np.array([float(f["rgb"].mean()) for f in frames])
    want = np.clip(8 * p.needed + 8, 0, 255)
    assert np.abs(got - want).max() < 6


def test_rotation_metadata_is_honoured(good_videos):
    _, frames, info, _ = _decode_all(good_videos["rotated"], num_frames=4)
    rgb = frames[0]["rgb"]
    assert info.rotation == 90
    assert rgb.shape == (32, 16, 3)  # 32 wide x 16 high stored, shown upright as 16 x 32
    # the stored white left edge ends up at the bottom after a counter-clockwise turn
    assert rgb[-4:].mean() > 200 and rgb[:20].mean() < 40


def test_grayscale_becomes_rgb(good_videos):
    _, frames, _, _ = _decode_all(good_videos["gray"], num_frames=4)
    rgb = frames[0]["rgb"]
    assert rgb.shape == (32, 32, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    assert rgb[0, 0, 0] < rgb[0, -1, 0]


def test_short_video_repeats_its_ends(good_videos):
    p, frames, info, _ = _decode_all(good_videos["short"], num_frames=8)
    assert info.num_frames == 3 and p.appearance.tolist() == [0, 0, 0, 1, 2, 2, 2, 2]


KINDS = [
    "zero_bytes",
    "truncated",
    "not_a_video",
    "no_video_stream",
    "one_frame",
    "huge",
    "bad_codec",
]


@pytest.mark.parametrize("kind", KINDS)
def test_each_bad_video_raises_its_reason(bad_videos, bad_reasons, kind):
    with pytest.raises(VideoError) as e:
        _decode_all(bad_videos[kind])
    assert bad_reasons[kind] in e.value.reason
    assert bad_videos[kind] in str(e.value)
