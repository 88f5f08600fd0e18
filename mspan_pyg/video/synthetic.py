"""Tiny real video files made here: a PyAV writer and a renderer of coloured shapes.

Used by the tests (MP4, variable-delay GIF, rotated, grayscale, short and long videos), the
extraction benchmark and ``examples/learn_from_pixels.py``, whose questions are answerable
only from the pixels (docs/video.md, "Learns from pixels").
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import require

#: Named colours of the rendered shapes (RGB), far apart so small codecs keep them distinct.
COLOURS: Dict[str, Tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 60, 230),
    "yellow": (240, 220, 30),
    "magenta": (220, 40, 220),
    "cyan": (30, 220, 230),
}


def write_video(
    path: str,
    frames: np.ndarray,
    fps: int = 10,
    codec: Optional[str] = None,
    pix_fmt: Optional[str] = None,
    rotation: int = 0,
    delays_cs: Optional[Sequence[int]] = None,
) -> str:
    """Writes uint8 ``frames [T, H, W, 3]`` (or ``[T, H, W]`` gray) with PyAV.

    Args:
        path: ``.mp4``/``.avi``/``.mkv`` (codec ``mpeg4`` by default) or ``.gif``.
        fps: frame rate (ignored for a GIF given ``delays_cs``).
        codec, pix_fmt: override the encoder and its pixel format (e.g. ``ffv1`` + ``gray``).
        rotation: display rotation metadata, degrees counter-clockwise.
        delays_cs: a GIF's per-frame delays in 1/100 s (variable-delay GIFs).
    """
    av = require("av")
    frames = np.asarray(frames, dtype=np.uint8)
    gif = path.lower().endswith(".gif")
    codec = codec or ("gif" if gif else "mpeg4")
    pix_fmt = pix_fmt or ("rgb8" if gif else "yuv420p")
    H, W = frames.shape[1:3]
    with av.open(path, "w") as c:
        rate = 100 if gif else fps
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = W, H, pix_fmt
        if gif:
            s.time_base = Fraction(1, 100)
        if rotation:
            s.set_display_rotation(rotation)
        pts = 0
        in_fmt = "gray" if frames.ndim == 3 else "rgb24"
        for t, img in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format=in_fmt)
            if gif:
                f.pts, f.time_base = pts, Fraction(1, 100)
                pts += int(delays_cs[t]) if delays_cs is not None else max(1, 100 // fps)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _disc(size: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def render_shapes(
    events: List[tuple],
    num_frames: int,
    size: int = 64,
    background: Tuple[int, int, int] = (20, 20, 20),
) -> np.ndarray:
    """``[T, size, size, 3]`` frames of coloured discs.

    ``events``: ``(colour, first_frame, last_frame, start_yx, end_yx[, radius])``: a disc of that
    colour visible from ``first_frame`` to ``last_frame`` (inclusive), moving linearly from
    ``start_yx`` to ``end_yx`` (fractions of the frame side); ``radius`` is a fraction of the
    side (default 0.14).
    """
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    frames[:] = background
    for event in events:
        colour, a, b, (y0, x0), (y1, x1) = event[:5]
        r = size * (event[5] if len(event) > 5 else 0.14)
        for t in range(max(a, 0), min(b, num_frames - 1) + 1):
            u = 0.0 if b == a else (t - a) / (b - a)
            cy, cx = (y0 + u * (y1 - y0)) * size, (x0 + u * (x1 - x0)) * size
            frames[t][_disc(size, cy, cx, r)] = COLOURS[colour]
    return frames


def make_shape_videos(
    out_dir: str,
    num_videos: int,
    num_frames: int = 24,
    size: int = 48,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> Dict[str, str]:
    """Videos of a big and a small disc of different colours, appearing one after the other in
    random order and moving, with TGIF-QA FrameQA questions whose answer is only in the pixels:
    "what color is the big shape ?" / "what color is the small shape ?" (the question picks
    which frames matter; nothing in the text tells the colour).

    Writes ``out_dir/videos/vNNNN.mp4``, ``Train_frameqa_question.csv`` and
    ``Test_frameqa_question.csv``; returns their paths.
    """
    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    video_dir = os.path.join(out_dir, "videos")
    os.makedirs(video_dir, exist_ok=True)
    rows = {"train": [], "test": []}
    num_test = int(round(num_videos * test_fraction))
    half = num_frames // 2
    radius = {"big": 0.24, "small": 0.09}
    for v in range(num_videos):
        colours = dict(zip(("big", "small"), rng.choice(len(names), size=2, replace=False)))
        order = ["big", "small"] if rng.random() < 0.5 else ["small", "big"]
        spans = [(0, half - 2), (half + 1, num_frames - 1)]
        events = []
        for which, (a, b) in zip(order, spans):
            start, end = tuple(rng.uniform(0.3, 0.7, 2)), tuple(rng.uniform(0.3, 0.7, 2))
            events.append((names[colours[which]], a, b, start, end, radius[which]))
        frames = render_shapes(events, num_frames, size)
        vid = f"v{v:04d}"
        write_video(os.path.join(video_dir, vid + ".mp4"), frames, fps=8)
        split = "test" if v < num_test else "train"
        for k, which in enumerate(("big", "small")):
            # as in the release: vid_id names the question, key the video (shared)
            question = f"what color is the {which} shape ?"
            rows[split].append((vid, question, names[colours[which]], 2, f"FRAMEQA{2 * v + k}", v))
    paths = {"videos": video_dir}
    for split, records in rows.items():
        path = os.path.join(out_dir, f"{split.capitalize()}_frameqa_question.csv")
        with open(path, "w", encoding="utf-8") as f:
            f.write("gif_name\tquestion\tanswer\ttype\tvid_id\tkey\n")
            for r in records:
                f.write("\t".join(map(str, r)) + "\n")
        paths[split] = path
    return paths
