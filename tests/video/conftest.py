"""Tiny videos written here with PyAV: good ones of every kind the issue lists, and bad ones.

The video tests need the ``video`` extra (PyAV + torchvision). Without it they are skipped,
except under CI (``CI`` set), where a missing extra is an error: they must run there.
"""

import importlib.util
import os

import numpy as np
import pytest

_missing = [m for m in ("av", "torchvision") if importlib.util.find_spec(m) is None]
if _missing:
    if os.environ.get("CI"):
        raise ImportError(f"the video tests need {', '.join(_missing)}: pip install -e '.[video]'")
    pytest.skip(f"needs the video extra ({', '.join(_missing)})", allow_module_level=True)

from mspan_pyg.video.synthetic import render_shapes, write_video  # noqa: E402

#: Per-frame delays (1/100 s) of the variable-delay GIF: 5 frames whatever the durations say.
GIF_DELAYS = [10, 50, 3, 100, 7]


def ramp(num_frames: int, size: int = 32) -> np.ndarray:
    """Frames whose brightness encodes their index (frame t has value 8 t + 8), to check
    which frames were decoded."""
    values = (8 * np.arange(num_frames) + 8).clip(0, 255).astype(np.uint8)
    return np.broadcast_to(values[:, None, None, None], (num_frames, size, size, 3)).copy()


def _audio_only(path):
    import av

    with av.open(path, "w", format="matroska") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        f = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        f.sample_rate, f.pts = 8000, 0
        for p in s.encode(f):
            c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="session")
def good_videos(tmp_path_factory):
    """``{name: path}`` of usable videos (MP4, variable-delay GIF, rotated, gray, short, long)."""
    d = tmp_path_factory.mktemp("good")
    v = {}
    v["mp4"] = write_video(str(d / "clip_mp4.mp4"), ramp(24), fps=10)
    gif_frames = np.stack([np.full((16, 16, 3), 40 * (i + 1), np.uint8) for i in range(5)])
    v["gif"] = write_video(str(d / "clip_gif.gif"), gif_frames, delays_cs=GIF_DELAYS)
    stripe = np.zeros((6, 16, 32, 3), np.uint8)
    stripe[:, :, :8] = 255  # white left edge of a 32 x 16 (w x h) frame
    v["rotated"] = write_video(str(d / "clip_rotated.mp4"), stripe, rotation=90)
    gray = np.broadcast_to(np.linspace(0, 255, 32, dtype=np.uint8)[None, None, :], (6, 32, 32))
    v["gray"] = write_video(str(d / "clip_gray.mkv"), gray.copy(), codec="ffv1", pix_fmt="gray")
    v["short"] = write_video(str(d / "clip_short.mp4"), ramp(3), fps=10)
    v["long"] = write_video(str(d / "clip_long.mp4"), ramp(300, 16), fps=30)
    events = [("red", 0, 9, (0.3, 0.3), (0.7, 0.7)), ("blue", 10, 19, (0.5, 0.2), (0.5, 0.8))]
    v["shapes"] = write_video(str(d / "clip_shapes.mp4"), render_shapes(events, 20, 32), fps=10)
    return v


#: Each bad video and the words its failure reason must contain.
BAD_REASONS = {
    "zero_bytes": "empty file",
    "truncated": "truncated",
    "not_a_video": "not a readable video",
    "no_video_stream": "no video stream",
    "one_frame": "only 1 frame",
    "huge": "exceeds the limit",
    "bad_codec": "unreadable codec",
}


@pytest.fixture(scope="session")
def bad_reasons():
    return dict(BAD_REASONS)


@pytest.fixture(scope="session")
def gif_delays():
    return list(GIF_DELAYS)


@pytest.fixture(scope="session")
def bad_videos(tmp_path_factory):
    """``{kind: path}`` of the bad videos of the issue."""
    d = tmp_path_factory.mktemp("bad")
    v = {}
    v["zero_bytes"] = str(d / "zero_bytes.mp4")
    open(v["zero_bytes"], "wb").close()
    good = write_video(str(d / "whole.mp4"), ramp(20), fps=10)
    data = open(good, "rb").read()
    os.remove(good)
    v["truncated"] = str(d / "truncated.mp4")
    open(v["truncated"], "wb").write(data[: len(data) // 2])  # the index (moov) is at the end
    v["not_a_video"] = str(d / "not_a_video.mp4")
    open(v["not_a_video"], "w").write("this is a text file, not a video\n" * 20)
    v["no_video_stream"] = str(d / "no_video_stream.mkv")
    _audio_only(v["no_video_stream"])
    v["one_frame"] = write_video(str(d / "one_frame.mp4"), ramp(1), fps=10)
    v["huge"] = write_video(str(d / "huge.mp4"), np.zeros((2, 4100, 4100, 3), np.uint8))
    avi = write_video(str(d / "tmp.avi"), ramp(4, 16), fps=10)
    raw = open(avi, "rb").read()
    os.remove(avi)
    v["bad_codec"] = str(d / "bad_codec.avi")
    open(v["bad_codec"], "wb").write(raw.replace(b"FMP4", b"QQQQ"))  # a FourCC nobody decodes
    return v
