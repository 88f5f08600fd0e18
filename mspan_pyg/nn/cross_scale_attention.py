import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor
from torch_geometric.nn.aggr import (
    MaxAggregation,
    MeanAggregation,
    MinAggregation,
    MulAggregation,
    MultiAggregation,
    PowerMeanAggregation,
    SoftmaxAggregation,
    StdAggregation,
    SumAggregation,
    VarAggregation,
)
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.typing import Adj, OptTensor, PairTensor, SparseTensor
from torch_geometric.utils import is_sparse, softmax, to_edge_index
from torch_geometric.utils.sparse import set_sparse_value

from mspan_pyg.nn.sparse import edge_attention, functorch_vmap_active, gather_rows

PairOptTensor = Tuple[OptTensor, OptTensor]

# Aggregations that reduce each channel on its own: the aggregated width stays H.
CHANNELWISE = (
    SumAggregation,
    MeanAggregation,
    MaxAggregation,
    MinAggregation,
    MulAggregation,
    VarAggregation,
    StdAggregation,
    SoftmaxAggregation,
    PowerMeanAggregation,
)
# What the fused kernel computes: the weighted sum, and for the mean that sum divided by
# the in-degree (PyG's scatter mean). Exact types: a subclass may change the reduction.
FUSED_AGGRS = {SumAggregation: "sum", MeanAggregation: "mean"}
# Methods the fused kernel replaces: a subclass that overrides one takes message passing.
MESSAGE_PASSING_METHODS = ("edge_update", "message", "aggregate", "update")


class CrossScaleAttention(MessagePassing):
    r"""The question-conditioned cross-scale attention of MSPAN (Guo et al.,
    "Multi-Scale Progressive Attention Network for Video Question Answering",
    ACL 2021, eq. 6–10; docs/model.md), on any bipartite graph.

    For a directed edge :math:`x \rightarrow y` and the question :math:`\mathbf{q}`
    of the graph the source node belongs to:

    .. math::
        m_{xy} &= \left\langle \mathbf{W}_1 \mathbf{v}_y ,\;
            (\mathbf{W}_2 \mathbf{v}_x) \odot (\mathbf{W}_3 \mathbf{q}) \right\rangle
            \;\big/\; \tau

        w_{xy} &= \frac{\exp(m_{xy})}{\sum_{x' \in \mathcal{N}(y)} \exp(m_{x'y})}

        \tilde{\mathbf{v}}_y &= \bigoplus_{x \in \mathcal{N}(y)} w_{xy}
            \left( (\mathbf{W}_4 \mathbf{v}_x) \odot (\mathbf{W}_5 \mathbf{q}) \right)

        \mathbf{v}'_y &= \mathbf{W}_6 \left[ \mathbf{v}_y \,\|\, \tilde{\mathbf{v}}_y \right]

    with :math:`\tau = 1` (the paper) or :math:`\sqrt{H}` when ``scale_scores``, and
    :math:`\bigoplus` the aggregation ``aggr`` of the weighted messages (the paper's sum;
    :math:`\tilde{\mathbf{v}}_y` is wider for a list of aggregations).
    The softmax runs over the incoming edges of each target node only (the
    authors' public code leaks weight to non-neighbours); a target without an
    incoming edge receives :math:`\tilde{\mathbf{v}}_y = \mathbf{0}`. The model
    adds the residual :math:`\mathbf{v}^o_y` (eq. 10) itself.

    Use in a heterogeneous model: :class:`~torch_geometric.nn.conv.HeteroConv` and
    :func:`~torch_geometric.nn.to_hetero` pass per-node-type arguments as ``(source,
    target)`` tuples, so ``batch`` and ``query`` may be given as tuples (the source entry
    is used); pass the question as a per-node-type (or per-edge-type) dictionary holding
    the same ``[G, Q]`` tensor:

    .. code-block:: python

        from torch_geometric.nn import HeteroConv

        conv = HeteroConv({
            edge_type: CrossScaleAttention(-1, query_channels=Q, out_channels=64)
            for edge_type in data.edge_types
        })
        out_dict = conv(
            data.x_dict,
            data.edge_index_dict,
            query_dict={node_type: question for node_type in data.node_types},
            batch_dict=data.batch_dict,
        )

    Args:
        in_channels (int or tuple): Size of each source and target node feature
            :math:`D`; a tuple ``(D_src, D_dst)`` for different sizes; ``-1`` infers
            a size from the first input (lazy initialization).
        query_channels (int): Size of the question vector :math:`Q`.
        hidden_channels (int, optional): Size :math:`H` of the attention space
            and of the message. (default: :obj:`None`, ``query_channels``)
        out_channels (int, optional): Size of the output; required when the target
            size is lazy. (default: :obj:`None`, the target size)
        scale_scores (bool, optional): Divide the scores by :math:`\sqrt{H}`; off in
            the paper, useful at higher learning rates. (default: :obj:`False`)
        dropout (float, optional): Dropout probability of the normalized
            attention weights. (default: :obj:`0.0`)
        bias (bool, optional): Learn additive biases. (default: :obj:`True`)
        fused (bool, optional): Compute scores, the neighbour softmax and the
            weighted sum in one sparse kernel (:mod:`mspan_pyg.nn.sparse`) that keeps
            one scalar per edge; the result equals :meth:`edge_update`,
            :meth:`message` and the aggregation of message passing. The kernel
            serves ``aggr`` ``"sum"``/``"add"`` and ``"mean"`` (as strings or
            :class:`~torch_geometric.nn.aggr.SumAggregation` /
            :class:`~torch_geometric.nn.aggr.MeanAggregation`), both ``flow``
            directions, ``node_dim`` and ``decomposed_layers`` (it forms no
            ``[E, H]`` messages to split), :func:`torch.func.grad`/``jacrev``/``jvp``
            and :mod:`torch.autograd.forward_ad`. The message-passing path, with the
            same numbers, is used instead when ``False``, for any other ``aggr``
            (``"max"``, ``"softmax"``, lists, other modules), with attention dropout
            in training, when :attr:`explain` is set (PyG's explainers), when a
            subclass overrides :meth:`edge_update`, :meth:`message`,
            :meth:`aggregate` or :meth:`update`, under :func:`torch.compile` and
            under :func:`torch.func.vmap`. Registering a propagate, edge-update,
            message or aggregate hook sets ``fused = False``, since the fused kernel
            forms no messages for hooks to see; the attribute ``fused`` is the
            public switch. (default: :obj:`True`)
        **kwargs (optional): Additional arguments of
            :class:`torch_geometric.nn.conv.MessagePassing`, honoured on both paths:
            ``aggr`` (default: ``"add"``; a list or a module whose width differs
            from :math:`H` sizes :math:`\mathbf{W}_6` for it, lazily where only the
            module knows it; ``None`` raises a :class:`ValueError` unless a subclass
            implements :meth:`aggregate`) with ``aggr_kwargs``; ``flow`` (with
            ``"target_to_source"`` row 0 of ``edge_index`` holds the targets and
            row 1 the sources, as in
            :meth:`~torch_geometric.nn.conv.MessagePassing.propagate`; ``x``,
            ``batch`` and ``in_channels`` keep their (source, target) order; a
            sparse adjacency raises propagate's :class:`ValueError`); ``node_dim``
            (``0`` or ``-2``, the node axis of ``[N, D]`` features; other values raise
            a :class:`ValueError`); ``decomposed_layers`` (splits the values
            only, since the scores need all channels; the numbers stay the same; a
            count that :func:`torch.chunk` cannot make from :math:`H` channels raises
            a :class:`ValueError`).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}_s|, D_{src})` and
          :math:`(|\mathcal{V}_t|, D_{dst})` (or one tensor when source and
          target coincide), edge indices :math:`(2, |\mathcal{E}|)` or a sparse
          adjacency :math:`(|\mathcal{V}_t|, |\mathcal{V}_s|)` (any
          :class:`torch.sparse` layout or :class:`torch_sparse.SparseTensor`, as
          :class:`~torch_geometric.transforms.ToSparseTensor` makes it), questions
          :math:`(G, Q)`, source batch vector :math:`(|\mathcal{V}_s|)`
        - **output:** node features :math:`(|\mathcal{V}_t|, D_{out})`, and with
          ``return_attention_weights=True`` also the weights as
          :class:`~torch_geometric.nn.conv.GATConv` returns them: ``(edge_index,
          alpha)`` with :math:`\alpha` of shape :math:`(|\mathcal{E}|)`,
          ``(adj, alpha)`` with the weights as values of a :class:`torch.sparse`
          adjacency, or the :class:`torch_sparse.SparseTensor` holding them.
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
        # Node features are [N, D]: axis 0 and -2 are the same axis; others do not exist.
        node_dim = kwargs.pop('node_dim', 0)
        if node_dim not in (0, -2):
            raise ValueError(
                f"'{self.__class__.__name__}' propagates along the node axis of [N, D] "
                f"features: 'node_dim' must be 0 or -2 (got {node_dim})"
            )
        if kwargs['aggr'] is None and type(self).aggregate is MessagePassing.aggregate:
            raise ValueError(
                f"'{self.__class__.__name__}' needs an aggregation: 'aggr=None' is for "
                f"subclasses that implement 'aggregate' themselves"
            )
        super().__init__(node_dim=0, **kwargs)
        src_channels, dst_channels = (
            (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        )
        if out_channels is None and dst_channels < 0:
            raise ValueError(
                f"'{self.__class__.__name__}' needs 'out_channels' when the target size "
                f"is inferred lazily (in_channels={in_channels})"
            )
        self.in_channels = in_channels
        self.query_channels = query_channels
        self.hidden_channels = hidden_channels or query_channels
        self.out_channels = out_channels or dst_channels
        self.scale_scores = scale_scores
        self.dropout = dropout
        self.fused = fused

        hidden = self.hidden_channels
        self.lin_dst_key = Linear(dst_channels, hidden, bias=bias)  # W1
        self.lin_src_key = Linear(src_channels, hidden, bias=bias)  # W2
        self.lin_query_key = Linear(query_channels, hidden, bias=bias)  # W3
        self.lin_src_value = Linear(src_channels, hidden, bias=bias)  # W4
        self.lin_query_value = Linear(query_channels, hidden, bias=bias)  # W5
        aggregated = self._aggregated_channels()
        out_in = dst_channels + aggregated if dst_channels > 0 and aggregated > 0 else -1
        self.lin_out = Linear(out_in, self.out_channels, bias=bias)  # W6
        self._check_decomposed_layers(self.decomposed_layers)
        self.reset_parameters()

    def _aggregated_channels(self) -> int:
        """Width of the aggregated messages; ``-1`` (``W6`` infers it lazily) where the
        aggregation module alone knows it (e.g. ``"lstm"``, ``"set2set"``)."""
        module = self.aggr_module
        if isinstance(module, MultiAggregation):  # a list of aggregations
            return module.get_out_channels(self.hidden_channels)
        if isinstance(module, CHANNELWISE):
            return self.hidden_channels
        return -1

    # Feature decomposition splits the messages' channels; the scores need all of them,
    # so only the values are split (see edge_update). Checked here: torch.chunk returns
    # fewer parts than asked for when they do not fit (H=4 in 3 parts gives 2), which
    # propagate does not expect.
    @property
    def decomposed_layers(self) -> int:
        return MessagePassing.decomposed_layers.fget(self)

    @decomposed_layers.setter
    def decomposed_layers(self, decomposed_layers: int) -> None:
        if hasattr(self, 'hidden_channels'):  # not yet when MessagePassing.__init__ sets it
            self._check_decomposed_layers(decomposed_layers)
        MessagePassing.decomposed_layers.fset(self, decomposed_layers)

    def _check_decomposed_layers(self, parts: int) -> None:
        hidden = self.hidden_channels
        if (
            not isinstance(parts, int)
            or parts < 1
            or len(range(hidden)[:: -(-hidden // parts)]) != parts
        ):
            raise ValueError(
                f"'decomposed_layers' must split the {hidden} message channels of "
                f"'{self.__class__.__name__}' into that many non-empty parts (got {parts})"
            )

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
        query: Union[Tensor, PairTensor],
        batch: Union[OptTensor, PairOptTensor] = None,
        return_attention_weights: Optional[bool] = None,
    ) -> Union[Tensor, Tuple[Tensor, Tuple[Tensor, Tensor]], Tuple[Tensor, SparseTensor]]:
        r"""Runs the layer.

        Args:
            x (torch.Tensor or (torch.Tensor, torch.Tensor)): Source and target
                node features.
            edge_index (torch.Tensor or SparseTensor): Edges ``[2, E]`` (row 0
                sources, row 1 targets; the other way round with
                ``flow="target_to_source"``) or the transposed sparse adjacency
                ``[num_dst, num_src]``, as in PyG's layers.
            query (torch.Tensor or (torch.Tensor, torch.Tensor)): One question vector
                per graph ``[G, Q]`` (or ``[Q]``); of a tuple the first entry is used.
            batch (torch.Tensor or (torch.Tensor, torch.Tensor), optional): Graph of
                each source node, or ``(batch_src, batch_dst)``; may be ``None`` only
                for a single question. (default: :obj:`None`)
            return_attention_weights (bool, optional): Also return the weights,
                see *Shapes*. (default: :obj:`None`)
        """
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        if isinstance(query, (tuple, list)):
            query = query[0]
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        if query.dim() == 1:
            query = query.unsqueeze(0)
        if batch is None and query.size(0) > 1:
            raise ValueError(
                f"'{self.__class__.__name__}' got {query.size(0)} questions but no 'batch': "
                f"pass the graph of each source node so that each graph gets its question"
            )
        num_src, num_dst = x_src.size(0), x_dst.size(0)
        edges = self._edge_index(edge_index, num_src, num_dst)

        # W3 q and W5 q side by side: one gather to the source nodes serves both.
        query_both = torch.cat([self.lin_query_key(query), self.lin_query_value(query)], dim=-1)
        if batch is not None:
            query_both = gather_rows(query_both, batch)
        query_key, query_value = query_both.split(self.hidden_channels, dim=-1)

        # Everything that depends on one node only is computed per node, not per edge.
        key_src = self.lin_src_key(x_src) * query_key
        value_src = self.lin_src_value(x_src) * query_value
        key_dst = self.lin_dst_key(x_dst)

        fused_aggr = self._fused_aggr()
        if fused_aggr is not None:
            aggregated, alpha = edge_attention(
                key_dst, key_src, value_src, edges, self.scale_scores
            )
            if fused_aggr == 'mean':  # PyG's scatter mean: the sum over max(in-degree, 1)
                degree = torch.bincount(edges[1], minlength=num_dst).clamp_(min=1)
                aggregated = aggregated / degree.unsqueeze(-1).to(aggregated.dtype)
        else:
            # Rows as the flow reads them, so that hooks and explainers see the input.
            if self.flow == 'source_to_target':
                index, size = edges, (num_src, num_dst)
            else:
                index, size = edges.flip(0), (num_dst, num_src)
            # edge_updater_type: (key_src: Tensor, key_dst: Tensor)
            alpha = self.edge_updater(index, key_src=key_src, key_dst=key_dst, size=size)
            # propagate_type: (value: Tensor, alpha: Tensor)
            aggregated = self.propagate(index, value=value_src, alpha=alpha, size=size)

        # One product with the concatenation: splitting W6 into two products costs more
        # (the weight-gradient slices) than the [n, D + H] copy saves.
        out = self.lin_out(torch.cat([x_dst, aggregated], dim=-1))
        if not return_attention_weights:
            return out
        if isinstance(edge_index, SparseTensor):
            return out, edge_index.set_value(alpha, layout='coo')
        if is_sparse(edge_index):
            return out, (set_sparse_value(edge_index, alpha), alpha)
        return out, (edge_index, alpha)

    def _edge_index(self, edge_index: Adj, num_src: int, num_dst: int) -> Tensor:
        """``[2, E]`` edges (row 0 sources, row 1 targets, whatever the ``flow``) from
        any accepted adjacency, validated as
        :meth:`~torch_geometric.nn.conv.MessagePassing.propagate` validates them: no
        kernel may read outside a feature matrix."""
        if is_sparse(edge_index):
            if self.flow == 'target_to_source':  # propagate's error, on both paths
                raise ValueError(
                    'Flow direction "target_to_source" is invalid for message '
                    'propagation via `torch_sparse.SparseTensor` or `torch.sparse.Tensor`. '
                    'If you really want to make use of a reverse message passing flow, '
                    'pass in the transposed sparse tensor to the message passing module, '
                    'e.g., `adj_t.t()`.'
                )
            if (edge_index.size(0), edge_index.size(1)) != (num_dst, num_src):
                raise ValueError(
                    f"Expected a sparse adjacency of size ({num_dst}, {num_src}) "
                    f"(targets x sources), got ({edge_index.size(0)}, {edge_index.size(1)})"
                )
            (row, col), _ = to_edge_index(edge_index)  # row: target, col: source
            return torch.stack([col, row], dim=0)
        if not isinstance(edge_index, Tensor):
            raise ValueError(
                f"'edge_index' must be a [2, num_edges] integer tensor or a sparse adjacency, "
                f"got {type(edge_index).__name__}"
            )
        if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
            raise ValueError(
                f"Expected 'edge_index' to be of integer type (got '{edge_index.dtype}')"
            )
        if edge_index.dim() != 2 or edge_index.size(0) != 2:
            raise ValueError(
                f"Expected 'edge_index' of shape [2, num_edges] (got {list(edge_index.shape)})"
            )
        if self.flow == 'target_to_source':  # messages flow from row 1 to row 0
            edge_index = edge_index.flip(0)
        if not torch.compiler.is_compiling():  # like propagate: no data-dependent checks there
            check_indices(edge_index, num_src, num_dst)
        return edge_index.long()

    def _fused_aggr(self) -> Optional[str]:
        """``"sum"`` or ``"mean"`` where the fused kernel computes what
        :meth:`edge_update`, :meth:`message` and the aggregation compute, else ``None``:
        message passing stays for other aggregations, where messages must exist (attention
        dropout, explainers, hooks via ``fused``, a subclass's own methods), where Dynamo
        traces and where :func:`torch.func.vmap` batches (neither takes CSR tensors)."""
        if not self.fused or self.explain or (self.training and self.dropout > 0):
            return None
        if torch.compiler.is_compiling() or functorch_vmap_active():
            return None
        cls = type(self)
        if any(
            getattr(cls, m) is not getattr(CrossScaleAttention, m) for m in MESSAGE_PASSING_METHODS
        ):
            return None
        return FUSED_AGGRS.get(type(self.aggr_module))

    def edge_update(
        self,
        key_src_j: Tensor,
        key_dst_i: Tensor,
        index: Tensor,
        ptr: OptTensor,
        dim_size: Optional[int],
    ) -> Tensor:
        """The attention weights :math:`w_{xy}` of eq. 6–7, one per edge (as GATConv
        computes them), so that feature decomposition splits only the values."""
        score = (key_dst_i * key_src_j).sum(dim=-1)
        if self.scale_scores:
            score = score / math.sqrt(self.hidden_channels)
        return softmax(score, index, ptr, dim_size)

    def message(self, value_j: Tensor, alpha: Tensor) -> Tensor:
        alpha = torch.nn.functional.dropout(alpha, p=self.dropout, training=self.training)
        return value_j * alpha.unsqueeze(-1)

    # Hooks observe weights and messages, which only the message-passing path forms.
    def register_edge_update_forward_pre_hook(self, hook):
        self.fused = False
        return super().register_edge_update_forward_pre_hook(hook)

    def register_edge_update_forward_hook(self, hook):
        self.fused = False
        return super().register_edge_update_forward_hook(hook)

    def register_propagate_forward_pre_hook(self, hook):
        self.fused = False
        return super().register_propagate_forward_pre_hook(hook)

    def register_propagate_forward_hook(self, hook):
        self.fused = False
        return super().register_propagate_forward_hook(hook)

    def register_message_forward_pre_hook(self, hook):
        self.fused = False
        return super().register_message_forward_pre_hook(hook)

    def register_message_forward_hook(self, hook):
        self.fused = False
        return super().register_message_forward_hook(hook)

    def register_aggregate_forward_pre_hook(self, hook):
        self.fused = False
        return super().register_aggregate_forward_pre_hook(hook)

    def register_aggregate_forward_hook(self, hook):
        self.fused = False
        return super().register_aggregate_forward_hook(hook)

    def __repr__(self) -> str:
        options = ''  # the message-passing options that change the numbers, when set
        if self.aggr not in ('add', 'sum'):
            options += f', aggr={self.aggr}'
        if self.flow != 'source_to_target':
            options += f', flow={self.flow}'
        return (
            f'{self.__class__.__name__}({self.in_channels}, {self.out_channels}, '
            f'query_channels={self.query_channels}, hidden_channels={self.hidden_channels}'
            f'{options})'
        )


def check_indices(edge_index: Tensor, num_src: int, num_dst: int) -> None:
    """Raises PyG's :class:`IndexError` when an edge points outside its node set."""
    if edge_index.numel() == 0:
        return
    # One pass for the per-row minima and maxima (about 10 us for 5k edges on CPU).
    low, high = torch.aminmax(edge_index, dim=1)
    (low_src, low_dst), (high_src, high_dst) = low.tolist(), high.tolist()
    if min(low_src, low_dst) >= 0 and high_src < num_src and high_dst < num_dst:
        return
    src, dst = edge_index[0], edge_index[1]
    for name, index, size in (("source", src, num_src), ("target", dst, num_dst)):
        low, high = int(index.min()), int(index.max())
        if low < 0:
            raise IndexError(
                f"Found negative {name} indices in 'edge_index' (got {low}). Please ensure "
                f"that all indices in 'edge_index' point to valid indices in the interval "
                f"[0, {size}) in your node feature matrix and try again."
            )
        if high >= size:
            raise IndexError(
                f"Found {name} indices in 'edge_index' that are larger than {size - 1} "
                f"(got {high}). Please ensure that all indices in 'edge_index' point to "
                f"valid indices in the interval [0, {size}) in your node feature matrix "
                f"and try again."
            )
