"""The MSPAN model (docs/model.md): it computes; the graphs it runs on, their edges and the
GCN adjacency come from :mod:`mspan_pyg.graphs`."""

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.data import HeteroData
from torch_geometric.nn import GCNConv

from mspan_pyg.errors import ConfigError
from mspan_pyg.graphs.intervals import resolve_strides
from mspan_pyg.graphs.multiscale import MultiScaleGraph, build_multiscale_graph, multiscale_graph
from mspan_pyg.models.hub import PretrainedMixin
from mspan_pyg.nn.candidate_query import MC_QUERIES, join_question_candidates
from mspan_pyg.nn.cross_scale_attention import CrossScaleAttention
from mspan_pyg.nn.question_encoder import QuestionEncoder
from mspan_pyg.nn.readout import QuestionReadout
from mspan_pyg.nn.sparse import GCNAdjacency
from mspan_pyg.tasks import COUNT_RANGE, HEADS

STRUCTURES = ("full", "top_down", "bottom_up", "dense")


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


class MSPAN(nn.Module, PretrainedMixin):
    r"""Multi-Scale Progressive Attention Network for video question answering
    (Guo et al., ACL 2021).

    Frame features (appearance and motion) are projected to ``visual_dim`` and
    max-pooled into clips of :math:`1 \dots K` frames, one graph per scale. Each of
    :math:`T` iterations runs a two-layer GCN on every scale, then the
    question-conditioned :class:`CrossScaleAttention` from fine to coarse
    (top-down, :math:`s = 1 \rightarrow K`) and back (bottom-up), adding the
    original clip features as a residual. A question-guided read-out (eq. 11–13)
    fuses the read-out graph with the question for the answer head.

    :meth:`forward` takes frame features; :meth:`forward_graph` takes the multi-scale
    graphs as a PyG :class:`~torch_geometric.data.HeteroData` batch (from
    :meth:`video_graph`, or per-video graphs collated by PyG's
    :class:`~torch_geometric.loader.DataLoader`) and gives the same answers. Since the
    frames are projected before they are pooled, the graphs' node features are pooled
    *projected* frames (``visual_dim`` wide), not the raw features.

    :meth:`save_pretrained` / :meth:`from_pretrained` write and read a folder (or Hugging
    Face Hub repo) of ``config.json``, ``model.safetensors`` and the run around the model
    (``run_info``: vocabularies, task, options; :mod:`mspan_pyg.models.hub`).

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
        mc_query (str, optional): How a multiple-choice candidate meets the video:
            ``"question"`` (the paper: the question queries the reasoning, each candidate
            only the read-out) or ``"question+candidate"`` (the question joined with each
            candidate is the query of the cross-scale attention and the read-out, as in
            NExT-QA's baselines; one batched ``[B·R]`` reasoning pass, R times the cost).
            Ignored by the other heads. (default: ``"question"``)
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
        mc_query: str = "question",
    ):
        super().__init__()
        if task not in HEADS:
            raise ConfigError(f"task must be one of {HEADS}, got {task!r}")
        if structure not in STRUCTURES:
            raise ConfigError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        if mc_query not in MC_QUERIES:
            raise ConfigError(f"mc_query must be one of {MC_QUERIES}, got {mc_query!r}")
        if task == "open" and not num_answers:
            raise ConfigError("task='open' needs num_answers")
        if num_scales < 1 or num_iterations < 0:
            raise ConfigError(
                f"need num_scales >= 1 and num_iterations >= 0, got "
                f"{num_scales} and {num_iterations}"
            )
        self.strides = resolve_strides(num_scales, clip_stride)  # resolved once, fails early
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
            mc_query=mc_query,
        )
        # A per-candidate query reasons once per candidate and needs no separate candidate
        # read-out: the head sees the fused video and the joined query, as an open head does.
        self.per_candidate = task == "multichoice" and mc_query == "question+candidate"
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
        head_in = module_dim * (4 if task == "multichoice" and not self.per_candidate else 2)
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
        """The multi-scale graph of projected frames ``[B, N, visual_dim]``."""
        return multiscale_graph(frames, self.num_scales, video_len, self.pool, self.strides)

    def video_graph(
        self, appearance: Tensor, motion: Optional[Tensor], video_len: Optional[Tensor] = None
    ) -> HeteroData:
        r"""The input of :meth:`forward_graph` for raw features: the frames projected by
        the model (``visual_proj``, ELU, dropout) and pooled by
        :func:`~mspan_pyg.build_multiscale_graph` with the model's ``num_scales``,
        ``pool`` and ``clip_stride``. For one video of ``[L, D]`` features,
        ``model.video_graph(a[None], m[None]).get_example(0)`` is its per-video graph."""
        frames = self.encode_frames(appearance, motion)
        return build_multiscale_graph(frames, self.num_scales, video_len, self.pool, self.strides)

    def reason(self, graph: MultiScaleGraph, query: Tensor) -> Tuple[Tensor, Tensor]:
        """Runs the :math:`T` iterations of multi-scale reasoning on ``graph`` with one
        question ``[B, M]`` per video; returns the read-out nodes and their video index."""
        near = None
        if self.config["use_gcn"]:  # normalized once per forward (cached for full length)
            dtype = graph.x[0].dtype
            near = graph.gcn_adjacency(dtype if dtype == torch.float64 else torch.float32)
        dense = graph.dense_edges() if self.structure == "dense" else None
        originals = graph.x
        xs = list(graph.x)
        for t in range(self.num_iterations):
            block = self.blocks[0 if len(self.blocks) == 1 else t]
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():

                def run(*inputs, block=block, t=t):
                    return tuple(
                        self._iteration(
                            block, t, list(inputs), originals, graph, query, near, dense
                        )
                    )

                xs = list(checkpoint(run, *xs, use_reentrant=False))
            else:
                xs = self._iteration(block, t, xs, originals, graph, query, near, dense)
        if self.structure == "top_down":
            return xs[-1], graph.batch[-1]
        if self.structure == "dense":
            return torch.cat(xs, dim=0), torch.cat(graph.batch)
        return xs[0], graph.batch[0]

    def _iteration(
        self,
        block: InteractionBlock,
        iteration: int,
        xs: List[Tensor],
        originals: List[Tensor],
        graph: MultiScaleGraph,
        query: Tensor,
        near: Optional[GCNAdjacency],
        dense: Optional[Tensor],
    ) -> List[Tensor]:
        """One iteration: same-scale GCN, then top-down, bottom-up or dense attention."""
        xs = list(xs)
        if block.gcn is not None:
            xs = list(block.gcn(torch.cat(xs, dim=0), near).split(graph.sizes))
        if block.top_down is not None:
            self._top_down(block.top_down, iteration, xs, originals, graph, query)
        if block.bottom_up is not None:
            self._bottom_up(block.bottom_up, iteration, xs, originals, graph, query)
        if block.dense is not None:
            xs = self._dense(block.dense, iteration, xs, originals, graph, query, dense)
        return xs

    def _attend(self, att, direction, iteration, src, dst, x, edge_index, query, batch):
        """One attention call, logged in :attr:`attention_log` when that is a list."""
        log = self.attention_log
        out = att(x, edge_index, query, batch, return_attention_weights=log is not None)
        if log is None:
            return out
        out, (edge_index, alpha) = out
        log.append((direction, iteration, src, dst, edge_index, alpha.detach()))
        return out

    def _top_down(self, att, iteration, xs, originals, graph, query) -> None:
        for i in range(self.num_scales - 1):  # fine -> coarse, each update feeds the next pair
            x = (xs[i], xs[i + 1])
            out = self._attend(
                att, "top_down", iteration, i + 1, i + 2, x, graph.coarser[i], query, graph.batch[i]
            )
            xs[i + 1] = out + originals[i + 1]

    def _bottom_up(self, att, iteration, xs, originals, graph, query) -> None:
        for i in range(self.num_scales - 1, 0, -1):  # coarse -> fine
            x = (xs[i], xs[i - 1])
            finer = graph.coarser[i - 1].flip(0)
            out = self._attend(
                att, "bottom_up", iteration, i + 1, i, x, finer, query, graph.batch[i]
            )
            xs[i - 1] = out + originals[i - 1]

    def _dense(self, att, iteration, xs, originals, graph, query, dense) -> List[Tensor]:
        x_all = torch.cat(xs, dim=0)
        out = self._attend(
            att, "dense", iteration, 0, 0, x_all, dense, query, torch.cat(graph.batch)
        )
        return list((out + torch.cat(originals, dim=0)).split(graph.sizes))

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
        nodes, batch = self.reason(graph, query)
        return nodes, batch, graph

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
        if self.per_candidate:
            return self._forward_per_candidate(
                appearance, motion, question, question_len, candidates, candidates_len, video_len
            )
        query = self.question_encoder(question, question_len)
        nodes, batch, _ = self.encode_video(appearance, motion, query, video_len)
        return self._answer(query, nodes, batch, candidates, candidates_len)

    def _forward_per_candidate(
        self, appearance, motion, question, question_len, candidates, candidates_len, video_len
    ) -> Tensor:
        """``mc_query="question+candidate"``: every (video, candidate) pair is one graph of
        a ``[B·R]`` batch, queried by the question joined with that candidate."""
        if candidates is None or candidates_len is None:
            raise ConfigError("task='multichoice' needs candidates and candidates_len")
        B, R = candidates.shape[:2]
        joined, joined_len = join_question_candidates(
            question, question_len, candidates, candidates_len
        )
        query = self.question_encoder(joined.flatten(0, 1), joined_len.flatten())  # [B·R, M]
        # Project once per video (one dropout mask for all its candidates), then repeat.
        frames = self.encode_frames(appearance, motion).repeat_interleave(R, dim=0)
        if video_len is not None:
            video_len = video_len.repeat_interleave(R, dim=0)
        graph = self.build_graph(frames, video_len)
        nodes, batch = self.reason(graph, query)
        fused = self.readout(nodes, query, batch)
        return self.head(torch.cat([fused, query], dim=-1)).view(B, R)

    def forward_graph(
        self,
        data: HeteroData,
        question: Tensor,
        question_len: Tensor,
        candidates: Optional[Tensor] = None,
        candidates_len: Optional[Tensor] = None,
    ) -> Tensor:
        r"""Answers a batch of questions on multi-scale graphs given as
        :class:`~torch_geometric.data.HeteroData`: the output of :meth:`video_graph` /
        :func:`~mspan_pyg.build_multiscale_graph`, or per-video graphs
        (:func:`~mspan_pyg.graphs.build_video_graph`) collated by PyG's
        :class:`~torch_geometric.loader.DataLoader`. Equals :meth:`forward` on the same
        videos.

        The node features ``data["scale_s"].x`` must be clips pooled from *projected*
        frames (``visual_dim`` wide: :meth:`encode_frames` of the raw appearance and
        motion features, as :meth:`video_graph` does), since the model projects frames
        before pooling; the graph must have been built with the model's ``num_scales``,
        ``pool`` and ``clip_stride``. ``data["scale_s"].interval`` is required.

        Args:
            data (HeteroData): ``B`` graphs (a ``Batch``, or one graph for ``B = 1``).
            question, question_len, candidates, candidates_len: As in :meth:`forward`.
        """
        graph = MultiScaleGraph.from_hetero_data(data, self.num_scales, self.strides)
        if graph.x[0].size(-1) != self.visual_proj.out_features:
            raise ConfigError(
                f"forward_graph needs clip features of the projected size visual_dim="
                f"{self.visual_proj.out_features}, got {graph.x[0].size(-1)}: build the graph "
                f"with model.video_graph(appearance, motion)"
            )
        if graph.num_graphs != question.size(0):
            raise ConfigError(
                f"the graph holds {graph.num_graphs} videos but {question.size(0)} questions"
            )
        if self.per_candidate:
            raise ConfigError(
                "forward_graph does not support mc_query='question+candidate' (it would need "
                "each video's graph once per candidate); use forward"
            )
        query = self.question_encoder(question, question_len)
        nodes, batch = self.reason(graph, query)
        return self._answer(query, nodes, batch, candidates, candidates_len)

    def _answer(
        self,
        query: Tensor,
        nodes: Tensor,
        batch: Tensor,
        candidates: Optional[Tensor],
        candidates_len: Optional[Tensor],
    ) -> Tensor:
        """The question-guided read-out (eq. 11-13) and the answer head."""
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
        """Answer indices (open, multichoice) or the count as TGIF-QA results are scored by
        HCRN and the MSPAN authors' code: ``floor(y + 0.5)`` (halves round up) clamped to
        [1, 10], also for answers of 0 (docs/data.md)."""
        if self.task == "count":
            low, high = COUNT_RANGE
            return (output.detach() + 0.5).floor().clamp(float(low), float(high))
        return output.detach().argmax(dim=-1)

    def __repr__(self) -> str:
        c = self.config
        return (
            f"{self.__class__.__name__}(task={c['task']}, visual_dim={c['visual_dim']}, "
            f"module_dim={c['module_dim']}, num_scales={c['num_scales']}, "
            f"num_iterations={c['num_iterations']}, structure={c['structure']}, "
            f"pool={c['pool']}, clip_stride={c['clip_stride']}"
            + (f", mc_query={c['mc_query']}" if self.per_candidate else "")
            + ")"
        )
