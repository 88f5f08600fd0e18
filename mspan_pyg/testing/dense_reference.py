"""A dense reference of MSPAN written from the equations (docs/model.md), independent of the
library's graphs and kernels.

Each scale is a padded ``[B, M, D]`` tensor with a node mask; adjacencies are ``[B, M, M]``
boolean masks built by comparing clip intervals pairwise; GCN, cross-scale attention and
read-out are batched matrix products with a *correct* masked softmax (non-neighbours get
zero weight, a row without neighbours a zero message). It shares the parameters of an
:class:`mspan_pyg.MSPAN` and is the oracle of the equivalence tests and the baseline of the
benchmarks: it is the authors' dense formulation with their softmax bug fixed.
"""

import math
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mspan_pyg import MSPAN, CrossScaleAttention
from mspan_pyg.graphs.intervals import resolve_strides


def clip_intervals(num_frames: int, scale: int, stride: int) -> Tuple[Tensor, Tensor]:
    starts = torch.arange(0, num_frames - scale + 1, stride)
    return starts, starts + scale - 1


def overlap(
    start_a: Tensor, end_a: Tensor, start_b: Tensor, end_b: Tensor, touch: bool = False
) -> Tensor:
    """``[Ma, Mb]``: interval a_x and b_y share a frame (or are adjacent with ``touch``)."""
    pad = 1 if touch else 0
    return (start_a[:, None] <= end_b[None, :] + pad) & (start_b[None, :] <= end_a[:, None] + pad)


def masked_softmax(score: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax over the entries where ``mask`` holds; all-masked rows give zeros."""
    score = score.masked_fill(~mask, float("-inf"))
    weight = torch.softmax(score, dim=dim)
    return torch.where(mask, weight, torch.zeros_like(weight))


def dense_attention(
    att: CrossScaleAttention, x_src: Tensor, x_dst: Tensor, adj: Tensor, query: Tensor
) -> Tuple[Tensor, Tensor]:
    """Eq. 6–10 on padded tensors. ``x_src`` ``[B, Ms, D]``, ``x_dst`` ``[B, Mt, D]``,
    ``adj`` ``[B, Mt, Ms]`` (target-major), ``query`` ``[B, Q]``."""
    key_dst = att.lin_dst_key(x_dst)
    key_src = att.lin_src_key(x_src) * att.lin_query_key(query).unsqueeze(1)
    value_src = att.lin_src_value(x_src) * att.lin_query_value(query).unsqueeze(1)
    score = key_dst @ key_src.transpose(1, 2)
    if att.scale_scores:
        score = score / math.sqrt(att.hidden_channels)
    weight = masked_softmax(score, adj)
    aggregated = weight @ value_src
    return att.lin_out(torch.cat([x_dst, aggregated], dim=-1)), weight


def dense_gcn_layer(conv, x: Tensor, adj: Tensor) -> Tensor:
    """Kipf & Welling on padded nodes: ``D^-1/2 (A + I) D^-1/2 X W + b``; ``adj``
    already masked to valid nodes and holding the self loops."""
    adj = adj.to(x.dtype)
    deg = adj.sum(-1)
    inv_sqrt = torch.where(deg > 0, deg.clamp(min=1e-12).pow(-0.5), torch.zeros_like(deg))
    norm = inv_sqrt.unsqueeze(-1) * adj * inv_sqrt.unsqueeze(-2)
    return norm @ conv.lin(x) + conv.bias


class DenseMSPAN(nn.Module):
    """The dense formulation of ``model`` (same parameters, same outputs)."""

    def __init__(self, model: MSPAN):
        super().__init__()
        self.model = model

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
        m = self.model
        if m.per_candidate:
            return self.forward_per_candidate(
                appearance, motion, question, question_len, candidates, candidates_len, video_len
            )
        query = m.question_encoder(question, question_len)
        frames = m.encode_frames(appearance, motion)
        nodes, mask = self.encode_video(frames, query, video_len)
        if m.task == "multichoice":
            B, R, La = candidates.shape
            answer = m.question_encoder(
                candidates.reshape(B * R, La), candidates_len.reshape(B * R)
            ).view(B, R, -1)
            fused = torch.stack([self.readout(nodes, mask, answer[:, r]) for r in range(R)], 1)
            by_question = torch.cat([self.readout(nodes, mask, query), query], dim=-1)
            head_in = torch.cat([by_question.unsqueeze(1).expand(-1, R, -1), fused, answer], dim=-1)
            return m.head(head_in).squeeze(-1)
        out = m.head(torch.cat([self.readout(nodes, mask, query), query], dim=-1))
        return out.squeeze(-1) if m.task == "count" else out

    def forward_per_candidate(
        self, appearance, motion, question, question_len, candidates, candidates_len, video_len
    ) -> Tensor:
        """``mc_query="question+candidate"`` one candidate at a time: the question's and the
        candidate's tokens joined in Python, one dense reasoning pass per candidate."""
        m = self.model
        frames = m.encode_frames(appearance, motion)
        B, R = candidates.shape[:2]
        scores = frames.new_empty(B, R)
        for b in range(B):
            q = question[b, : int(question_len[b])].tolist()
            lens = None if video_len is None else video_len[b : b + 1]
            for r in range(R):
                tokens = q + candidates[b, r, : int(candidates_len[b, r])].tolist()
                query = m.question_encoder(torch.tensor([tokens]), torch.tensor([len(tokens)]))
                nodes, mask = self.encode_video(frames[b : b + 1], query, lens)
                fused = self.readout(nodes, mask, query)
                scores[b, r] = m.head(torch.cat([fused, query], dim=-1)).squeeze()
        return scores

    def readout(self, x: Tensor, mask: Tensor, query: Tensor) -> Tensor:
        r = self.model.readout
        score = r.lin_score(r.lin_node_key(x) * r.lin_query_key(query).unsqueeze(1)).squeeze(-1)
        weight = masked_softmax(score, mask)
        pooled = (weight.unsqueeze(1) @ x).squeeze(1)
        return F.elu(r.lin_node_out(pooled) * r.lin_query_out(query) + r.bias)

    def encode_video(
        self, frames: Tensor, query: Tensor, video_len: Optional[Tensor]
    ) -> Tuple[Tensor, Tensor]:
        m = self.model
        B, N, _ = frames.shape
        K = m.num_scales
        lengths = torch.full((B,), N) if video_len is None else video_len.cpu()
        strides = resolve_strides(K, m.clip_stride)
        xs: List[Tensor] = []
        masks: List[Tensor] = []
        spans: List[Tuple[Tensor, Tensor]] = []
        for s, r in zip(range(1, K + 1), strides):
            pool = F.max_pool1d if m.pool == "max" else F.avg_pool1d
            if s <= N:
                xs.append(pool(frames.transpose(1, 2), s, r).transpose(1, 2))
            else:  # a scale coarser than the video: no clips
                xs.append(frames.new_empty(B, 0, frames.size(-1)))
            start, end = clip_intervals(N, s, r)
            spans.append((start, end))
            masks.append((end.unsqueeze(0) < lengths.unsqueeze(1)).to(frames.device))

        def pair_mask(i: int, j: int, touch: bool = False) -> Tensor:
            """[B, M_i, M_j] edges between valid nodes of scales i and j."""
            adj = overlap(*spans[i], *spans[j], touch=touch).to(frames.device)
            return adj.unsqueeze(0) & masks[i].unsqueeze(2) & masks[j].unsqueeze(1)

        near = [pair_mask(i, i, touch=True) for i in range(K)]  # includes the self loop
        coarser = [pair_mask(i, i + 1) for i in range(K - 1)]  # [B, M_fine, M_coarse]
        originals = list(xs)
        sizes = [x.size(1) for x in xs]
        for t in range(m.num_iterations):
            block = m.blocks[0 if len(m.blocks) == 1 else t]
            if block.gcn is not None:
                for i in range(K):
                    h = F.relu(dense_gcn_layer(block.gcn.conv1, xs[i], near[i]))
                    xs[i] = dense_gcn_layer(block.gcn.conv2, h, near[i])
            if block.top_down is not None:
                for i in range(K - 1):
                    out, _ = dense_attention(
                        block.top_down, xs[i], xs[i + 1], coarser[i].transpose(1, 2), query
                    )
                    xs[i + 1] = out + originals[i + 1]
            if block.bottom_up is not None:
                for i in range(K - 1, 0, -1):
                    out, _ = dense_attention(
                        block.bottom_up, xs[i], xs[i - 1], coarser[i - 1], query
                    )
                    xs[i - 1] = out + originals[i - 1]
            if block.dense is not None:
                rows = []
                for i in range(K):
                    rows.append(
                        torch.cat(
                            [
                                pair_mask(i, j) if i != j else torch.zeros_like(near[i])
                                for j in range(K)
                            ],
                            dim=2,
                        )
                    )
                adj = torch.cat(rows, dim=1)  # [B, sum M, sum M], target-major
                out, _ = dense_attention(
                    block.dense, torch.cat(xs, 1), torch.cat(xs, 1), adj, query
                )
                xs = list((out + torch.cat(originals, 1)).split(sizes, dim=1))
        if m.structure == "top_down":
            return xs[-1], masks[-1]
        if m.structure == "dense":
            return torch.cat(xs, 1), torch.cat(masks, 1)
        return xs[0], masks[0]
