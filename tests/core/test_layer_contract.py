"""CrossScaleAttention keeps PyG's layer contract on both paths (fused kernel and message
passing), modelled on PyG's test/nn/conv tests: index validation, double backward, sparse
adjacencies, torch.compile / torch.export, lazy sizes, HeteroConv conventions."""

import pytest
import torch
import torch._dynamo
import torch_geometric.typing
from torch_geometric.data import Data, HeteroData
from torch_geometric.nn import GATConv, HeteroConv
from torch_geometric.transforms import ToSparseTensor
from torch_geometric.utils import to_torch_coo_tensor

from mspan_pyg import CrossScaleAttention

DT = torch.float64
PATHS = pytest.mark.parametrize("fused", [True, False])


def make_inputs(seed=0, num_src=9, num_dst=6, num_edges=25):
    g = torch.Generator().manual_seed(seed)
    x_src = torch.randn(num_src, 6, dtype=DT, generator=g)
    x_dst = torch.randn(num_dst, 5, dtype=DT, generator=g)
    query = torch.randn(3, 4, dtype=DT, generator=g)
    batch = torch.arange(num_src) * 3 // num_src
    pairs = torch.randperm(num_src * (num_dst - 1), generator=g)[:num_edges]  # distinct edges
    edge_index = torch.stack([pairs // (num_dst - 1), pairs % (num_dst - 1)])
    return x_src, x_dst, query, batch, edge_index


def make_layer(fused=True, **kwargs):
    torch.manual_seed(0)
    return CrossScaleAttention((6, 5), 4, hidden_channels=7, fused=fused, **kwargs).to(DT)


@PATHS
@pytest.mark.parametrize(
    "row,value,message",
    [
        (0, 10**7, "larger than 8"),  # a huge source index crashed the fused kernel
        (0, 9, "larger than 8"),  # one past the end was silently dropped
        (0, -1, "negative"),
        (1, 6, "larger than 5"),
    ],
)
def test_out_of_range_indices_raise_like_propagate(fused, row, value, message):
    x_src, x_dst, query, batch, edge_index = make_inputs()
    edge_index[row, 3] = value
    with pytest.raises(IndexError, match=message):
        make_layer(fused)((x_src, x_dst), edge_index, query, batch)
    if row == 0 and value > 0:  # the same error kind as PyG's own layers
        with pytest.raises(IndexError):
            GATConv(6, 2, add_self_loops=False).double()(x_src, edge_index)


@PATHS
def test_malformed_edge_index(fused):
    x_src, x_dst, query, batch, edge_index = make_inputs()
    att = make_layer(fused)
    with pytest.raises(ValueError, match="integer"):
        att((x_src, x_dst), edge_index.double(), query, batch)
    with pytest.raises(ValueError, match=r"\[2, num_edges\]"):
        att((x_src, x_dst), edge_index[:1], query, batch)


@PATHS
def test_gradgradcheck(fused):
    x_src, x_dst, query, batch, edge_index = make_inputs(num_src=5, num_dst=4, num_edges=9)
    att = make_layer(fused)
    inputs = [t.requires_grad_() for t in (x_src, x_dst, query)]

    def fn(x_src, x_dst, query):
        return att((x_src, x_dst), edge_index, query, batch)

    assert torch.autograd.gradgradcheck(fn, inputs)


@pytest.mark.parametrize("wrt", ["x_src", "x_dst", "query"])
def test_gradient_penalty_equal_on_both_paths(wrt):
    x_src, x_dst, query, batch, edge_index = make_inputs()
    results = []
    for fused in (True, False):
        att = make_layer(fused)
        inputs = dict(x_src=x_src, x_dst=x_dst, query=query)
        inputs = {k: v.clone().requires_grad_() for k, v in inputs.items()}
        out, (_, alpha) = att(
            (inputs["x_src"], inputs["x_dst"]),
            edge_index,
            inputs["query"],
            batch,
            return_attention_weights=True,
        )
        loss = out.square().sum() + alpha.square().sum()
        (grad,) = torch.autograd.grad(loss, inputs[wrt], create_graph=True)
        penalty = grad.square().sum()
        results.append(torch.autograd.grad(penalty, list(inputs.values()) + list(att.parameters())))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-10)


def sparse_adjacencies(edge_index, num_src, num_dst):
    adj = to_torch_coo_tensor(edge_index.flip(0), size=(num_dst, num_src))  # targets x sources
    yield "coo", adj
    yield "csr", adj.to_sparse_csr()
    yield "csc", adj.to_sparse_csc()


@pytest.mark.filterwarnings("ignore:Sparse invariant checks")
@PATHS
def test_sparse_adjacencies_agree_with_edge_index(fused):
    x_src, x_dst, query, batch, edge_index = make_inputs()
    att = make_layer(fused)
    expected, (_, alpha) = att(
        (x_src, x_dst), edge_index, query, batch, return_attention_weights=True
    )
    weight = torch.zeros(6, 9, dtype=DT)
    weight[edge_index[1], edge_index[0]] = alpha
    gat = GATConv((6, 5), 2, add_self_loops=False).double()
    for layout, adj in sparse_adjacencies(edge_index, 9, 6):
        out, (adj_alpha, alpha_sparse) = att(
            (x_src, x_dst), adj, query, batch, return_attention_weights=True
        )
        assert torch.allclose(out, expected, atol=1e-12), layout
        # GATConv's form for a torch.sparse input: (adjacency with the weights, weights)
        assert adj_alpha.layout == adj.layout
        if layout != "csc":  # GATConv itself rejects CSC
            _, (gat_adj, _) = gat((x_src, x_dst), adj, return_attention_weights=True)
            assert gat_adj.layout == adj.layout
        assert torch.allclose(adj_alpha.to_dense(), weight, atol=1e-12), layout
        assert alpha_sparse.shape == alpha.shape


@PATHS
def test_to_sparse_tensor_transform(fused):
    x_src, _, query, _, edge_index = make_inputs(num_src=6)
    data = Data(x=x_src[:, :5].contiguous(), edge_index=edge_index, num_nodes=6)
    sparse = ToSparseTensor()(data.clone())
    torch.manual_seed(0)
    att = CrossScaleAttention(5, 4, fused=fused).to(DT)
    q = query[:1]
    assert torch.allclose(
        att(sparse.x, sparse.adj_t, q), att(data.x, data.edge_index, q), atol=1e-12
    )


@pytest.mark.skipif(not torch_geometric.typing.WITH_TORCH_SPARSE, reason="torch-sparse")
@PATHS
def test_torch_sparse_tensor(fused):
    from torch_sparse import SparseTensor

    x_src, x_dst, query, batch, edge_index = make_inputs()
    att = make_layer(fused)
    expected, (_, alpha) = att(
        (x_src, x_dst), edge_index, query, batch, return_attention_weights=True
    )
    adj = SparseTensor(row=edge_index[1], col=edge_index[0], sparse_sizes=(6, 9))
    out, adj_alpha = att((x_src, x_dst), adj, query, batch, return_attention_weights=True)
    assert torch.allclose(out, expected, atol=1e-12)
    weight = torch.zeros(6, 9, dtype=DT)
    weight[edge_index[1], edge_index[0]] = alpha
    assert torch.allclose(adj_alpha.to_dense(), weight, atol=1e-12)


def test_export_with_batch():
    x_src, x_dst, query, batch, edge_index = make_inputs()
    att = make_layer().eval()
    program = torch.export.export(att, ((x_src, x_dst), edge_index, query, batch))
    expected = att((x_src, x_dst), edge_index, query, batch)
    assert torch.allclose(program.module()((x_src, x_dst), edge_index, query, batch), expected)
    assert not torch._dynamo.config.suppress_errors


@pytest.mark.slow
def test_compile_fullgraph_inference_and_training_step():
    x_src, x_dst, query, batch, edge_index = make_inputs()
    att = make_layer()
    compiled = torch.compile(att, fullgraph=True)
    assert torch.allclose(
        compiled((x_src, x_dst), edge_index, query, batch),
        att((x_src, x_dst), edge_index, query, batch),
        atol=1e-12,
    )
    att.train()
    compiled((x_src, x_dst), edge_index, query, batch).square().sum().backward()
    compiled_grads = [p.grad.clone() for p in att.parameters()]
    att.zero_grad()
    att((x_src, x_dst), edge_index, query, batch).square().sum().backward()
    for a, p in zip(compiled_grads, att.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-10)
    assert not torch._dynamo.config.suppress_errors


@PATHS
def test_lazy_sizes(fused):
    x_src, x_dst, query, batch, edge_index = make_inputs()
    torch.manual_seed(0)
    att = CrossScaleAttention((-1, -1), 4, hidden_channels=7, out_channels=3, fused=fused)
    att = att.to(DT)
    out = att((x_src, x_dst), edge_index, query, batch)
    assert out.shape == (6, 3)
    assert att.lin_src_key.in_channels == 6 and att.lin_out.in_channels == 5 + 7
    assert str(att) == "CrossScaleAttention((-1, -1), 3, query_channels=4, hidden_channels=7)"
    with pytest.raises(ValueError, match="out_channels"):
        CrossScaleAttention(-1, 4)


def test_several_questions_need_batch():
    x_src, x_dst, query, _, edge_index = make_inputs()
    with pytest.raises(ValueError, match="3 questions but no 'batch'"):
        make_layer()((x_src, x_dst), edge_index, query)


def test_batch_and_query_as_tuples():
    x_src, x_dst, query, batch, edge_index = make_inputs()
    att = make_layer()
    expected = att((x_src, x_dst), edge_index, query, batch)
    batch_dst = torch.zeros(6, dtype=torch.long)
    out = att((x_src, x_dst), edge_index, (query, query), (batch, batch_dst))
    assert torch.equal(out, expected)


def hetero_graph(seed, num_a, num_b):
    g = torch.Generator().manual_seed(seed)
    data = HeteroData()
    data["a"].x = torch.randn(num_a, 6, dtype=DT, generator=g)
    data["b"].x = torch.randn(num_b, 5, dtype=DT, generator=g)
    data["a", "to", "b"].edge_index = torch.stack(
        [torch.randint(0, num_a, (7,), generator=g), torch.randint(0, num_b, (7,), generator=g)]
    )
    data["b", "near", "b"].edge_index = torch.stack(
        [torch.randint(0, num_b, (5,), generator=g), torch.randint(0, num_b, (5,), generator=g)]
    )
    data.question = torch.randn(1, 4, dtype=DT, generator=g)
    return data


@pytest.mark.filterwarnings("ignore:There exist node types")  # node type 'a' is only a source
@PATHS
def test_heteroconv_batched_equals_each_graph_alone(fused):
    from torch_geometric.data import Batch

    torch.manual_seed(0)
    conv = HeteroConv(
        {
            ("a", "to", "b"): CrossScaleAttention((-1, -1), 4, out_channels=3, fused=fused),
            ("b", "near", "b"): CrossScaleAttention(-1, 4, out_channels=3, fused=fused),
        }
    ).to(DT)
    graphs = [hetero_graph(0, 4, 3), hetero_graph(1, 5, 2)]
    alone = []
    for data in graphs:
        q = data.question
        alone.append(conv(data.x_dict, data.edge_index_dict, query_dict={"a": q, "b": q})["b"])
    batch = Batch.from_data_list(graphs)
    q = batch.question  # [2, Q]: one question per graph
    out = conv(
        batch.x_dict,
        batch.edge_index_dict,
        query_dict={"a": q, "b": q},
        batch_dict=batch.batch_dict,
    )["b"]
    assert torch.allclose(out, torch.cat(alone), atol=1e-12)


def test_repeated_edges_equal_on_both_paths():
    # A multigraph: sampled_addmm coalesces repeated entries, the fused path must not.
    x_src, x_dst, query, batch, edge_index = make_inputs()
    edge_index = torch.cat([edge_index, edge_index[:, :6]], dim=1)
    results = [
        make_layer(fused)((x_src, x_dst), edge_index, query, batch, return_attention_weights=True)
        for fused in (True, False)
    ]
    (out_f, (_, alpha_f)), (out_g, (_, alpha_g)) = results
    assert torch.allclose(out_f, out_g, atol=1e-12)
    assert torch.allclose(alpha_f, alpha_g, atol=1e-12)


class QuestionNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.att = CrossScaleAttention((-1, -1), 4, out_channels=3)

    def forward(self, x, edge_index, query, batch):
        return self.att(x, edge_index, query, batch)


def test_to_hetero_batched_equals_each_graph_alone():
    from torch_geometric.data import Batch
    from torch_geometric.nn import to_hetero

    graphs = [hetero_graph(0, 4, 3), hetero_graph(1, 5, 2)]
    for data in graphs:  # every node type is a target, as to_hetero expects
        data["b", "back", "a"].edge_index = data["a", "to", "b"].edge_index.flip(0)
    torch.manual_seed(0)
    model = to_hetero(QuestionNet(), graphs[0].metadata(), aggr="sum").to(DT)
    batch = Batch.from_data_list(graphs)
    out = model(
        batch.x_dict,
        batch.edge_index_dict,
        {t: batch.question for t in batch.node_types},  # to_hetero: per-type (same) question
        batch.batch_dict,
    )
    alone = []
    for data in graphs:
        zeros = {t: torch.zeros(data[t].num_nodes, dtype=torch.long) for t in data.node_types}
        questions = {t: data.question for t in data.node_types}
        alone.append(model(data.x_dict, data.edge_index_dict, questions, zeros))
    for node_type in ("a", "b"):
        assert torch.allclose(out[node_type], torch.cat([a[node_type] for a in alone]), atol=1e-12)
