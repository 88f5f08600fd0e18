"""Every MessagePassing option of CrossScaleAttention gives the same numbers on the fused
kernel and on message passing (fused=False), behaves as it does for GATConv, or is refused
at construction; torch.func transforms run on both paths (issue #21)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import forward_ad
from torch_geometric.nn import GATConv, GCNConv
from torch_geometric.nn.aggr import MeanAggregation, SumAggregation
from torch_geometric.utils import scatter, to_torch_coo_tensor

from mspan_pyg import CrossScaleAttention
from mspan_pyg.nn import cross_scale_attention
from mspan_pyg.nn.sparse import GCNAdjacency, edge_attention, gather_rows

DT = torch.float64
PATHS = pytest.mark.parametrize("fused", [True, False])

# A bipartite graph: 7 sources in 2 graphs (2 questions), 5 targets; target 2 receives one
# edge, target 4 none, source 6 sends two edges (one of them repeated).
EDGE_INDEX = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 0, 6, 6], [0, 0, 1, 1, 2, 3, 3, 1, 0, 0]])
BATCH = torch.tensor([0, 0, 0, 1, 1, 1, 1])


def make_inputs(seed=0, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    x_src = torch.randn(7, 6, dtype=DT, generator=g)
    x_dst = torch.randn(5, 5, dtype=DT, generator=g)
    query = torch.randn(2, 4, dtype=DT, generator=g)
    return [t.requires_grad_(requires_grad) for t in (x_src, x_dst, query)]


def make_layer(fused=True, **kwargs):
    torch.manual_seed(0)
    return CrossScaleAttention((6, 5), 4, hidden_channels=6, fused=fused, **kwargs).to(DT)


def values(att, x_src, query):
    """The per-source values (W4 v_x) * (W5 q) that the weights multiply."""
    return att.lin_src_value(x_src) * att.lin_query_value(query)[BATCH]


# ---- aggr ---------------------------------------------------------------------------------

AGGRS = {  # name: (aggr argument, reduction of the alpha-weighted messages)
    "sum": ("sum", ["sum"]),
    "add": ("add", ["sum"]),
    "mean": ("mean", ["mean"]),
    "max": ("max", ["max"]),
    "min": ("min", ["min"]),
    "list": (["sum", "max"], ["sum", "max"]),
    "module": (MeanAggregation, ["mean"]),
}


def weighted_aggregation(messages, alpha, index, num_nodes, reduces):
    """What PyG's aggregation does to the weighted messages of an attention layer."""
    weighted = messages * alpha.reshape(-1, 1)  # GATConv's alpha is [E, heads=1]
    return torch.cat([scatter(weighted, index, 0, num_nodes, r) for r in reduces], dim=-1)


@PATHS
@pytest.mark.parametrize("name", list(AGGRS))
def test_aggr_applies_to_weighted_messages_as_in_gatconv(fused, name):
    aggr, reduces = AGGRS[name]
    aggr = aggr() if isinstance(aggr, type) else aggr
    x_src, x_dst, query = make_inputs()
    src, dst = EDGE_INDEX

    att = make_layer(fused, aggr=aggr)
    out, (_, alpha) = att((x_src, x_dst), EDGE_INDEX, query, BATCH, True)
    aggregated = weighted_aggregation(values(att, x_src, query)[src], alpha, dst, 5, reduces)
    assert att.lin_out.in_channels == 5 + 6 * len(reduces)
    assert torch.allclose(out, att.lin_out(torch.cat([x_dst, aggregated], -1)), atol=1e-12)
    reference = make_layer(False, aggr=aggr)((x_src, x_dst), EDGE_INDEX, query, BATCH)
    assert torch.allclose(out, reference, atol=1e-12)

    if name == "list":  # GATConv folds heads into the rows: a list gives it [2N, C] rows
        return
    # GATConv: the same aggregation of its alpha-weighted messages.
    torch.manual_seed(0)
    gat = GATConv(6, 6, add_self_loops=False, bias=False, aggr=aggr).to(DT)
    out, (_, alpha) = gat(x_src, EDGE_INDEX, return_attention_weights=True)
    expected = weighted_aggregation(gat.lin(x_src)[src], alpha, dst, 7, reduces)
    assert torch.allclose(out, expected, atol=1e-12)


@pytest.fixture
def fused_calls(monkeypatch):
    """A list that gains one entry per call of the fused kernel."""
    calls = []
    monkeypatch.setattr(
        cross_scale_attention,
        "edge_attention",
        lambda *a, **k: calls.append(1) or edge_attention(*a, **k),
    )
    return calls


def test_fused_kernel_runs_for_sum_and_mean_only(fused_calls):
    calls = fused_calls
    x_src, x_dst, query = make_inputs()
    for aggr in ("sum", "add", "mean", SumAggregation(), MeanAggregation()):
        make_layer(aggr=aggr)((x_src, x_dst), EDGE_INDEX, query, BATCH)
    assert calls == [1] * 5
    for aggr in ("max", ["sum", "mean"], "softmax"):
        make_layer(aggr=aggr)((x_src, x_dst), EDGE_INDEX, query, BATCH)
    assert calls == [1] * 5


def test_repr_names_options_that_change_the_numbers():
    assert (
        str(make_layer()) == "CrossScaleAttention((6, 5), 5, query_channels=4, hidden_channels=6)"
    )
    att = make_layer(aggr=["sum", "max"], flow="target_to_source")
    assert str(att) == (
        "CrossScaleAttention((6, 5), 5, query_channels=4, hidden_channels=6, "
        "aggr=['sum', 'max'], flow=target_to_source)"
    )


def test_aggr_none_is_refused():
    with pytest.raises(ValueError, match="needs an aggregation"):
        CrossScaleAttention(6, 4, aggr=None)


@PATHS
def test_subclass_methods_are_used_on_both_paths(fused):
    class Doubled(CrossScaleAttention):
        def message(self, value_j, alpha):
            return 2 * super().message(value_j, alpha)

    x_src, x_dst, query = make_inputs()
    torch.manual_seed(0)
    att = Doubled((6, 5), 4, hidden_channels=6, fused=fused).to(DT)
    out = att((x_src, x_dst), EDGE_INDEX, query, BATCH)
    _, (_, alpha) = att((x_src, x_dst), EDGE_INDEX, query, BATCH, True)
    aggregated = weighted_aggregation(
        2 * values(att, x_src, query)[EDGE_INDEX[0]], alpha, EDGE_INDEX[1], 5, ["sum"]
    )
    assert torch.allclose(out, att.lin_out(torch.cat([x_dst, aggregated], -1)), atol=1e-12)


# ---- flow ---------------------------------------------------------------------------------


@PATHS
def test_flow_target_to_source_reads_rows_as_target_source(fused):
    x_src, x_dst, query = make_inputs()
    reverse = EDGE_INDEX.flip(0)
    att = make_layer(fused, flow="target_to_source")
    out, (ei, alpha) = att((x_src, x_dst), reverse, query, BATCH, True)
    expected, (_, alpha_expected) = make_layer(False)(
        (x_src, x_dst), EDGE_INDEX, query, BATCH, True
    )
    assert torch.equal(ei, reverse)
    assert torch.allclose(out, expected, atol=1e-12)
    assert torch.allclose(alpha, alpha_expected, atol=1e-12)
    # one node set: messages go from row 1 to row 0
    x = torch.randn(5, 6, dtype=DT)
    homogeneous = CrossScaleAttention(6, 4, fused=fused, flow="target_to_source").to(DT)
    default = CrossScaleAttention(6, 4, fused=False).to(DT)
    default.load_state_dict(homogeneous.state_dict())
    ei = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 2]])
    assert torch.allclose(homogeneous(x, ei, query[:1]), default(x, ei.flip(0), query[:1]))


def test_flow_as_in_gatconv():
    # GATConv's own size bookkeeping needs one node set under target_to_source
    x_src, _, _ = make_inputs()
    torch.manual_seed(0)
    gat = GATConv(6, 3, add_self_loops=False).to(DT)
    torch.manual_seed(0)
    gat_reverse = GATConv(6, 3, add_self_loops=False, flow="target_to_source").to(DT)
    expected = gat(x_src, EDGE_INDEX)
    assert torch.allclose(gat_reverse(x_src, EDGE_INDEX.flip(0)), expected)


@PATHS
def test_flow_target_to_source_refuses_sparse_adjacency_like_propagate(fused):
    x_src, x_dst, query = make_inputs()
    adj = to_torch_coo_tensor(EDGE_INDEX.flip(0), size=(5, 7))
    with pytest.raises(ValueError, match="target_to_source"):
        make_layer(fused, flow="target_to_source")((x_src, x_dst), adj, query, BATCH)
    gat = GATConv((6, 5), 3, add_self_loops=False, flow="target_to_source").to(DT)
    with pytest.raises(ValueError, match="target_to_source"):
        gat((x_src, x_dst), adj)


def test_flow_validated_like_message_passing():
    with pytest.raises(ValueError, match="flow"):
        CrossScaleAttention(6, 4, flow="both")


# ---- node_dim, decomposed_layers ----------------------------------------------------------


@PATHS
def test_node_dim(fused):
    x_src, x_dst, query = make_inputs()
    expected = make_layer(False)((x_src, x_dst), EDGE_INDEX, query, BATCH)
    for node_dim in (0, -2):  # the node axis of [N, D] features
        out = make_layer(fused, node_dim=node_dim)((x_src, x_dst), EDGE_INDEX, query, BATCH)
        assert torch.allclose(out, expected, atol=1e-12)
    for node_dim in (1, -1):
        with pytest.raises(ValueError, match="node_dim"):
            make_layer(fused, node_dim=node_dim)


@PATHS
@pytest.mark.parametrize("aggr", ["sum", "mean", "max"])
def test_decomposed_layers_keep_the_numbers_as_in_gcnconv(fused, aggr):
    x_src, x_dst, query = make_inputs()
    expected = make_layer(False, aggr=aggr)((x_src, x_dst), EDGE_INDEX, query, BATCH)
    for parts in (2, 3, 6):  # values split in channels, weights from the whole keys
        att = make_layer(fused, aggr=aggr, decomposed_layers=parts)
        out = att((x_src, x_dst), EDGE_INDEX, query, BATCH)
        assert torch.allclose(out, expected, atol=1e-12)
    att.decomposed_layers = 1
    assert torch.allclose(att((x_src, x_dst), EDGE_INDEX, query, BATCH), expected, atol=1e-12)

    # PyG's layers: decomposition saves memory and keeps the numbers (GATConv itself
    # cannot split its (source, target) tuple of features: 'tuple' has no 'chunk').
    torch.manual_seed(0)
    gcn = GCNConv(6, 6, aggr=aggr).to(DT)
    expected = gcn(x_src, EDGE_INDEX)
    gcn.decomposed_layers = 2
    assert torch.allclose(gcn(x_src, EDGE_INDEX), expected, atol=1e-12)


def test_decomposed_layers_that_propagate_cannot_split_are_refused():
    # torch.chunk cuts 6 channels into 3 parts of 2 when asked for 4 or 5 parts
    for parts in (0, 4, 5, 7):
        with pytest.raises(ValueError, match="decomposed_layers"):
            make_layer(decomposed_layers=parts)
    att = make_layer()
    with pytest.raises(ValueError, match="decomposed_layers"):
        att.decomposed_layers = 4
    assert att.decomposed_layers == 1


# ---- torch.func ---------------------------------------------------------------------------


def func_transforms(att, x_src, x_dst, query):
    params = dict(att.named_parameters())
    tangents = [torch.randn_like(t) for t in (x_src, x_dst, query)]

    def layer(x_src, x_dst, query):
        return att((x_src, x_dst), EDGE_INDEX, query, BATCH)

    def loss(x_src, x_dst, query):
        return layer(x_src, x_dst, query).pow(2).sum()

    def loss_params(params):
        return torch.func.functional_call(att, params, ((x_src, x_dst), EDGE_INDEX, query, BATCH))

    stacked = [torch.stack([t, 2 * t]) for t in (x_src, x_dst, query)]
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(t, d) for t, d in zip((x_src, x_dst, query), tangents)]
        forward_mode = forward_ad.unpack_dual(layer(*duals)).tangent
    return {
        "grad": torch.func.grad(loss, argnums=(0, 1, 2))(x_src, x_dst, query),
        "grad_params": torch.func.grad(lambda p: loss_params(p).pow(2).sum())(params),
        "jvp": torch.func.jvp(layer, (x_src, x_dst, query), tuple(tangents)),
        "vmap": torch.func.vmap(layer)(*stacked),
        "vmap_grad": torch.func.vmap(torch.func.grad(loss))(*stacked),
        "jacrev": torch.func.jacrev(layer)(x_src, x_dst, query),
        "forward_ad": forward_mode,
    }


def test_torch_func_transforms_equal_on_both_paths():
    x_src, x_dst, query = make_inputs()
    torch.manual_seed(1)
    fused = func_transforms(make_layer(True), x_src, x_dst, query)
    torch.manual_seed(1)
    generic = func_transforms(make_layer(False), x_src, x_dst, query)
    for name in fused:
        a, b = (
            torch.utils._pytree.tree_leaves(fused[name]),
            torch.utils._pytree.tree_leaves(generic[name]),
        )
        assert len(a) == len(b) > 0, name
        for t, u in zip(a, b):
            assert torch.allclose(t, u, atol=1e-10), name


def test_fused_kernel_serves_grad_and_jvp_and_leaves_vmap(fused_calls):
    calls = fused_calls
    x_src, x_dst, query = make_inputs()
    att = make_layer()

    def layer(x_src):
        return att((x_src, x_dst), EDGE_INDEX, query, BATCH)

    torch.func.grad(lambda x: layer(x).sum())(x_src)
    torch.func.jvp(layer, (x_src,), (x_src,))
    assert calls == [1, 1]
    torch.func.vmap(layer)(torch.stack([x_src, x_src]))  # no batching rule for CSR tensors
    assert calls == [1, 1]


def test_torch_func_over_the_sparse_helpers():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 1, 2, 3, 3], [1, 2, 3, 0, 1]])
    adj = GCNAdjacency(edge_index, 4, dtype=DT)
    dense = torch.zeros(4, 4, dtype=DT)
    dense.index_put_((adj.dst, adj.src), adj.weight, accumulate=True)
    x, t = torch.randn(4, 3, dtype=DT), torch.randn(4, 3, dtype=DT)
    index = torch.tensor([2, 0, 2, 1])

    def f(x):
        return adj @ x

    def g(x):
        return gather_rows(x, index)

    assert torch.allclose(torch.func.jvp(f, (x,), (t,))[1], dense @ t)
    assert torch.allclose(
        torch.func.grad(lambda x: f(x).sum())(x), dense.sum(0)[:, None].expand(4, 3)
    )
    assert torch.allclose(
        torch.func.vmap(f)(torch.stack([x, t])), torch.stack([dense @ x, dense @ t])
    )
    assert torch.allclose(torch.func.jvp(g, (x,), (t,))[1], t[index])
    grad = torch.func.grad(lambda x: g(x).sum())(x)
    assert torch.equal(grad, torch.bincount(index, minlength=4)[:, None].to(DT).expand(4, 3))
    assert torch.equal(torch.func.vmap(g)(torch.stack([x, t])), torch.stack([x[index], t[index]]))
    with forward_ad.dual_level():  # forward mode outside torch.func: the Functions' jvp
        dual = forward_ad.make_dual(x.requires_grad_(), t)
        assert torch.allclose(forward_ad.unpack_dual(f(dual)).tangent, dense @ t)
        assert torch.equal(forward_ad.unpack_dual(g(dual)).tangent, t[index])


# ---- every accepted combination (hypothesis) ----------------------------------------------

HIDDEN = 6
OPTIONS = st.fixed_dictionaries(
    {
        "aggr": st.sampled_from(["sum", "add", "mean", "max", "min", "softmax", ("sum", "mean")]),
        "flow": st.sampled_from(["source_to_target", "target_to_source"]),
        "node_dim": st.sampled_from([0, -2]),
        "decomposed_layers": st.sampled_from([1, 2, 3, 6]),
        "scale_scores": st.booleans(),
        "bias": st.booleans(),
        "dropout": st.sampled_from([0.0, 0.5]),  # inference: no dropout on either path
    }
)


@settings(max_examples=30, deadline=None)
@given(
    options=OPTIONS,
    bipartite=st.booleans(),
    num_edges=st.integers(0, 14),
    seed=st.integers(0, 2**16),
)
def test_any_accepted_options_equal_on_both_paths(options, bipartite, num_edges, seed):
    g = torch.Generator().manual_seed(seed)
    num_src, num_dst = (6, 4) if bipartite else (5, 5)
    x_src = torch.randn(num_src, 3, dtype=DT, generator=g, requires_grad=True)
    x_dst = torch.randn(num_dst, 3, dtype=DT, generator=g, requires_grad=True)
    query = torch.randn(2, 4, dtype=DT, generator=g, requires_grad=True)
    batch = torch.arange(num_src) * 2 // num_src
    edge_index = torch.stack(  # repeated edges allowed
        [
            torch.randint(0, num_src, (num_edges,), generator=g),
            torch.randint(0, num_dst, (num_edges,), generator=g),
        ]
    )
    if options["flow"] == "target_to_source":
        edge_index = edge_index.flip(0)
    options = dict(options)
    aggr = options.pop("aggr")
    aggr = list(aggr) if isinstance(aggr, tuple) else aggr
    x = (x_src, x_dst) if bipartite else x_src

    outputs = []
    for fused in (True, False):
        torch.manual_seed(seed)
        att = CrossScaleAttention(3, 4, hidden_channels=HIDDEN, fused=fused, aggr=aggr, **options)
        att = att.to(DT).eval()
        out, (_, alpha) = att(x, edge_index, query, batch, return_attention_weights=True)
        inputs = [x_src, query] + ([x_dst] if bipartite else []) + list(att.parameters())
        weight = torch.randn(out.shape, dtype=DT, generator=torch.Generator().manual_seed(1))
        grads = torch.autograd.grad((out * weight).sum(), inputs, allow_unused=True)
        grads = [torch.zeros_like(t) if d is None else d for t, d in zip(inputs, grads)]
        outputs.append([out, alpha] + grads)
    for a, b in zip(*outputs):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-10)
