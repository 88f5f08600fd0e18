"""The MSPAN model (DESIGN.md §1)."""

from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.nn import GCNConv

from mspan_pyg.errors import ConfigError
from mspan_pyg.graphs.intervals import interval_edges, resolve_strides, scale_template
from mspan_pyg.graphs.multiscale import MultiScaleGraph, multiscale_graph, tile_edges
from mspan_pyg.nn.cross_scale_attention import CrossScaleAttention
from mspan_pyg.nn.question_encoder import QuestionEncoder
from mspan_pyg.nn.readout import QuestionReadout
from mspan_pyg.nn.sparse import GCNAdjacency

TASKS = ("open", "count", "multichoice")
STRUCTURES = ("full", "top_down", "bottom_up", "dense")
COUNT_RANGE = (1.0, 10.0)


class SameScaleGCN(nn.Module):
    r"""Two :class:`~torch_geometric.nn.conv.GCNConv` layers with a ReLU between,
    run on the ``near`` graphs of all scales at once (the weights are shared by
    all scales, so the scales form one block-diagonal graph)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = GCNConv(channels, channels)
        self.conv2 = GCNConv(channels, channels)

    def reset_parameters(self):
        self.conv1.reset_parameters()
        self.conv2.reset_parameters()

    def forward(self, x: Tensor, edge_index: Union[Tensor, GCNAdjacency]) -> Tensor:
        """``edge_index``: the ``near`` edges, or their precomputed
        :class:`~mspan_pyg.nn.sparse.GCNAdjacency` (the same result, faster)."""
        if isinstance(edge_index, GCNAdjacency):
            return self._propagate(
                self.conv2, F.relu(self._propagate(self.conv1, x, edge_index)), edge_index
            )
        return self.conv2(F.relu(self.conv1(x, edge_index)), edge_index)

    @staticmethod
    def _propagate(conv: GCNConv, x: Tensor, adj: GCNAdjacency) -> Tensor:
        out = adj @ conv.lin(x)
        return out if conv.bias is None else out + conv.bias


class InteractionBlock(nn.Module):
    """The weights of one iteration: the GCN and one attention group per direction."""

    def __init__(
        self, channels: int, query_channels: int, structure: str, use_gcn: bool, scale_scores: bool
    ):
        super().__init__()
        self.gcn = SameScaleGCN(channels) if use_gcn else None

        def attention():
            return CrossScaleAttention(
                channels, query_channels, query_channels, scale_scores=scale_scores
            )

        self.top_down = attention() if structure in ("full", "top_down") else None
        self.bottom_up = attention() if structure in ("full", "bottom_up") else None
        self.dense = attention() if structure == "dense" else None


@lru_cache(maxsize=16)
def _full_length_adjacency(
    num_frames: int,
    strides: Tuple[int, ...],
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype,
) -> GCNAdjacency:
    """The GCN adjacency of a batch of full-length videos depends only on its shape."""
    graph = multiscale_graph(
        torch.zeros(batch_size, num_frames, 1, device=device),
        len(strides),
        clip_stride=list(strides),
    )
    return GCNAdjacency(
        _block_diagonal(graph.near, [x.size(0) for x in graph.x]),
        sum(x.size(0) for x in graph.x),
        dtype,
    )


def _block_diagonal(edges: List[Tensor], sizes: List[int]) -> Tensor:
    """One edge_index for graphs laid out one after the other."""
    offset, shifted = 0, []
    for e, size in zip(edges, sizes):
        shifted.append(e + offset)
        offset += size
    return torch.cat(shifted, dim=1)


@lru_cache(maxsize=64)
def _pair_templates(num_frames: int, strides: Tuple[int, ...], device: torch.device):
    """Edges between every two different scales whose clips share a frame (``dense``)."""
    template = scale_template(num_frames, strides)
    pairs = {}
    for i in range(len(strides)):
        for j in range(len(strides)):
            if i != j:
                pairs[i, j] = interval_edges(
                    template.num_clips[i],
                    i + 1,
                    strides[i],
                    template.num_clips[j],
                    j + 1,
                    strides[j],
                ).to(device)
    return pairs


class MSPAN(nn.Module):
    r"""Multi-Scale Progressive Attention Network for video question answering
    (Guo et al., ACL 2021).

    Frame features (appearance and motion) are projected to ``visual_dim`` and
    max-pooled into clips of :math:`1 \dots K` frames, one graph per scale. Each of
    :math:`T` iterations runs a two-layer GCN on every scale, then the
    question-conditioned :class:`CrossScaleAttention` from fine to coarse
    (top-down, :math:`s = 1 \rightarrow K`) and back (bottom-up), adding the
    original clip features as a residual. A question-guided read-out (eq. 11–13)
    fuses the read-out graph with the question for the answer head.

    Args:
        vocab_size (int): Question vocabulary size (index 0 is padding).
        task (str, optional): ``"open"`` (classification over ``num_answers``),
            ``"count"`` (regression) or ``"multichoice"`` (a score per
            candidate). (default: ``"open"``)
        num_answers (int, optional): Answer classes of the open task.
            (default: :obj:`None`)
        appearance_dim (int, optional): Appearance feature size. (default: :obj:`2048`)
        motion_dim (int, optional): Motion feature size, ``0`` for none.
            (default: :obj:`2048`)
        visual_dim (int, optional): Clip feature size :math:`D`. (default: :obj:`2048`)
        module_dim (int, optional): Question and attention size. (default: :obj:`512`)
        word_dim (int, optional): Word embedding size. (default: :obj:`300`)
        num_scales (int, optional): :math:`K`. (default: :obj:`8`)
        num_iterations (int, optional): :math:`T`. (default: :obj:`3`)
        structure (str, optional): ``"full"``, ``"top_down"``, ``"bottom_up"`` or
            ``"dense"`` (paper Table 4). (default: ``"full"``)
        pool (str, optional): ``"max"`` or ``"mean"`` clip pooling. (default: ``"max"``)
        clip_stride (int or str or list, optional): Clip strides per scale, see
            :func:`~mspan_pyg.build_multiscale_graph`. (default: :obj:`1`)
        gradient_checkpointing (bool, optional): Recompute each iteration in the
            backward pass to save memory. (default: :obj:`False`)
        dropout (float, optional): Dropout probability. (default: :obj:`0.1`)
        use_gcn (bool, optional): Run the same-scale GCN. (default: :obj:`True`)
        share_iterations (bool, optional): One group of weights for all
            iterations; otherwise one per iteration. (default: :obj:`True`)
        scale_scores (bool, optional): Divide attention scores by
            :math:`\sqrt{H}`. (default: :obj:`False`)
        question_layers (int, optional): BiLSTM layers. (default: :obj:`3`)
        glove (torch.Tensor, optional): Initial word embeddings
            ``[vocab_size, word_dim]``. (default: :obj:`None`)
    """

    def __init__(
        self,
        vocab_size: int,
        task: str = "open",
        num_answers: Optional[int] = None,
        appearance_dim: int = 2048,
        motion_dim: int = 2048,
        visual_dim: int = 2048,
        module_dim: int = 512,
        word_dim: int = 300,
        num_scales: int = 8,
        num_iterations: int = 3,
        structure: str = "full",
        pool: str = "max",
        clip_stride: Union[int, str, Sequence[int]] = 1,
        gradient_checkpointing: bool = False,
        dropout: float = 0.1,
        use_gcn: bool = True,
        share_iterations: bool = True,
        scale_scores: bool = False,
        question_layers: int = 3,
        glove: Optional[Tensor] = None,
    ):
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {task!r}")
        if structure not in STRUCTURES:
            raise ConfigError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        if task == "open" and not num_answers:
            raise ConfigError("task='open' needs num_answers")
        if num_scales < 1 or num_iterations < 0:
            raise ConfigError(
                f"need num_scales >= 1 and num_iterations >= 0, got "
                f"{num_scales} and {num_iterations}"
            )
        resolve_strides(num_scales, clip_stride)  # fail early on a bad value
        if isinstance(clip_stride, (list, tuple)):
            clip_stride = [int(r) for r in clip_stride]
        self.config: Dict[str, Any] = dict(
            vocab_size=vocab_size,
            task=task,
            num_answers=num_answers,
            appearance_dim=appearance_dim,
            motion_dim=motion_dim,
            visual_dim=visual_dim,
            module_dim=module_dim,
            word_dim=word_dim,
            num_scales=num_scales,
            num_iterations=num_iterations,
            structure=structure,
            pool=pool,
            clip_stride=clip_stride,
            gradient_checkpointing=gradient_checkpointing,
            dropout=dropout,
            use_gcn=use_gcn,
            share_iterations=share_iterations,
            scale_scores=scale_scores,
            question_layers=question_layers,
        )
        self.task, self.structure, self.pool = task, structure, pool
        self.num_scales, self.num_iterations = num_scales, num_iterations
        self.clip_stride = clip_stride
        self.gradient_checkpointing = gradient_checkpointing
        self.motion_dim = motion_dim

        self.question_encoder = QuestionEncoder(
            vocab_size, word_dim, module_dim, question_layers, dropout, glove
        )
        self.visual_proj = nn.Linear(appearance_dim + motion_dim, visual_dim)
        self.dropout = nn.Dropout(dropout)
        num_blocks = 1 if share_iterations else max(num_iterations, 1)
        self.blocks = nn.ModuleList(
            [
                InteractionBlock(visual_dim, module_dim, structure, use_gcn, scale_scores)
                for _ in range(num_blocks)
            ]
        )
        self.readout = QuestionReadout(visual_dim, module_dim)
        # Answer heads see the fused video vector next to the question; a candidate's score
        # also sees the read-out queried by that candidate and its encoding.
        head_in = module_dim * (4 if task == "multichoice" else 2)
        head_out = num_answers if task == "open" else 1
        self.head = nn.Sequential(
            nn.Linear(head_in, module_dim),
            nn.ELU(),
            nn.Dropout(dropout),
            nn.Linear(module_dim, head_out),
        )
        # Set to a list to collect (direction, iteration, source scale, target scale,
        # edge_index, alpha) of every cross-scale attention call (for explanations).
        self.attention_log: Optional[List[tuple]] = None

    def reset_parameters(self):
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    # ------------------------------------------------------------------ video
    def encode_frames(self, appearance: Tensor, motion: Optional[Tensor]) -> Tensor:
        if self.motion_dim:
            if motion is None:
                raise ConfigError("this model was built with motion_dim > 0 and needs motion")
            frames = torch.cat([appearance, motion], dim=-1)
        else:
            frames = appearance
        return self.dropout(F.elu(self.visual_proj(frames)))

    def build_graph(self, frames: Tensor, video_len: Optional[Tensor] = None) -> MultiScaleGraph:
        return multiscale_graph(frames, self.num_scales, video_len, self.pool, self.clip_stride)

    def _dense_edges(self, graph: MultiScaleGraph, offsets: List[int], num_frames: int) -> Tensor:
        strides = resolve_strides(self.num_scales, self.clip_stride)
        pairs = _pair_templates(num_frames, strides, graph.x[0].device)
        counts = [p.diff() for p in graph.ptr]
        edges = []
        for (i, j), template in pairs.items():
            e = tile_edges(
                template, counts[i], counts[j], graph.ptr[i], graph.ptr[j], graph.full_length
            )
            edges.append(e + torch.tensor([[offsets[i]], [offsets[j]]], device=e.device))
        return torch.cat(edges, dim=1)

    def _iteration(
        self,
        block: InteractionBlock,
        iteration: int,
        xs: List[Tensor],
        originals: List[Tensor],
        graph: MultiScaleGraph,
        query: Tensor,
        near: Tensor,
        dense: Optional[Tensor],
        sizes: List[int],
    ) -> List[Tensor]:
        xs = list(xs)
        if block.gcn is not None:
            xs = list(block.gcn(torch.cat(xs, dim=0), near).split(sizes))
        log = self.attention_log
        K = self.num_scales
        if block.top_down is not None:
            for i in range(K - 1):  # fine -> coarse, each update feeds the next pair
                out = block.top_down(
                    (xs[i], xs[i + 1]),
                    graph.coarser[i],
                    query,
                    graph.batch[i],
                    return_attention_weights=log is not None,
                )
                if log is not None:
                    out, (edge_index, alpha) = out
                    log.append(("top_down", iteration, i + 1, i + 2, edge_index, alpha.detach()))
                xs[i + 1] = out + originals[i + 1]
        if block.bottom_up is not None:
            for i in range(K - 1, 0, -1):  # coarse -> fine
                finer = graph.coarser[i - 1].flip(0)
                out = block.bottom_up(
                    (xs[i], xs[i - 1]),
                    finer,
                    query,
                    graph.batch[i],
                    return_attention_weights=log is not None,
                )
                if log is not None:
                    out, (edge_index, alpha) = out
                    log.append(("bottom_up", iteration, i + 1, i, edge_index, alpha.detach()))
                xs[i - 1] = out + originals[i - 1]
        if block.dense is not None:
            x_all = torch.cat(xs, dim=0)
            out = block.dense(
                x_all,
                dense,
                query,
                torch.cat(graph.batch),
                return_attention_weights=log is not None,
            )
            if log is not None:
                out, (edge_index, alpha) = out
                log.append(("dense", iteration, 0, 0, edge_index, alpha.detach()))
            xs = list((out + torch.cat(originals, dim=0)).split(sizes))
        return xs

    def encode_video(
        self,
        appearance: Tensor,
        motion: Optional[Tensor],
        query: Tensor,
        video_len: Optional[Tensor] = None,
    ) -> Tuple[Tensor, Tensor, MultiScaleGraph]:
        """Runs the multi-scale reasoning; returns the read-out nodes, their
        video index and the graph."""
        frames = self.encode_frames(appearance, motion)
        graph = self.build_graph(frames, video_len)
        sizes = [x.size(0) for x in graph.x]
        offsets = [0]
        for size in sizes[:-1]:
            offsets.append(offsets[-1] + size)
        near = None
        if self.config["use_gcn"]:  # normalized once per forward (cached for full length)
            dtype = (
                frames.dtype if frames.dtype in (torch.float32, torch.float64) else torch.float32
            )
            if graph.full_length:
                strides = resolve_strides(self.num_scales, self.clip_stride)
                near = _full_length_adjacency(
                    frames.size(1), strides, graph.num_graphs, frames.device, dtype
                )
            else:
                near = GCNAdjacency(_block_diagonal(graph.near, sizes), sum(sizes), dtype)
        dense = (
            self._dense_edges(graph, offsets, frames.size(1)) if self.structure == "dense" else None
        )
        originals = graph.x
        xs = list(graph.x)
        for t in range(self.num_iterations):
            block = self.blocks[0 if len(self.blocks) == 1 else t]
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():

                def run(*inputs, block=block, t=t):
                    return tuple(
                        self._iteration(
                            block, t, list(inputs), originals, graph, query, near, dense, sizes
                        )
                    )

                xs = list(checkpoint(run, *xs, use_reentrant=False))
            else:
                xs = self._iteration(block, t, xs, originals, graph, query, near, dense, sizes)
        if self.structure == "top_down":
            return xs[-1], graph.batch[-1], graph
        if self.structure == "dense":
            return torch.cat(xs, dim=0), torch.cat(graph.batch), graph
        return xs[0], graph.batch[0], graph

    # --------------------------------------------------------------- forward
    def forward(
        self,
        appearance: Tensor,
        motion: Optional[Tensor],
        question: Tensor,
        question_len: Tensor,
        candidates: Optional[Tensor] = None,
        candidates_len: Optional[Tensor] = None,
        video_len: Optional[Tensor] = None,
    ) -> Tensor:
        r"""Answers a batch of questions.

        Args:
            appearance (torch.Tensor): ``[B, N, appearance_dim]``.
            motion (torch.Tensor, optional): ``[B, N, motion_dim]`` (``None`` when
                ``motion_dim=0``).
            question (torch.Tensor): Token ids ``[B, L]``, 0-padded.
            question_len (torch.Tensor): ``[B]``.
            candidates (torch.Tensor, optional): Candidate answers' token ids
                ``[B, R, La]`` (multichoice). (default: :obj:`None`)
            candidates_len (torch.Tensor, optional): ``[B, R]``. (default: :obj:`None`)
            video_len (torch.Tensor, optional): Frames actually present ``[B]``.
                (default: :obj:`None`, all :math:`N`)

        Returns:
            ``open``: logits ``[B, num_answers]``; ``count``: ``[B]``;
            ``multichoice``: scores ``[B, R]``.
        """
        query = self.question_encoder(question, question_len)
        nodes, batch, _ = self.encode_video(appearance, motion, query, video_len)
        if self.task == "multichoice":
            if candidates is None or candidates_len is None:
                raise ConfigError("task='multichoice' needs candidates and candidates_len")
            B, R, La = candidates.shape
            answer = self.question_encoder(
                candidates.reshape(B * R, La), candidates_len.reshape(B * R)
            ).view(B, R, -1)
            # One read-out queried by the question and by each candidate: [B, 1 + R, M].
            fused = self.readout(nodes, torch.cat([query.unsqueeze(1), answer], dim=1), batch)
            by_question = torch.cat([fused[:, :1], query.unsqueeze(1)], dim=-1).expand(-1, R, -1)
            head_in = torch.cat([by_question, fused[:, 1:], answer], dim=-1)
            return self.head(head_in).squeeze(-1)
        fused = self.readout(nodes, query, batch)
        out = self.head(torch.cat([fused, query], dim=-1))
        return out.squeeze(-1) if self.task == "count" else out

    def loss(self, output: Tensor, answer: Tensor) -> Tensor:
        """Cross-entropy (open), MSE (count) or the pairwise hinge
        ``mean(max(0, 1 + s_wrong - s_right))`` (multichoice)."""
        if self.task == "open":
            return F.cross_entropy(output, answer, ignore_index=-1)
        if self.task == "count":
            return F.mse_loss(output, answer.to(output.dtype))
        right = output.gather(1, answer.view(-1, 1))
        wrong = torch.ones_like(output, dtype=torch.bool).scatter_(1, answer.view(-1, 1), False)
        margins = (1.0 + output - right).clamp(min=0)
        return margins[wrong].mean()

    def predict(self, output: Tensor) -> Tensor:
        """Answer indices (open, multichoice) or the rounded count clamped to [1, 10]."""
        if self.task == "count":
            return output.detach().round().clamp(*COUNT_RANGE)
        return output.detach().argmax(dim=-1)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{self.__class__.__name__}(task={c['task']}, visual_dim={c['visual_dim']}, "
            f"module_dim={c['module_dim']}, num_scales={c['num_scales']}, "
            f"num_iterations={c['num_iterations']}, structure={c['structure']}, "
            f"pool={c['pool']}, clip_stride={c['clip_stride']})"
        )
