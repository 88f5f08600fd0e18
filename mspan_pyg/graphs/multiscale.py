"""Batched multi-scale clip graphs (DESIGN.md §1.2)."""

from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from mspan_pyg.errors import ConfigError
from mspan_pyg.graphs.intervals import ClipStride, ScaleTemplate, num_clips, resolve_strides

POOLS = ("max", "mean")


@dataclass
class DeviceTemplate:
    """A :class:`ScaleTemplate`'s tensors on one device (cached, so a GPU step moves nothing)."""

    num_clips: List[int]
    near: List[Tensor]
    coarser: List[Tensor]
    interval: List[Tensor]


@lru_cache(maxsize=64)
def device_template(
    num_frames: int, strides: Tuple[int, ...], device: torch.device
) -> DeviceTemplate:
    template = ScaleTemplate(num_frames, strides)
    return DeviceTemplate(
        num_clips=template.num_clips,
        near=[e.to(device) for e in template.near],
        coarser=[e.to(device) for e in template.coarser],
        interval=[template.interval(i).to(device) for i in range(template.num_scales)],
    )


@dataclass
class MultiScaleGraph:
    r"""The multi-scale graphs of a batch of videos, one list entry per scale.

    Node ``k`` of scale index ``i`` is clip ``interval[i][k]`` of video
    ``batch[i][k]``; ``ptr[i]`` delimits the videos. ``near[i]`` links clips of
    scale ``i + 1`` that overlap or touch, ``coarser[i]`` links scale ``i + 1``
    to scale ``i + 2`` where clips share a frame (``finer`` is its reverse).
    """

    x: List[Tensor]
    batch: List[Tensor]
    ptr: List[Tensor]
    interval: List[Tensor]
    near: List[Tensor]
    coarser: List[Tensor]
    num_graphs: int
    full_length: bool  # every video has all N frames: the batch is the template tiled B times

    @property
    def num_scales(self) -> int:
        return len(self.x)

    def to_hetero_data(self) -> HeteroData:
        data = HeteroData()
        for i in range(self.num_scales):
            store = data[f"scale_{i + 1}"]
            store.x = self.x[i]
            store.batch = self.batch[i]
            store.ptr = self.ptr[i]
            store.interval = self.interval[i]
            data[f"scale_{i + 1}", "near", f"scale_{i + 1}"].edge_index = self.near[i]
        for i in range(self.num_scales - 1):
            fine, coarse = f"scale_{i + 1}", f"scale_{i + 2}"
            data[fine, "coarser", coarse].edge_index = self.coarser[i]
            data[coarse, "finer", fine].edge_index = self.coarser[i].flip(0)
        return data


def tile_edges(
    edge_index: Tensor,
    num_src: Tensor,
    num_dst: Tensor,
    ptr_src: Tensor,
    ptr_dst: Tensor,
    full_length: bool,
) -> Tensor:
    """Repeats one video's edge template for every video of a batch, offsetting node
    ids by each video's first node; edges to clips a short video lacks are dropped."""
    if full_length:
        offsets = torch.stack([ptr_src[:-1], ptr_dst[:-1]], dim=0)  # [2, B]
        return (edge_index.unsqueeze(1) + offsets.unsqueeze(2)).reshape(2, -1)
    keep = (edge_index[0].unsqueeze(0) < num_src.unsqueeze(1)) & (
        edge_index[1].unsqueeze(0) < num_dst.unsqueeze(1)
    )  # [B, E]
    video, edge = keep.nonzero(as_tuple=True)
    return torch.stack([edge_index[0, edge] + ptr_src[video], edge_index[1, edge] + ptr_dst[video]])


def _pointer(counts: Tensor) -> Tensor:
    return torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def multiscale_graph(
    frames: Tensor,
    num_scales: int,
    lengths: Optional[Tensor] = None,
    pool: str = "max",
    clip_stride: ClipStride = 1,
) -> MultiScaleGraph:
    """Like :func:`build_multiscale_graph`, returning the light :class:`MultiScaleGraph`
    the model uses on its hot path."""
    if frames.dim() != 3:
        raise ConfigError(f"frames must be [B, N, D], got shape {list(frames.shape)}")
    batch_size, num_frames, _ = frames.shape
    if not 1 <= num_scales <= num_frames:
        raise ConfigError(f"num_scales must be in 1..N={num_frames}, got {num_scales}")
    if pool not in POOLS:
        raise ConfigError(f"pool must be one of {POOLS}, got {pool!r}")
    strides = resolve_strides(num_scales, clip_stride)
    device = frames.device
    template = device_template(num_frames, strides, device)

    full_length = lengths is None
    if lengths is not None:
        lengths = torch.as_tensor(lengths, device=device).long()
        if lengths.shape != (batch_size,):
            raise ConfigError(f"lengths must have shape [{batch_size}], got {list(lengths.shape)}")
        if bool(((lengths < 0) | (lengths > num_frames)).any()):
            raise ConfigError(f"lengths must lie in 0..{num_frames}, got {lengths.tolist()}")
        full_length = bool((lengths == num_frames).all())
    video = torch.arange(batch_size, device=device)

    xs, batches, ptrs, intervals, counts = [], [], [], [], []
    for i, (scale, stride) in enumerate(zip(range(1, num_scales + 1), strides)):
        windows = frames.unfold(1, scale, stride)  # [B, M, D, s], a view
        pooled = windows.amax(-1) if pool == "max" else windows.mean(-1)
        full = template.num_clips[i]
        if full_length:
            count = torch.full((batch_size,), full, dtype=torch.long, device=device)
            xs.append(pooled.reshape(batch_size * full, -1))
            intervals.append(template.interval[i].repeat(batch_size, 1))
        else:
            count = num_clips(lengths, scale, stride)
            present = torch.arange(full, device=device).unsqueeze(0) < count.unsqueeze(1)
            xs.append(pooled[present])
            intervals.append(template.interval[i].unsqueeze(0).expand(batch_size, -1, -1)[present])
        counts.append(count)
        ptrs.append(_pointer(count))
        batches.append(video.repeat_interleave(count, output_size=xs[-1].size(0)))

    near = [
        tile_edges(template.near[i], counts[i], counts[i], ptrs[i], ptrs[i], full_length)
        for i in range(num_scales)
    ]
    coarser = [
        tile_edges(template.coarser[i], counts[i], counts[i + 1], ptrs[i], ptrs[i + 1], full_length)
        for i in range(num_scales - 1)
    ]
    return MultiScaleGraph(xs, batches, ptrs, intervals, near, coarser, batch_size, full_length)


def build_multiscale_graph(
    frames: Tensor,
    num_scales: int,
    lengths: Optional[Tensor] = None,
    pool: str = "max",
    clip_stride: ClipStride = 1,
) -> HeteroData:
    r"""Builds the multi-scale clip graphs of a batch of videos (DESIGN.md §1.2).

    Scale :math:`s \in \{1, \dots, K\}` has one node per clip of :math:`s`
    consecutive frames, starting every ``stride`` frames; its feature is the max
    (or mean) of the frame features it covers. Clips of one scale are linked when
    their frame intervals overlap or touch (``near``), clips of scales :math:`s`
    and :math:`s + 1` when they share at least one frame (``coarser``, fine to
    coarse, and its reverse ``finer``). No edge crosses videos.

    Edge templates depend only on :math:`(N, K, \text{strides})` and are cached;
    batching is offset arithmetic. The result equals
    :meth:`~torch_geometric.data.Batch.from_data_list` of the per-video graphs.

    Args:
        frames (torch.Tensor): Frame features :math:`[B, N, D]`.
        num_scales (int): Number of scales :math:`K`, :math:`1 \le K \le N`.
        lengths (torch.Tensor, optional): Frames actually present per video
            :math:`[B]`; a video of :math:`L` frames has
            :math:`\lfloor (L - s) / r \rfloor + 1` clips at scale :math:`s`
            (none when :math:`L < s`). (default: :obj:`None`, all :math:`N`)
        pool (str, optional): ``"max"`` or ``"mean"`` pooling of a clip's
            frames. (default: ``"max"``)
        clip_stride (int or str or list, optional): ``1`` (the paper), ``"scale"``
            (scale :math:`s` pools :math:`s` frames with stride :math:`s`) or a
            list of :math:`K` strides. (default: :obj:`1`)

    Returns:
        :class:`~torch_geometric.data.HeteroData` with node types
        ``"scale_1"`` .. ``"scale_K"`` (``x``, ``batch``, ``ptr``, ``interval``:
        first and last frame of each clip within its own video) and edge types
        ``("scale_s", "near", "scale_s")``, ``("scale_s", "coarser",
        "scale_{s+1}")``, ``("scale_{s+1}", "finer", "scale_s")``.
    """
    return multiscale_graph(frames, num_scales, lengths, pool, clip_stride).to_hetero_data()
