r"""Sparse kernels of the fast paths: products with a fixed sparse matrix and the fused
edge softmax-attention of :class:`~mspan_pyg.nn.CrossScaleAttention`.

The generic message-passing path gathers one feature row per edge (``[E, D]``) and
scatter-adds them back; on CPU the scatter dominates and the gathered rows are kept for
the backward pass. Here every edge-level quantity is a scalar: products are CSR sparse
matrix products (``torch.sparse.mm``) and per-edge dot products are sampled dense
products (``torch.sparse.sampled_addmm``). Their backward passes are written out, so
autograd never sees a sparse tensor. When autograd records the backward pass itself
(``create_graph=True``: gradient penalties, ``gradgradcheck``) the backward passes switch to
differentiable gather/scatter formulas, so second derivatives are exact.

Dynamo cannot trace sparse CSR tensors; under :func:`torch.compile` the callers use the
gather/scatter forms (:func:`torch.compiler.is_compiling`). The same holds under
:func:`torch.func.vmap` (no batching rule for CSR tensors: :func:`functorch_vmap_active`).
``torch.func.grad``/``vjp``/``jacrev`` and forward mode (``torch.func.jvp``,
:mod:`torch.autograd.forward_ad`) run the kernels themselves: the autograd Functions
define ``setup_context`` and ``jvp``; what runs while such a transform is active (``jvp``,
a batched backward) touches no CSR tensor, since functorch cannot wrap one.
"""

import math
import warnings
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch_geometric.utils import cumsum

HALF = (torch.float16, torch.bfloat16)


def _csr(crow: Tensor, col: Tensor, values: Tensor, size: Tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)


def _pointer(index: Tensor, size: int) -> Tensor:
    """CSR row pointer of a sorted ``index`` over ``size`` rows."""
    return cumsum(torch.bincount(index, minlength=size))


class SparsePattern:
    r"""The fixed sparsity pattern of a ``[num_dst, num_src]`` matrix given by
    ``edge_index`` (row 0 sources, row 1 targets), stored row-major (by target) and
    column-major (by source) so that products with the matrix and its transpose are both
    CSR products. ``perm`` orders the edges by target (then source), ``perm_t`` reorders
    the target-sorted edges by source. Repeated edges are allowed (each is one entry)."""

    def __init__(self, edge_index: Tensor, num_src: int, num_dst: int):
        src, dst = edge_index[0], edge_index[1]
        # Sorted by (target, source), so that repeated edges are neighbours.
        key = dst * num_src + src
        if key.numel() > 1 and not bool((key[1:] >= key[:-1]).all()):
            self.perm: Optional[Tensor] = torch.argsort(key)
            src, dst, key = src[self.perm], dst[self.perm], key[self.perm]
        else:
            self.perm = None
        # sampled_addmm coalesces repeated entries (a multigraph): gather those instead.
        self.repeated = key.numel() > 1 and bool((key[1:] == key[:-1]).any())
        self.src, self.dst = src, dst
        self.size = (num_dst, num_src)
        self.crow = _pointer(dst, num_dst)
        self.perm_t = torch.argsort(src, stable=True)
        self.crow_t = _pointer(src, num_src)
        self.col_t = dst[self.perm_t]

    @property
    def num_edges(self) -> int:
        return self.src.numel()

    def matrix(self, values: Tensor) -> Tensor:
        """The ``[num_dst, num_src]`` CSR matrix with ``values`` in target order."""
        return _csr(self.crow, self.src, values, self.size)

    def matrix_t(self, values: Tensor) -> Tensor:
        """The transposed ``[num_src, num_dst]`` CSR matrix (``values`` in target order)."""
        return _csr(self.crow_t, self.col_t, values[self.perm_t], self.size[::-1])

    def sampled_dot(self, a: Tensor, b: Tensor) -> Tensor:
        r"""``<a[dst_e], b[src_e]>`` for every edge, in target order."""
        if (
            a.dtype in (torch.float32, torch.float64)
            and a.numel()
            and b.numel()
            and not self.repeated
        ):
            dummy = _csr(self.crow, self.src, a.new_zeros(self.num_edges), self.size)
            return torch.sparse.sampled_addmm(dummy, a, b.t(), beta=0.0).values()
        return (a.index_select(0, self.dst) * b.index_select(0, self.src)).sum(-1)

    def row_sum(self, values: Tensor) -> Tensor:
        out = values.new_zeros(self.size[0])
        return out.index_add_(0, self.dst, values)

    def row_softmax(self, score: Tensor) -> Tensor:
        """Softmax over the edges of each target row (rows without edges stay empty)."""
        row_max = score.new_full((self.size[0],), float("-inf"))
        # The shift cancels in the ratio; detached so that it adds nothing to the graph.
        row_max = row_max.scatter_reduce(0, self.dst, score.detach(), "amax", include_self=True)
        weight = (score - row_max.index_select(0, self.dst)).exp()
        return weight / self.row_sum(weight).index_select(0, self.dst)


def functorch_active() -> bool:
    """Whether a :mod:`torch.func` transform (grad, jvp, vmap, ...) is tracing."""
    return torch._C._functorch.peek_interpreter_stack() is not None


def functorch_vmap_active() -> bool:
    """Whether :func:`torch.func.vmap` is tracing: the autograd Functions here have no
    batching rule (a sparse CSR tensor cannot be batched), so the callers take the
    gather/scatter forms, as under :func:`torch.compile`. ``grad`` and ``jvp`` are served
    by the Functions themselves (``setup_context``, ``jvp``)."""
    if not functorch_active():  # no transform: one C call
        return False
    from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters

    vmap = torch._C._functorch.TransformType.Vmap
    return any(level.key() == vmap for level in retrieve_all_functorch_interpreters())


def _autocast_off(x: Tensor):
    """These kernels choose their own precision (float32 for half inputs); autocast would
    cast the sparse products back to bf16/fp16, which CPU sparse kernels lack."""
    return torch.autocast(x.device.type, enabled=False)


def _mm(matrix: Tensor, x: Tensor) -> Tensor:
    with _autocast_off(x):
        if x.dtype in HALF:  # sparse kernels in half precision are not available everywhere
            return torch.sparse.mm(matrix.to(torch.float32), x.float()).to(x.dtype)
        return torch.sparse.mm(matrix.to(x.dtype), x)


class _Constant:
    """Holds a constant CSR matrix past :mod:`torch.func`, which wraps every tensor in the
    arguments of an autograd Function (inside tuples too); a CSR tensor cannot be wrapped
    ("Sparse CSR tensors do not have strides")."""

    __slots__ = ("value",)

    def __init__(self, value: Tensor):
        self.value = value


class _FixedSpMM(torch.autograd.Function):
    # forward and setup_context apart: torch.func (grad, jvp) calls only this form. While a
    # grad or jvp transform is active no CSR tensor can be touched (functorch would wrap
    # it), so jvp and a batched backward use the gather/scatter form of the adjacency.
    @staticmethod
    def forward(x: Tensor, adj: "GCNAdjacency", transpose: bool) -> Tensor:
        return _mm(adj.matrix_t if transpose else adj.matrix, x)

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, ctx.adj, ctx.transpose = inputs

    @staticmethod
    def backward(ctx, grad: Tensor):
        adj, transpose = ctx.adj, not ctx.transpose
        if functorch_vmap_active():  # e.g. torch.func.jacrev batches the backward pass
            return adj.gather_scatter(grad, transpose), None, None
        if torch.is_grad_enabled():  # create_graph: the backward of a product is a product
            return _FixedSpMM.apply(grad, adj, transpose), None, None
        return _mm(adj.matrix_t if transpose else adj.matrix, grad), None, None

    @staticmethod
    def jvp(ctx, x_t: Tensor, *_) -> Tensor:
        return ctx.adj.gather_scatter(x_t, ctx.transpose)


class _EdgeAttention(torch.autograd.Function):
    @staticmethod
    def forward(
        key_dst: Tensor,
        key_src: Tensor,
        value_src: Tensor,
        pattern: SparsePattern,
        scale: float,
    ):
        dtype = key_dst.dtype
        if dtype in HALF:
            key_dst, key_src, value_src = key_dst.float(), key_src.float(), value_src.float()
        with _autocast_off(key_dst):
            score = pattern.sampled_dot(key_dst, key_src)
            if scale != 1.0:
                score = score * scale
            alpha = pattern.row_softmax(score)
            out = torch.sparse.mm(pattern.matrix(alpha), value_src)
        return out.to(dtype), alpha

    @staticmethod
    def setup_context(ctx, inputs, output):
        key_dst, key_src, value_src, pattern, scale = inputs
        alpha = output[1]
        ctx.save_for_backward(key_dst, key_src, value_src, alpha)
        ctx.save_for_forward(key_dst, key_src, value_src, alpha)
        ctx.pattern, ctx.scale, ctx.dtype = pattern, scale, key_dst.dtype

    @staticmethod
    def jvp(ctx, key_dst_t, key_src_t, value_src_t, *_):
        """Forward mode (``torch.func.jvp``, ``torch.autograd.forward_ad``): the tangents
        of the scores, of the row softmax and of the weighted sum. Gather/scatter forms,
        not CSR products: under :func:`torch.func.jvp` these tensors are functorch
        wrappers, which a sparse CSR tensor cannot hold."""
        key_dst, key_src, value_src, alpha = ctx.saved_tensors
        src, dst = ctx.pattern.src, ctx.pattern.dst

        def edge(t: Optional[Tensor], index: Tensor) -> Optional[Tensor]:
            return None if t is None else t.to(alpha.dtype).index_select(0, index)

        key_dst_e, key_src_e, value_e = edge(key_dst, dst), edge(key_src, src), edge(value_src, src)
        key_dst_t, key_src_t, value_t = (
            edge(key_dst_t, dst),
            edge(key_src_t, src),
            edge(value_src_t, src),
        )
        d_score = torch.zeros_like(alpha)
        if key_dst_t is not None:
            d_score = d_score + (key_dst_t * key_src_e).sum(-1)
        if key_src_t is not None:
            d_score = d_score + (key_dst_e * key_src_t).sum(-1)
        d_score = d_score * ctx.scale
        d_alpha = alpha * (d_score - ctx.pattern.row_sum(alpha * d_score).index_select(0, dst))
        messages = d_alpha.unsqueeze(-1) * value_e
        if value_t is not None:
            messages = messages + alpha.unsqueeze(-1) * value_t
        d_out = messages.new_zeros(key_dst.size(0), messages.size(-1)).index_add(0, dst, messages)
        return d_out.to(ctx.dtype), d_alpha

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_alpha: Optional[Tensor]):
        key_dst, key_src, value_src, alpha = ctx.saved_tensors
        pattern: SparsePattern = ctx.pattern
        # create_graph=True (a backward autograd can differentiate) or a batched backward
        # (torch.func.jacrev, vmap over grad): gather/scatter, no CSR tensor
        if torch.is_grad_enabled() or functorch_vmap_active():
            grads = _edge_attention_backward_differentiable(
                key_dst, key_src, value_src, grad_out, grad_alpha, pattern, ctx.scale
            )
            return grads + (None, None)
        dtype = ctx.dtype
        if dtype in HALF:
            key_dst, key_src, value_src = key_dst.float(), key_src.float(), value_src.float()
        with _autocast_off(alpha):
            grad_out = grad_out.to(alpha.dtype)
            grad_value = torch.sparse.mm(pattern.matrix_t(alpha), grad_out)
            d_alpha = pattern.sampled_dot(grad_out, value_src)
            if grad_alpha is not None:
                d_alpha = d_alpha + grad_alpha
            # softmax backward per target row: alpha * (d_alpha - sum_row(alpha * d_alpha))
            d_score = alpha * (
                d_alpha - pattern.row_sum(alpha * d_alpha).index_select(0, pattern.dst)
            )
            if ctx.scale != 1.0:
                d_score = d_score * ctx.scale
            grad_key_dst = torch.sparse.mm(pattern.matrix(d_score), key_src)
            grad_key_src = torch.sparse.mm(pattern.matrix_t(d_score), key_dst)
        return grad_key_dst.to(dtype), grad_key_src.to(dtype), grad_value.to(dtype), None, None


def _edge_attention_backward_differentiable(
    key_dst: Tensor,
    key_src: Tensor,
    value_src: Tensor,
    grad_out: Tensor,
    grad_alpha: Optional[Tensor],
    pattern: SparsePattern,
    scale: float,
) -> Tuple[Tensor, Tensor, Tensor]:
    """The backward of :class:`_EdgeAttention` as differentiable operations on the inputs
    (``alpha`` is recomputed so that its own dependence on the keys is recorded)."""
    src, dst = pattern.src, pattern.dst
    score = (key_dst.index_select(0, dst) * key_src.index_select(0, src)).sum(-1) * scale
    alpha = pattern.row_softmax(score)
    grad_out = grad_out.to(value_src.dtype)
    grad_out_e = grad_out.index_select(0, dst)
    grad_value = torch.zeros_like(value_src).index_add(0, src, grad_out_e * alpha.unsqueeze(-1))
    d_alpha = (grad_out_e * value_src.index_select(0, src)).sum(-1)
    if grad_alpha is not None:
        d_alpha = d_alpha + grad_alpha.to(d_alpha.dtype)
    d_score = alpha * (d_alpha - pattern.row_sum(alpha * d_alpha).index_select(0, dst)) * scale
    d_score = d_score.unsqueeze(-1)
    grad_key_dst = torch.zeros_like(key_dst).index_add(
        0, dst, d_score * key_src.index_select(0, src)
    )
    grad_key_src = torch.zeros_like(key_src).index_add(
        0, src, d_score * key_dst.index_select(0, dst)
    )
    return grad_key_dst, grad_key_src, grad_value


def edge_attention(
    key_dst: Tensor,
    key_src: Tensor,
    value_src: Tensor,
    edge_index: Tensor,
    scale_scores: bool = False,
) -> Tuple[Tensor, Tensor]:
    r"""Fused eq. 6–8 of MSPAN: per edge :math:`x \rightarrow y` the score
    :math:`\langle k^{dst}_y, k^{src}_x \rangle` (divided by :math:`\sqrt{H}` with
    ``scale_scores``), a softmax over the incoming edges of every target and the
    weighted sum of :math:`v^{src}_x`. Only one scalar per edge is stored.

    Returns the aggregated ``[num_dst, H]`` and the weights ``[E]`` in the order of
    ``edge_index``. The indices must lie inside the node sets (the CSR tensors are built
    without invariant checks): :class:`~mspan_pyg.nn.CrossScaleAttention` validates them.
    """
    pattern = SparsePattern(edge_index, key_src.size(0), key_dst.size(0))
    scale = 1.0 / math.sqrt(key_dst.size(-1)) if scale_scores else 1.0
    out, alpha = _EdgeAttention.apply(key_dst, key_src, value_src, pattern, scale)
    if pattern.perm is not None:
        alpha = alpha.new_empty(alpha.shape).index_copy(0, pattern.perm, alpha)
    return out, alpha


class GCNAdjacency:
    r"""The normalized adjacency :math:`\mathbf{D}^{-1/2} (\mathbf{A} + \mathbf{I})
    \mathbf{D}^{-1/2}` of :class:`~torch_geometric.nn.conv.GCNConv` (its
    :func:`~torch_geometric.nn.conv.gcn_conv.gcn_norm`, self loops added), computed
    once and applied as a CSR product: :math:`\hat{\mathbf{A}} \mathbf{X}` equals
    GCNConv's propagation without gathering one ``D``-row per edge."""

    def __init__(self, edge_index: Tensor, num_nodes: int, dtype: torch.dtype = torch.float32):
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        edge_index, weight = gcn_norm(edge_index, None, num_nodes, add_self_loops=True, dtype=dtype)
        pattern = SparsePattern(edge_index, num_nodes, num_nodes)
        if pattern.perm is not None:
            weight = weight[pattern.perm]
        self.num_nodes = num_nodes
        self.src, self.dst, self.weight = pattern.src, pattern.dst, weight
        self.matrix = pattern.matrix(weight)
        self.matrix_t = pattern.matrix_t(weight)

    def __matmul__(self, x: Tensor) -> Tensor:
        # Dynamo traces no CSR tensor and vmap batches none: gather and scatter.
        if torch.compiler.is_compiling() or functorch_vmap_active():
            return self.gather_scatter(x)
        return _FixedSpMM.apply(x, self, False)

    def gather_scatter(self, x: Tensor, transpose: bool = False) -> Tensor:
        r""":math:`\hat{\mathbf{A}} \mathbf{X}` (or :math:`\hat{\mathbf{A}}^\top
        \mathbf{X}`) as GCNConv's gather and scatter, without CSR tensors."""
        src, dst = (self.dst, self.src) if transpose else (self.src, self.dst)
        messages = x.index_select(0, src) * self.weight.to(x.dtype).unsqueeze(-1)
        return x.new_zeros((self.num_nodes,) + x.shape[1:]).index_add(0, dst, messages)


def gather_rows(x: Tensor, index: Tensor) -> Tensor:
    r"""``x[index]`` whose backward is a CSR product instead of the (slow on CPU)
    ``index_add`` of :func:`torch.index_select`; e.g. one question row per node."""
    if (
        not (torch.is_grad_enabled() and x.requires_grad)
        or index.numel() == 0
        or torch.compiler.is_compiling()
        or functorch_active()  # no CSR tensor can be built while a transform traces
    ):
        return x.index_select(0, index)
    rows = torch.arange(index.numel(), device=index.device)
    pattern = SparsePattern(torch.stack([index, rows]), x.size(0), index.numel())
    ones = torch.ones(
        index.numel(),
        dtype=torch.float64 if x.dtype == torch.float64 else torch.float32,
        device=x.device,
    )
    return _Gather.apply(x, index, _Constant(pattern.matrix_t(ones)))


class _Gather(torch.autograd.Function):
    @staticmethod
    def forward(x: Tensor, index: Tensor, matrix_t: _Constant) -> Tensor:
        return x.index_select(0, index)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, index, matrix_t = inputs
        ctx.save_for_backward(index)
        ctx.index, ctx.matrix_t, ctx.num_rows = index, matrix_t.value, x.size(0)

    @staticmethod
    def backward(ctx, grad: Tensor):
        # create_graph or a batched backward (torch.func.jacrev): the differentiable scatter
        if torch.is_grad_enabled() or functorch_vmap_active():
            (index,) = ctx.saved_tensors
            out = grad.new_zeros((ctx.num_rows,) + grad.shape[1:])
            return out.index_add(0, index, grad), None, None
        return _mm(ctx.matrix_t, grad), None, None

    @staticmethod
    def jvp(ctx, x_t: Tensor, *_) -> Tensor:
        return x_t.index_select(0, ctx.index)
