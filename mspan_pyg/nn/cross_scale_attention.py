import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, OptTensor, PairTensor
from torch_geometric.utils import softmax

from mspan_pyg.nn.sparse import edge_attention, gather_rows


class CrossScaleAttention(MessagePassing):
    r"""The question-conditioned cross-scale attention of MSPAN (Guo et al.,
    "Multi-Scale Progressive Attention Network for Video Question Answering",
    ACL 2021, eq. 6–10), on any bipartite graph.

    For a directed edge :math:`x \rightarrow y` and the question :math:`\mathbf{q}`
    of the graph the source node belongs to:

    .. math::
        m_{xy} &= \left\langle \mathbf{W}_1 \mathbf{v}_y ,\;
            (\mathbf{W}_2 \mathbf{v}_x) \odot (\mathbf{W}_3 \mathbf{q}) \right\rangle
            \;\big/\; \tau

        w_{xy} &= \frac{\exp(m_{xy})}{\sum_{x' \in \mathcal{N}(y)} \exp(m_{x'y})}

        \tilde{\mathbf{v}}_y &= \sum_{x \in \mathcal{N}(y)} w_{xy}
            \left( (\mathbf{W}_4 \mathbf{v}_x) \odot (\mathbf{W}_5 \mathbf{q}) \right)

        \mathbf{v}'_y &= \mathbf{W}_6 \left[ \mathbf{v}_y \,\|\, \tilde{\mathbf{v}}_y \right]

    with :math:`\tau = 1` (the paper) or :math:`\sqrt{H}` when ``scale_scores``.
    The softmax runs over the incoming edges of each target node only (the
    authors' public code leaks weight to non-neighbours); a target without an
    incoming edge receives :math:`\tilde{\mathbf{v}}_y = \mathbf{0}`. The model
    adds the residual :math:`\mathbf{v}^o_y` (eq. 10) itself.

    Args:
        in_channels (int or tuple): Size of each source and target node feature
            :math:`D`; a tuple ``(D_src, D_dst)`` for different sizes.
        query_channels (int): Size of the question vector :math:`Q`.
        hidden_channels (int, optional): Size :math:`H` of the attention space
            and of the message. (default: :obj:`None`, ``query_channels``)
        out_channels (int, optional): Size of the output. (default: :obj:`None`,
            the target size)
        scale_scores (bool, optional): Divide the scores by :math:`\sqrt{H}`; off in
            the paper, useful at higher learning rates. (default: :obj:`False`)
        dropout (float, optional): Dropout probability of the normalized
            attention weights. (default: :obj:`0.0`)
        bias (bool, optional): Learn additive biases. (default: :obj:`True`)
        fused (bool, optional): Compute scores, the neighbour softmax and the
            weighted sum in one sparse kernel (:mod:`mspan_pyg.nn.sparse`) that keeps
            one scalar per edge; the result equals :meth:`message` with PyG's
            scatter softmax, which is used instead when ``False`` and whenever
            attention dropout, explainers or hooks are active. (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}_s|, D_{src})` and
          :math:`(|\mathcal{V}_t|, D_{dst})` (or one tensor when source and
          target coincide), edge indices :math:`(2, |\mathcal{E}|)`, questions
          :math:`(G, Q)`, source batch vector :math:`(|\mathcal{V}_s|)`
        - **output:** node features :math:`(|\mathcal{V}_t|, D_{out})`, and with
          ``return_attention_weights=True`` also ``(edge_index, alpha)`` with
          :math:`\alpha` of shape :math:`(|\mathcal{E}|)`
    """

    def __init__(
        self,
        in_channels: Union[int, Tuple[int, int]],
        query_channels: int,
        hidden_channels: Optional[int] = None,
        out_channels: Optional[int] = None,
        scale_scores: bool = False,
        dropout: float = 0.0,
        bias: bool = True,
        fused: bool = True,
        **kwargs,
    ):
        kwargs.setdefault('aggr', 'add')
        super().__init__(node_dim=0, **kwargs)
        if isinstance(in_channels, int):
            in_channels = (in_channels, in_channels)
        self.in_channels = in_channels
        self.query_channels = query_channels
        self.hidden_channels = hidden_channels or query_channels
        self.out_channels = out_channels or in_channels[1]
        self.scale_scores = scale_scores
        self.dropout = dropout
        self._alpha: OptTensor = None
        self.fused_kernel = fused

        hidden = self.hidden_channels
        self.lin_dst_key = Linear(in_channels[1], hidden, bias=bias)  # W1
        self.lin_src_key = Linear(in_channels[0], hidden, bias=bias)  # W2
        self.lin_query_key = Linear(query_channels, hidden, bias=bias)  # W3
        self.lin_src_value = Linear(in_channels[0], hidden, bias=bias)  # W4
        self.lin_query_value = Linear(query_channels, hidden, bias=bias)  # W5
        self.lin_out = Linear(in_channels[1] + hidden, self.out_channels, bias=bias)  # W6
        self.reset_parameters()

    def reset_parameters(self):
        super().reset_parameters()
        for lin in (
            self.lin_dst_key,
            self.lin_src_key,
            self.lin_query_key,
            self.lin_src_value,
            self.lin_query_value,
            self.lin_out,
        ):
            lin.reset_parameters()

    def forward(
        self,
        x: Union[Tensor, PairTensor],
        edge_index: Adj,
        query: Tensor,
        batch: OptTensor = None,
        return_attention_weights: Optional[bool] = None,
    ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): Source and target
                node features.
            edge_index (torch.Tensor): Edges ``[2, E]``, row 0 indexing sources
                and row 1 targets.
            query (torch.Tensor): One question vector per graph ``[G, Q]``.
            batch (torch.Tensor, optional): Graph of each source node; ``None``
                means every node belongs to graph 0. (default: :obj:`None`)
            return_attention_weights (bool, optional): Also return
                ``(edge_index, alpha)``. (default: :obj:`None`)
        """
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        if query.dim() == 1:
            query = query.unsqueeze(0)
        if batch is None:
            query = query[:1]
        # W3 q and W5 q side by side: one gather to the source nodes serves both.
        query_both = torch.cat([self.lin_query_key(query), self.lin_query_value(query)], dim=-1)
        if batch is not None:
            query_both = gather_rows(query_both, batch)
        query_key, query_value = query_both.split(self.hidden_channels, dim=-1)

        # Everything that depends on one node only is computed per node, not per edge.
        key_src = self.lin_src_key(x_src) * query_key
        value_src = self.lin_src_value(x_src) * query_value
        key_dst = self.lin_dst_key(x_dst)

        if self._fusable(edge_index):
            aggregated, alpha = edge_attention(
                key_dst, key_src, value_src, edge_index, self.scale_scores
            )
        else:
            # propagate_type: (key: PairTensor, value: Tensor)
            aggregated = self.propagate(
                edge_index,
                key=(key_src, key_dst),
                value=value_src,
                size=(x_src.size(0), x_dst.size(0)),
            )
            alpha = self._alpha
            self._alpha = None

        # One product with the concatenation: splitting W6 into two products costs more
        # (the weight-gradient slices) than the [n, D + H] copy saves.
        out = self.lin_out(torch.cat([x_dst, aggregated], dim=-1))
        if return_attention_weights:
            return out, (edge_index, alpha)
        return out

    def _fusable(self, edge_index: Adj) -> bool:
        """The fused sparse kernel computes the same thing as :meth:`message` and the
        sum aggregation; message passing stays for attention dropout, explainers, hooks
        and sparse-tensor adjacencies."""
        return (
            self.fused_kernel
            and isinstance(edge_index, Tensor)
            and not edge_index.is_sparse
            and not (self.training and self.dropout > 0)
            and not self.explain
            and not self._propagate_forward_pre_hooks
            and not self._propagate_forward_hooks
            and not self._message_forward_pre_hooks
            and not self._message_forward_hooks
        )

    def message(
        self,
        key_j: Tensor,
        key_i: Tensor,
        value_j: Tensor,
        index: Tensor,
        ptr: OptTensor,
        size_i: Optional[int],
    ) -> Tensor:
        score = (key_i * key_j).sum(dim=-1)
        if self.scale_scores:
            score = score / math.sqrt(self.hidden_channels)
        alpha = softmax(score, index, ptr, size_i)
        self._alpha = alpha
        alpha = torch.nn.functional.dropout(alpha, p=self.dropout, training=self.training)
        return value_j * alpha.unsqueeze(-1)

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}({self.in_channels}, query={self.query_channels}, '
            f'hidden={self.hidden_channels}, out={self.out_channels}, '
            f'scale_scores={self.scale_scores})'
        )
