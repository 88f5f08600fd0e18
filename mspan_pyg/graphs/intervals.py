"""Clips as frame intervals, and edges between clips derived from their intervals.

A scale ``s`` with stride ``r`` has clips starting at frames ``0, r, 2r, ...``, each
covering ``s`` frames ``[j * r, j * r + s - 1]``. Every edge rule of the library is a
statement about two intervals, so it holds for any stride.
"""

from typing import List, Sequence, Tuple, Union

import torch
from torch import Tensor

from mspan_pyg.errors import ConfigError

ClipStride = Union[int, str, Sequence[int]]


def resolve_strides(num_scales: int, clip_stride: ClipStride) -> Tuple[int, ...]:
    r"""Turns ``clip_stride`` into one stride per scale.

    ``1`` (or any int) is the same stride for every scale, ``"scale"`` pools
    ``s`` frames with stride ``s`` at scale ``s`` (the paper's proposed dilated
    max-pools for long videos), a sequence gives the ``K`` strides explicitly.
    """
    if isinstance(clip_stride, str):
        if clip_stride != "scale":
            raise ConfigError(
                f"clip_stride must be an int, 'scale' or a list of {num_scales} "
                f"ints, got {clip_stride!r}"
            )
        strides = tuple(range(1, num_scales + 1))
    elif isinstance(clip_stride, int):
        strides = (clip_stride,) * num_scales
    else:
        strides = tuple(int(r) for r in clip_stride)
        if len(strides) != num_scales:
            raise ConfigError(f"clip_stride lists {len(strides)} strides for {num_scales} scales")
    if any(r < 1 for r in strides):
        raise ConfigError(f"clip strides must be >= 1, got {list(strides)}")
    return strides


def num_clips(length: Tensor, scale: int, stride: int) -> Tensor:
    """Number of clips of ``scale`` frames with ``stride`` that fit in ``length`` frames."""
    return torch.where(
        length >= scale,
        torch.div(length - scale, stride, rounding_mode='floor') + 1,
        torch.zeros_like(length),
    )


def interval_edges(
    num_src: int,
    size_src: int,
    stride_src: int,
    num_dst: int,
    size_dst: int,
    stride_dst: int,
    touch: bool = False,
    self_loops: bool = True,
) -> Tensor:
    r"""All pairs ``(x, y)`` of clips whose intervals share a frame (``touch=True``:
    share a frame or are adjacent), as an ``edge_index`` ``[2, E]`` sorted by ``x``.

    For source clip ``x = [a, b]`` the target clips that intersect ``[a - t, b + t]``
    (``t = 1`` when touching counts) are a contiguous range of ``j``, so the edges
    are produced by range arithmetic in ``O(E)``, not by comparing all pairs.
    """
    pad = 1 if touch else 0
    start = torch.arange(num_src) * stride_src
    lo = start - pad - (size_dst - 1)  # first dst start that still reaches a - pad
    first = torch.div(lo + stride_dst - 1, stride_dst, rounding_mode='floor').clamp(min=0)
    last = torch.div(start + size_src - 1 + pad, stride_dst, rounding_mode='floor')
    last = last.clamp(max=num_dst - 1)
    count = (last - first + 1).clamp(min=0)
    src = torch.repeat_interleave(torch.arange(num_src), count)
    offset = torch.arange(int(count.sum())) - torch.repeat_interleave(
        count.cumsum(0) - count, count
    )
    dst = torch.repeat_interleave(first, count) + offset
    edge_index = torch.stack([src, dst])
    if not self_loops:
        edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return edge_index


class ScaleTemplate:
    """Per-video edge templates for ``num_frames`` frames, ``K`` scales and strides.

    Depends only on ``(N, K, strides)``: built once and cached (see
    :func:`mspan_pyg.graphs.multiscale.device_template`). Clips of a video with
    ``L < N`` frames are a prefix of the full-length clips, so a shorter video uses the
    template edges whose endpoints both fall inside that prefix. A scale coarser than
    the video (``s > N``) has no clips.
    """

    def __init__(self, num_frames: int, strides: Tuple[int, ...]):
        self.num_frames = num_frames
        self.strides = strides
        self.num_scales = len(strides)
        full = torch.tensor([num_frames])
        self.num_clips: List[int] = [
            int(num_clips(full, s, r)) for s, r in zip(range(1, self.num_scales + 1), strides)
        ]
        # `near`: same-scale clips that overlap or touch, no self loop (GCN adds it).
        self.near = [
            interval_edges(m, s, r, m, s, r, touch=True, self_loops=False)
            for s, r, m in zip(self.scales, strides, self.num_clips)
        ]
        # `coarser`: scale s -> s + 1, clips sharing at least one frame.
        self.coarser = [
            interval_edges(
                self.num_clips[i], i + 1, strides[i], self.num_clips[i + 1], i + 2, strides[i + 1]
            )
            for i in range(self.num_scales - 1)
        ]

    @property
    def scales(self) -> range:
        return range(1, self.num_scales + 1)

    def interval(self, i: int) -> Tensor:
        """``[M_s, 2]`` first and last frame of each clip of scale index ``i``."""
        start = torch.arange(self.num_clips[i]) * self.strides[i]
        return torch.stack([start, start + i], dim=1)

    def pair(self, i: int, j: int) -> Tensor:
        """Clips of scale indices ``i`` and ``j`` sharing a frame (the ``dense`` structure)."""
        return interval_edges(
            self.num_clips[i],
            i + 1,
            self.strides[i],
            self.num_clips[j],
            j + 1,
            self.strides[j],
        )
