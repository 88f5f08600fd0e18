"""Decoding only the frames a :class:`~mspan_pyg.video.sampling.SamplingPlan` needs, with PyAV
(streaming) or torchcodec (``decoder="torchcodec"``: seeks to the needed frames; the
``torchcodec`` extra).

A video is read in two cheap passes: a demux-only pass counts its frames (packets; no pixel
is decoded, so a variable-delay GIF counts its frames, not ``duration x rate``) and a decode
pass converts the needed frames and stops after the last one. Only the converted (already
resized) frames are kept, so a long video never sits whole in memory. Frames are turned to
RGB whatever their pixel format (grayscale, palette, alpha composited over black) and turned
upright from the stream's rotation metadata.

torchcodec returns the same frames (upright, RGB; tests/video/test_decoders.py compares them on
MP4, rotated MP4, gray FFV1 and a variable-delay GIF). Both decoders share the PyAV demux pass,
so a bad video fails with the same reason whichever decodes it.

Every problem raises :class:`VideoError` with a short ``reason`` that the extraction writes to
its failures file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

import numpy as np

from mspan_pyg.errors import ConfigError, DataError

from . import require
from .sampling import SamplingPlan

#: Largest frame accepted by default (pixels): 4096 x 4096. Bigger frames would take gigabytes
#: per decoded snippet; ``--max-pixels`` raises the limit.
MAX_PIXELS = 4096 * 4096
#: A one-frame "video" is a still image: no motion, no temporal structure.
MIN_FRAMES = 2
#: ``--decoder`` values (``auto``, the default, picks torchcodec where it loads: measured faster,
#: docs/video.md)
DECODERS = ("pyav", "torchcodec")
TORCHCODEC_HINT = 'pip install "mspan-pyg[torchcodec]"'


class VideoError(DataError):
    """A video that cannot be used; ``reason`` is the one-line explanation."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class VideoInfo:
    """What the demux pass found: frame count, coded size, rotation and codec."""

    num_frames: int
    width: int
    height: int
    rotation: int
    codec: str
    #: presentation time (s) of each frame, sorted; ``None`` when the stream has no timestamps
    times: Optional[np.ndarray] = None


def _open(path: str):
    av = require("av")
    if not os.path.isfile(path):
        raise VideoError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(path)
    except av.error.FFmpegError as e:
        raise VideoError(path, f"not a readable video ({_short(e)})") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        if set(kinds) <= {"data", "attachment"}:  # e.g. an MP4 cut before its stream index
            found = ", ".join(kinds) or "nothing"
            raise VideoError(path, f"truncated or damaged: no stream could be read (found {found})")
        raise VideoError(path, f"no video stream (streams: {', '.join(kinds)})")
    return container


def _short(e: Exception) -> str:
    text = str(e).strip() or type(e).__name__
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text)  # FFmpeg's negative error numbers say nothing
    return text.split(": '")[0][:200]  # PyAV appends the file name


def probe(path: str, max_pixels: int = MAX_PIXELS) -> VideoInfo:
    """Frame count (demuxed packets), size, rotation and codec of the first video stream."""
    av = require("av")
    path = os.fspath(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx is None or ctx.codec is None:  # FFmpeg knows no decoder for the stream's tag
            raise VideoError(
                path, "unreadable codec: this FFmpeg has no decoder for its video stream"
            )
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        codec = ctx.name if ctx.codec is not None else "unknown"
        try:
            av.codec.Codec(codec, "r")
        except Exception:  # noqa: BLE001 - PyAV raises several kinds for an unknown codec
            raise VideoError(path, f"no decoder for the video codec {codec!r}") from None
        if width * height > max_pixels:
            raise VideoError(
                path,
                f"resolution {width}x{height} exceeds the limit of {max_pixels} pixels "
                "(--max-pixels)",
            )
        count = 0
        pts: List[Optional[int]] = []
        time_base = stream.time_base  # read while the container is open
        try:
            for packet in container.demux(stream):
                if packet.size:
                    count += 1
                    pts.append(packet.pts)
        except av.error.FFmpegError as e:
            if count == 0:
                raise VideoError(path, f"cannot read video packets ({_short(e)})") from None
            # a damaged tail: the decode pass finds out how many frames are usable
    finally:
        container.close()
    times = None
    if pts and all(p is not None for p in pts) and time_base:
        times = np.sort(np.asarray(pts, dtype=np.float64)) * float(time_base)
        times -= times[0]
    return VideoInfo(count, width, height, 0, codec, times)


def _times(info: VideoInfo, total: int) -> Optional[np.ndarray]:
    return None if info.times is None else info.times[:total]


def to_rgb(frame) -> np.ndarray:
    """``[H, W, 3]`` uint8 RGB of a PyAV frame, upright, alpha composited over black."""
    fmt = frame.format
    if fmt.has_palette or any(c.is_alpha for c in fmt.components):
        rgba = frame.to_ndarray(format="rgba").astype(np.uint16)
        rgb = (rgba[..., :3] * rgba[..., 3:] + 127) // 255
        rgb = rgb.astype(np.uint8)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    rotation = int(getattr(frame, "rotation", 0) or 0)
    if rotation % 90 == 0 and rotation % 360:
        rgb = np.rot90(rgb, k=rotation // 90)  # counter-clockwise, as PyAV reports it
    return np.ascontiguousarray(rgb)


def decode(
    path: str,
    make_plan: Callable[[int, Optional[np.ndarray]], SamplingPlan],
    convert: Callable[[int, np.ndarray], Dict[str, np.ndarray]],
    min_frames: int = MIN_FRAMES,
    max_pixels: int = MAX_PIXELS,
    decoder: str = "pyav",
):
    """Decodes the frames ``make_plan(num_frames, times)`` needs, each passed through
    ``convert`` (``times``: the frames' presentation times in seconds, or ``None``).

    Returns ``(plan, converted, info)``: ``converted[k]`` is ``convert(index, rgb)`` of frame
    ``index = plan.needed[k]``. When the decoder yields fewer frames than the demux pass counted (a
    damaged tail) the plan is redone for the frames that do decode. ``decoder``: ``"pyav"`` or
    ``"torchcodec"`` (the same frames).
    """
    if decoder not in DECODERS:
        raise ConfigError(f"unknown --decoder {decoder!r}; valid: {', '.join(DECODERS)}")
    av = require("av")
    path = os.fspath(path)
    info = probe(path, max_pixels)
    if decoder == "torchcodec":
        return _decode_torchcodec(path, info, make_plan, convert, min_frames)
    total = info.num_frames
    for _attempt in range(2):
        if total < min_frames:
            raise VideoError(
                path,
                f"only {total} frame{'s' if total != 1 else ''} (at least {min_frames} needed)",
            )
        the_plan = make_plan(total, _times(info, total))
        wanted = {int(i): k for k, i in enumerate(the_plan.needed)}
        last = int(the_plan.needed[-1])
        out: List[Optional[Dict[str, np.ndarray]]] = [None] * len(the_plan.needed)
        container = _open(path)
        rotation = 0
        seen = 0
        try:
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"  # frame threads would reorder work across workers
            try:
                for frame in container.decode(stream):
                    if seen in wanted:
                        rgb = to_rgb(frame)
                        rotation = int(getattr(frame, "rotation", 0) or 0)
                        out[wanted[seen]] = convert(seen, rgb)
                    seen += 1
                    if seen > last:
                        break
            except av.error.FFmpegError as e:
                if seen == 0:
                    raise VideoError(path, f"cannot decode any frame ({_short(e)})") from None
                raise VideoError(
                    path,
                    f"truncated or corrupt: decoding failed after frame {seen} of {total} "
                    f"({_short(e)})",
                ) from None
        finally:
            container.close()
        if seen > last:
            info = VideoInfo(total, info.width, info.height, rotation, info.codec, info.times)
            return the_plan, out, info
        if seen == 0:
            raise VideoError(path, f"cannot decode any frame of the {info.codec!r} stream")
        total = seen  # fewer decodable frames than packets: plan again on what decodes
    raise VideoError(path, f"the decoder's frame count keeps changing ({total})")


def require_torchcodec():
    """torchcodec's ``VideoDecoder``, or a :class:`ConfigError` naming the extra (torchcodec is
    missing, or its native library cannot load: it needs FFmpeg's shared libraries 4-8 and the
    torch version it was built for)."""
    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError as e:
        raise ConfigError(
            f"--decoder torchcodec needs the optional package 'torchcodec' ({e}); install the "
            f"extra: {TORCHCODEC_HINT}"
        ) from None
    except RuntimeError as e:  # the native core did not load
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"--decoder torchcodec: torchcodec is installed but cannot load ({first}); it needs "
            f"FFmpeg's shared libraries (e.g. apt-get install libavformat59 libavcodec59 "
            f"libavfilter8 libswscale6 libswresample4 libavdevice59) and the torch it was built "
            f"for; use --decoder pyav"
        ) from None
    return VideoDecoder


def torchcodec_loads() -> bool:
    """torchcodec is installed and its native library loads (``--decoder auto``)."""
    try:
        require_torchcodec()
    except ConfigError:
        return False
    return True


def _decode_torchcodec(path, info: VideoInfo, make_plan, convert, min_frames: int):
    """The torchcodec half of :func:`decode`: an exact-seek decoder fetches the planned frames."""
    VideoDecoder = require_torchcodec()
    try:
        video = VideoDecoder(path, seek_mode="exact", dimension_order="NHWC")
        total = len(video)  # exact mode scans the packets: a variable-delay GIF counts frames
    except RuntimeError as e:
        raise VideoError(path, f"cannot decode any frame ({_short(e)})") from None
    except Exception as e:  # noqa: BLE001 - torchcodec's native errors vary by version
        raise VideoError(path, f"cannot decode any frame ({_short(e)})") from None
    if total < min_frames:
        raise VideoError(
            path, f"only {total} frame{'s' if total != 1 else ''} (at least {min_frames} needed)"
        )
    the_plan = make_plan(total, _times(info, total))
    try:
        frames = video.get_frames_at([int(i) for i in the_plan.needed]).data.numpy()
    except Exception as e:  # noqa: BLE001
        raise VideoError(path, f"truncated or corrupt: decoding failed ({_short(e)})") from None
    out = [convert(int(i), np.ascontiguousarray(f)) for i, f in zip(the_plan.needed, frames)]
    rotation = int(getattr(video.metadata, "rotation", 0) or 0)
    info = VideoInfo(total, info.width, info.height, rotation, info.codec, info.times)
    return the_plan, out, info
