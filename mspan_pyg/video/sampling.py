"""Which frames of a video are decoded: the paper's N uniform frames with a motion snippet
centred on each, and HCRN's clips of consecutive frames.

Where the N frames of the ``mspan`` layout come from (``--sampling``):

- ``uniform``: the centres of N equal segments (the paper's and HCRN's rule);
- ``fps``: a frame every ``1 / fps`` seconds of the video's own timestamps, at most N of them
  (more are thinned uniformly, fewer padded by repeating the ends), as CLIP-feature releases
  sample (NExT-GQA: 6 fps);
- ``random``: one frame drawn inside each of the N segments (TSN's segment sampling), seeded per
  video: several files written with different ``--sampling-seed`` are several augmented
  samplings of the same videos.

Every rule is a pure function of the number of frames ``F`` (and, for ``fps``, their
timestamps; for ``random``, the seed), so the frame indices stored as provenance
(``frame_rule``) reproduce the selection exactly (docs/video.md, "Sampling").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from mspan_pyg.errors import ConfigError

#: Frames per motion snippet: the 3D CNNs of the paper and HCRN see 16 consecutive frames.
SNIPPET_LENGTH = 16
#: ``--sampling`` rules of the mspan layout
SAMPLINGS = ("uniform", "fps", "random")


def uniform_indices(num_stored: int, num_frames: int) -> np.ndarray:
    """``num_frames`` indices spread uniformly over ``num_stored`` frames (the paper's rule).

    With ``F >= N`` frame ``i`` is the centre of the ``i``-th of ``N`` equal segments,
    ``floor((i + 0.5) F / N)``. A shorter video keeps all its frames and is padded by repeating
    its ends: ``(N - F) // 2`` copies of the first frame before, the rest copies of the last after.
    """
    if num_stored < 1 or num_frames < 1:
        raise ConfigError(
            f"need at least one stored and one wanted frame, got {num_stored}, {num_frames}"
        )
    if num_stored >= num_frames:
        return np.floor((np.arange(num_frames) + 0.5) * num_stored / num_frames).astype(np.int64)
    before = (num_frames - num_stored) // 2
    after = num_frames - num_stored - before
    return np.concatenate(
        [np.zeros(before, np.int64), np.arange(num_stored), np.full(after, num_stored - 1)]
    ).astype(np.int64)


def fps_indices(
    times: Optional[np.ndarray], num_stored: int, fps: float, num_frames: int
) -> np.ndarray:
    """``num_frames`` indices of the frames shown at ``0, 1/fps, 2/fps, ...`` seconds.

    A frame stands for the time from its timestamp to the next one's (the last one for the mean
    frame step), so a variable-delay GIF is sampled by time, not by frame. More than
    ``num_frames`` such frames are thinned uniformly, fewer are padded by repeating the ends (as
    :func:`uniform_indices` pads a short video). Without timestamps the frames are taken as
    evenly spaced at 25 fps.
    """
    if fps <= 0:
        raise ConfigError(f"--fps must be > 0, got {fps}")
    if times is None or len(times) != num_stored:
        times = np.arange(num_stored, dtype=np.float64) / 25.0
    step = float(np.mean(np.diff(times))) if num_stored > 1 else 1.0 / 25.0
    end = float(times[-1]) + step
    at = np.arange(0.0, end, 1.0 / fps)
    picked = np.clip(np.searchsorted(times, at, side="right") - 1, 0, num_stored - 1)
    return picked[uniform_indices(len(picked), num_frames)].astype(np.int64)


def segment_indices(num_stored: int, num_frames: int, seed: int) -> np.ndarray:
    """One frame drawn uniformly inside each of ``num_frames`` equal segments (a short video is
    padded as by :func:`uniform_indices`); the same ``seed`` gives the same frames."""
    if num_stored < num_frames:
        return uniform_indices(num_stored, num_frames)
    bounds = np.floor(np.arange(num_frames + 1) * num_stored / num_frames).astype(np.int64)
    rng = np.random.default_rng(seed)
    return (bounds[:-1] + np.floor(rng.random(num_frames) * np.diff(bounds))).astype(np.int64)


def snippet_indices(
    centres: np.ndarray, num_stored: int, length: int = SNIPPET_LENGTH
) -> np.ndarray:
    """``[len(centres), length]`` consecutive frames centred on each centre: frames
    ``c - length // 2 .. c + length - length // 2 - 1``, clamped to the video (ends repeated)."""
    offsets = np.arange(length) - length // 2
    return np.clip(np.asarray(centres)[:, None] + offsets[None, :], 0, num_stored - 1).astype(
        np.int64
    )


def hcrn_clip_indices(num_stored: int, num_clips: int = 8, clip_length: int = 16) -> np.ndarray:
    """``[num_clips, clip_length]`` frame indices of HCRN's clips, as its extraction script
    chose them: clip centres ``linspace(0, F, C + 2)[1:C + 1]`` (truncated to int), a window
    ``[c - L/2, c + L/2)`` whose start is clamped to 0 and whose end, past the video, becomes
    ``F - 1`` (exclusive, so the last frame only enters as padding); a clip touching the start is
    padded in front with its first frame, one touching the end at the back with frame ``F - 1``.
    """
    if num_stored < 1:
        raise ConfigError("a video needs at least one frame")
    out = np.empty((num_clips, clip_length), dtype=np.int64)
    centres = np.linspace(0, num_stored, num_clips + 2, dtype=np.int32)[1 : num_clips + 1]
    for k, c in enumerate(centres):  # C = 8 clips: a loop over clips, not frames
        start, end = int(c) - clip_length // 2, int(c) + clip_length // 2
        start = max(start, 0)
        if end > num_stored:
            end = num_stored - 1
        clip = list(range(start, end))
        if start == 0:
            clip = [start] * (clip_length - (end - start)) + clip
        if end == num_stored - 1:
            clip = clip + [end] * (clip_length - (end - start))
        if not clip:  # a one-frame video: HCRN's script would crash; repeat the frame
            clip = [0]
        clip = (clip + [clip[-1]] * clip_length)[:clip_length]
        out[k] = clip
    return out


@dataclass(frozen=True)
class SamplingPlan:
    """The frames one video needs.

    Attributes:
        appearance: ``[N]`` frame index per appearance feature (HCRN layout: ``[C * L]``).
        motion: ``[M, L]`` frames of each motion snippet (``M = N``; HCRN: ``C`` clips).
        needed: the sorted distinct frames, decoded once each.
    """

    appearance: np.ndarray
    motion: np.ndarray
    needed: np.ndarray

    def positions(self, indices: np.ndarray) -> np.ndarray:
        """Positions of frame ``indices`` in :attr:`needed`."""
        return np.searchsorted(self.needed, indices)


def plan(
    num_stored: int,
    layout: str = "mspan",
    num_frames: int = 16,
    snippet: int = SNIPPET_LENGTH,
    num_clips: int = 8,
    sampling: str = "uniform",
    fps: Optional[float] = None,
    times: Optional[np.ndarray] = None,
    seed: int = 0,
) -> SamplingPlan:
    """The :class:`SamplingPlan` of a video of ``num_stored`` frames.

    ``layout="mspan"``: ``num_frames`` frames by ``sampling`` (:func:`uniform_indices`,
    :func:`fps_indices` with ``fps`` and ``times``, or :func:`segment_indices` with ``seed``)
    with a :func:`snippet_indices` snippet on each; ``layout="hcrn"``:
    :func:`hcrn_clip_indices` (``num_clips`` x ``snippet``), every frame of every clip for
    appearance and one snippet per clip for motion.
    """
    if sampling not in SAMPLINGS:
        raise ConfigError(f"unknown --sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}")
    if layout == "hcrn" and sampling != "uniform":
        raise ConfigError("--preset hcrn uses HCRN's clip rule; --sampling needs --preset mspan")
    if layout == "mspan":
        if sampling == "fps":
            if fps is None:
                raise ConfigError("--sampling fps needs --fps F")
            app = fps_indices(times, num_stored, fps, num_frames)
        elif sampling == "random":
            app = segment_indices(num_stored, num_frames, seed)
        else:
            app = uniform_indices(num_stored, num_frames)
        mot = snippet_indices(app, num_stored, snippet)
    elif layout == "hcrn":
        mot = hcrn_clip_indices(num_stored, num_clips, snippet)
        app = mot.reshape(-1)
    else:
        raise ConfigError(f"unknown layout {layout!r}; valid layouts: mspan, hcrn")
    needed = np.unique(np.concatenate([app, mot.reshape(-1)]))
    return SamplingPlan(appearance=app, motion=mot, needed=needed)


def rule_text(
    layout: str,
    num_frames: int,
    snippet: int,
    num_clips: int,
    sampling: str = "uniform",
    fps: Optional[float] = None,
    seed: int = 0,
) -> str:
    """One line naming the rule, stored in the feature file's provenance."""
    if layout == "mspan":
        if sampling == "fps":
            frames = (
                f"{fps:g} fps by timestamps, at most N={num_frames} (thinned uniformly; fewer: "
                f"ends repeated)"
            )
        elif sampling == "random":
            frames = f"N={num_frames} frames, one drawn per segment, seed {seed} + crc32(file)"
        else:
            frames = f"N={num_frames} frames floor((i+0.5)F/N) (F<N: all frames, ends repeated)"
        return (
            f"mspan: {frames}; "
            f"motion snippet of {snippet} frames "
            f"c-{snippet // 2}..c+{snippet - snippet // 2 - 1} clamped"
        )
    return f"hcrn: {num_clips} clips x {snippet} consecutive frames (HCRN's clip rule)"


def shape_of(layout: str, num_frames: int, num_clips: int, snippet: int) -> Tuple[int, ...]:
    """Rows per video of the appearance array: ``(N,)`` or ``(C, L)``."""
    return (num_frames,) if layout == "mspan" else (num_clips, snippet)
