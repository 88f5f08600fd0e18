"""Batched multi-scale clip graphs (docs/graphs.md) and everything the model consumes from
them: per-scale edges, the edges between all scales of the ``dense`` structure and the
normalized GCN adjacency, each cached where it depends only on the batch's shape."""

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Batch, HeteroData
from torch_geometric.utils import cumsum

from mspan_pyg.errors import ConfigError, DataError
from mspan_pyg.graphs.intervals import ClipStride, ScaleTemplate, num_clips, resolve_strides
from mspan_pyg.nn.sparse import GCNAdjacency

POOLS = ("max", "mean")


def scale_name(i: int) -> str:
    """Node type of scale index ``i`` (scale ``i + 1``)."""
    return f"scale_{i + 1}"


@dataclass
class DeviceTemplate:
    """A :class:`ScaleTemplate`'s tensors on one device (cached, so a GPU step moves nothing)."""

    template: ScaleTemplate
    device: torch.device
    num_clips: List[int]
    near: List[Tensor]
    coarser: List[Tensor]
    interval: List[Tensor]
    _pairs: Dict[Tuple[int, int], Tensor] = field(default_factory=dict)

    def pair(self, i: int, j: int) -> Tensor:
        """Edges between scale indices ``i != j`` (built on first use: ``dense`` only)."""
        if (i, j) not in self._pairs:
            self._pairs[i, j] = self.template.pair(i, j).to(self.device)
        return self._pairs[i, j]


@lru_cache(maxsize=64)
def device_template(
    num_frames: int, strides: Tuple[int, ...], device: torch.device
) -> DeviceTemplate:
    """The one cache of edge templates, keyed on ``(N, strides, device)``."""
    template = ScaleTemplate(num_frames, strides)
    return DeviceTemplate(
        template=template,
        device=device,
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
    ``near_count[i]`` and ``coarser_count[i]`` hold the number of edges of each video
    (edges are stored video after video). ``num_frames`` is the padded length ``N``
    the clips were cut from and ``strides`` the stride of each scale.
    """

    x: List[Tensor]
    batch: List[Tensor]
    ptr: List[Tensor]
    interval: List[Tensor]
    near: List[Tensor]
    coarser: List[Tensor]
    num_graphs: int
    full_length: bool  # every video has all N frames: the batch is the template tiled B times
    num_frames: int
    strides: Tuple[int, ...]
    near_count: List[Tensor]
    coarser_count: List[Tensor]

    @property
    def num_scales(self) -> int:
        return len(self.x)

    @property
    def sizes(self) -> List[int]:
        """Nodes per scale (the scales laid out one after the other)."""
        return [x.size(0) for x in self.x]

    @property
    def offsets(self) -> List[int]:
        """First node of each scale when the scales are laid out one after the other."""
        offsets = [0]
        for size in self.sizes[:-1]:
            offsets.append(offsets[-1] + size)
        return offsets

    @torch.compiler.disable  # shape-keyed caches and CSR tensors: built eagerly
    def gcn_adjacency(
        self, dtype: torch.dtype = torch.float32, cached: bool = True
    ) -> GCNAdjacency:
        r"""GCNConv's normalized adjacency of the ``near`` graphs of all scales as one
        block-diagonal graph; for full-length batches it depends only on the shape and
        is cached (``cached=False`` builds it anew)."""
        if self.full_length and cached:
            return _full_length_adjacency(
                self.num_frames, self.strides, self.num_graphs, self.x[0].device, dtype
            )
        return _gcn_adjacency(self.near, self.sizes, dtype)

    @torch.compiler.disable
    def dense_edges(self) -> Tensor:
        """Edges between every two different scales whose clips share a frame, in the
        numbering of the scales laid out one after the other (the ``dense`` structure)."""
        template = device_template(self.num_frames, self.strides, self.x[0].device)
        counts = [p.diff() for p in self.ptr]
        offsets = self.offsets
        edges = []
        for i in range(self.num_scales):
            for j in range(self.num_scales):
                if i == j:
                    continue
                e, _ = tile_edges(
                    template.pair(i, j),
                    counts[i],
                    counts[j],
                    self.ptr[i],
                    self.ptr[j],
                    self.full_length,
                )
                edges.append(e + torch.tensor([[offsets[i]], [offsets[j]]], device=e.device))
        if not edges:
            return torch.empty(2, 0, dtype=torch.long, device=self.x[0].device)
        return torch.cat(edges, dim=1)

    def to_hetero_data(self) -> Batch:
        """The graphs as a PyG :class:`~torch_geometric.data.Batch` of
        :class:`~torch_geometric.data.HeteroData`, equal to collating the per-video
        graphs (``num_graphs``, ``to_data_list()`` and ``get_example()`` work)."""
        data = Batch(_base_cls=HeteroData)
        slices: Dict = {}
        incs: Dict = {}
        for i in range(self.num_scales):
            store = data[scale_name(i)]
            store.x = self.x[i]
            store.interval = self.interval[i]
            store.batch = self.batch[i]
            store.ptr = self.ptr[i]
            zeros = torch.zeros(self.num_graphs, dtype=torch.long, device=self.ptr[i].device)
            slices[scale_name(i)] = {"x": self.ptr[i], "interval": self.ptr[i]}
            incs[scale_name(i)] = {"x": zeros, "interval": zeros}
        for i in range(self.num_scales):
            self._add_edges(data, slices, incs, (i, "near", i), self.near[i], self.near_count[i])
        for i in range(self.num_scales - 1):
            edges, count = self.coarser[i], self.coarser_count[i]
            self._add_edges(data, slices, incs, (i, "coarser", i + 1), edges, count)
            self._add_edges(data, slices, incs, (i + 1, "finer", i), edges.flip(0), count)
        data._num_graphs = self.num_graphs
        data._slice_dict = slices
        data._inc_dict = incs
        return data

    def _add_edges(self, data, slices, incs, relation, edge_index, count) -> None:
        src, rel, dst = relation
        edge_type = (scale_name(src), rel, scale_name(dst))
        data[edge_type].edge_index = edge_index
        slices[edge_type] = {"edge_index": cumsum(count)}
        # Collation adds each video's first source and target node to its edges.
        offsets = torch.stack([self.ptr[src][:-1], self.ptr[dst][:-1]], dim=1)
        incs[edge_type] = {"edge_index": offsets.unsqueeze(-1)}

    @classmethod
    @torch.compiler.disable
    def from_hetero_data(
        cls, data: HeteroData, num_scales: int, clip_stride: ClipStride = 1
    ) -> "MultiScaleGraph":
        """Reads a graph of :func:`build_multiscale_graph` or a PyG batch of per-video
        graphs (:func:`build_video_graph`, collated by
        :class:`~torch_geometric.loader.DataLoader`), built with ``num_scales`` scales and
        ``clip_stride``."""
        names = [scale_name(i) for i in range(num_scales)]
        missing = [n for n in names if n not in data.node_types]
        extra = [t for t in data.node_types if t.startswith("scale_") and t not in names]
        if missing or extra:
            raise DataError(
                f"expected node types {names} (num_scales={num_scales}), "
                f"got {sorted(data.node_types)}"
            )
        strides = resolve_strides(num_scales, clip_stride)
        num_graphs = int(getattr(data, "num_graphs", 1) or 1)
        xs, batches, ptrs, intervals = [], [], [], []
        for i, name in enumerate(names):
            store = data[name]
            x = store.x
            batch = store.get("batch")
            if batch is None:
                batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
            ptr = store.get("ptr")
            if ptr is None:
                ptr = cumsum(torch.bincount(batch, minlength=num_graphs))
            interval = store.interval
            widths = interval[:, 1] - interval[:, 0]
            if bool((widths != i).any()):
                raise DataError(
                    f"{name}: every clip must span {i + 1} frames (interval[:, 1] - "
                    f"interval[:, 0] == {i}); got widths {sorted(set(widths.tolist()))}"
                )
            xs.append(x)
            batches.append(batch)
            ptrs.append(ptr)
            intervals.append(interval)
        ends = [iv[:, 1].max() for iv in intervals if iv.numel()]
        num_frames = int(torch.stack(ends).max()) + 1 if ends else 0

        def edges(i: int, rel: str, j: int) -> Tensor:
            edge_type = (names[i], rel, names[j])
            if edge_type not in data.edge_types:
                return torch.empty(2, 0, dtype=torch.long, device=xs[0].device)
            return data[edge_type].edge_index

        near = [edges(i, "near", i) for i in range(num_scales)]
        coarser = [edges(i, "coarser", i + 1) for i in range(num_scales - 1)]
        return cls(
            xs,
            batches,
            ptrs,
            intervals,
            near,
            coarser,
            num_graphs,
            full_length=False,  # nothing is known about the lengths: no shape-keyed cache
            num_frames=num_frames,
            strides=strides,
            near_count=[
                torch.bincount(batches[i][e[0]], minlength=num_graphs) for i, e in enumerate(near)
            ],
            coarser_count=[
                torch.bincount(batches[i][e[0]], minlength=num_graphs)
                for i, e in enumerate(coarser)
            ],
        )


def _gcn_adjacency(near: List[Tensor], sizes: List[int], dtype: torch.dtype) -> GCNAdjacency:
    offset, shifted = 0, []
    for edge_index, size in zip(near, sizes):
        shifted.append(edge_index + offset)
        offset += size
    return GCNAdjacency(torch.cat(shifted, dim=1), offset, dtype)


@lru_cache(maxsize=16)
def _full_length_adjacency(
    num_frames: int,
    strides: Tuple[int, ...],
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> GCNAdjacency:
    graph = multiscale_graph(
        torch.zeros(batch_size, num_frames, 1, device=device), len(strides), clip_stride=strides
    )
    return _gcn_adjacency(graph.near, graph.sizes, dtype)


def tile_edges(
    edge_index: Tensor,
    num_src: Tensor,
    num_dst: Tensor,
    ptr_src: Tensor,
    ptr_dst: Tensor,
    full_length: bool,
) -> Tensor:
    """Repeats one video's edge template for every video of a batch, offsetting node
    ids by each video's first node; edges to clips a short video lacks are dropped.
    Returns the edges (video after video) and the number of edges of each video."""
    num_videos = ptr_src.numel() - 1
    if full_length:
        offsets = torch.stack([ptr_src[:-1], ptr_dst[:-1]], dim=0)  # [2, B]
        count = torch.full((num_videos,), edge_index.size(1), device=edge_index.device)
        return (edge_index.unsqueeze(1) + offsets.unsqueeze(2)).reshape(2, -1), count
    keep = (edge_index[0].unsqueeze(0) < num_src.unsqueeze(1)) & (
        edge_index[1].unsqueeze(0) < num_dst.unsqueeze(1)
    )  # [B, E]
    video, edge = keep.nonzero(as_tuple=True)
    edges = torch.stack(
        [edge_index[0, edge] + ptr_src[video], edge_index[1, edge] + ptr_dst[video]]
    )
    return edges, keep.sum(dim=1)


# Graph construction depends on the lengths (data-dependent sizes) and on cached
# templates: under torch.compile it runs eagerly and the model's computation is compiled.
@torch.compiler.disable
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
    batch_size, num_frames, dim = frames.shape
    if num_scales < 1:
        raise ConfigError(f"num_scales must be >= 1, got {num_scales}")
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
        full = template.num_clips[i]
        if full:
            windows = frames.unfold(1, scale, stride)  # [B, M, D, s], a view
            pooled = windows.amax(-1) if pool == "max" else windows.mean(-1)
        else:  # a scale coarser than the video: no clips
            pooled = frames.new_empty(batch_size, 0, dim)
        if full_length:
            count = torch.full((batch_size,), full, dtype=torch.long, device=device)
            xs.append(pooled.reshape(batch_size * full, dim))
            intervals.append(template.interval[i].repeat(batch_size, 1))
        else:
            count = num_clips(lengths, scale, stride)
            present = torch.arange(full, device=device).unsqueeze(0) < count.unsqueeze(1)
            xs.append(pooled[present])
            intervals.append(template.interval[i].unsqueeze(0).expand(batch_size, -1, -1)[present])
        counts.append(count)
        ptrs.append(cumsum(count))
        batches.append(video.repeat_interleave(count, output_size=xs[-1].size(0)))

    near, near_count = zip(
        *[
            tile_edges(template.near[i], counts[i], counts[i], ptrs[i], ptrs[i], full_length)
            for i in range(num_scales)
        ]
    )
    coarser_pairs = [
        tile_edges(template.coarser[i], counts[i], counts[i + 1], ptrs[i], ptrs[i + 1], full_length)
        for i in range(num_scales - 1)
    ]
    coarser = [e for e, _ in coarser_pairs]
    coarser_count = [c for _, c in coarser_pairs]
    return MultiScaleGraph(
        xs,
        batches,
        ptrs,
        intervals,
        list(near),
        coarser,
        batch_size,
        full_length,
        num_frames=num_frames,
        strides=strides,
        near_count=list(near_count),
        coarser_count=coarser_count,
    )


def build_multiscale_graph(
    frames: Tensor,
    num_scales: int,
    lengths: Optional[Tensor] = None,
    pool: str = "max",
    clip_stride: ClipStride = 1,
) -> HeteroData:
    r"""Builds the multi-scale clip graphs of a batch of videos (docs/graphs.md).

    Scale :math:`s \in \{1, \dots, K\}` has one node per clip of :math:`s`
    consecutive frames, starting every ``stride`` frames; its feature is the max
    (or mean) of the frame features it covers. Clips of one scale are linked when
    their frame intervals overlap or touch (``near``), clips of scales :math:`s`
    and :math:`s + 1` when they share at least one frame (``coarser``, fine to
    coarse, and its reverse ``finer``). No edge crosses videos.

    Edge templates depend only on :math:`(N, K, \text{strides})` and are cached;
    batching is offset arithmetic. The result is a PyG
    :class:`~torch_geometric.data.Batch` equal to
    :meth:`~torch_geometric.data.Batch.from_data_list` of the per-video graphs
    (:func:`build_video_graph`), so ``num_graphs``, ``to_data_list()`` and
    ``get_example()`` work. A video shorter than a scale has no clips there (an
    empty node set), also when it is given alone with :math:`K > N`.

    Args:
        frames (torch.Tensor): Frame features :math:`[B, N, D]`.
        num_scales (int): Number of scales :math:`K \ge 1`.
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
        :class:`~torch_geometric.data.Batch` of
        :class:`~torch_geometric.data.HeteroData` with node types
        ``"scale_1"`` .. ``"scale_K"`` (``x``, ``batch``, ``ptr``, ``interval``:
        first and last frame of each clip within its own video) and edge types
        ``("scale_s", "near", "scale_s")``, ``("scale_s", "coarser",
        "scale_{s+1}")``, ``("scale_{s+1}", "finer", "scale_s")``.
    """
    return multiscale_graph(frames, num_scales, lengths, pool, clip_stride).to_hetero_data()


def build_video_graph(
    frames: Tensor, num_scales: int, pool: str = "max", clip_stride: ClipStride = 1
) -> HeteroData:
    r"""The multi-scale graph of one video with frame features ``[L, D]`` as a plain
    :class:`~torch_geometric.data.HeteroData` (no ``batch``/``ptr``), which PyG's
    :class:`~torch_geometric.data.Batch` and :class:`~torch_geometric.loader.DataLoader`
    collate; the arguments are those of :func:`build_multiscale_graph`."""
    if frames.dim() != 2:
        raise ConfigError(f"frames must be [L, D], got shape {list(frames.shape)}")
    return build_multiscale_graph(
        frames.unsqueeze(0), num_scales, None, pool, clip_stride
    ).get_example(0)
