import pytest
import torch
from torch_geometric.utils import scatter

from mspan_pyg import CrossScaleAttention
from mspan_pyg.testing.dense_reference import dense_attention


def random_bipartite(num_src, num_dst, num_edges, generator):
    """Distinct random edges; the last target is left without incoming edges."""
    pairs = torch.randperm(num_src * (num_dst - 1), generator=generator)[:num_edges]
    return torch.stack([pairs // (num_dst - 1), pairs % (num_dst - 1)])


def make_layer(scale_scores=False, fused=True):
    torch.manual_seed(1)
    return CrossScaleAttention(
        6, 5, hidden_channels=4, scale_scores=scale_scores, fused=fused
    ).double()


def test_repr_and_defaults():
    att = CrossScaleAttention(16, 8)
    assert str(att) == "CrossScaleAttention(16, 16, query_channels=8, hidden_channels=8)"
    assert att.lin_out.in_channels == 16 + 8
    att = CrossScaleAttention((16, 12), 8, hidden_channels=4, out_channels=3)
    assert att.lin_out.in_channels == 12 + 4 and att.lin_out.out_channels == 3
    assert str(att) == "CrossScaleAttention((16, 12), 3, query_channels=8, hidden_channels=4)"
    assert att.fused and not CrossScaleAttention(4, 2, fused=False).fused


@pytest.mark.parametrize("fused", [True, False])  # fused kernel and PyG's scatter softmax
@pytest.mark.parametrize("scale_scores", [False, True])
def test_matches_dense_oracle(scale_scores, fused):
    gen = torch.Generator().manual_seed(0)
    att = make_layer(scale_scores, fused)
    for _ in range(5):
        x_src = torch.randn(7, 6, dtype=torch.double, generator=gen)
        x_dst = torch.randn(5, 6, dtype=torch.double, generator=gen)
        query = torch.randn(1, 5, dtype=torch.double, generator=gen)
        edge_index = random_bipartite(7, 5, 15, gen)
        out, (ei, alpha) = att((x_src, x_dst), edge_index, query, return_attention_weights=True)
        adj = torch.zeros(1, 5, 7, dtype=torch.bool)
        adj[0, edge_index[1], edge_index[0]] = True
        expected, weight = dense_attention(att, x_src[None], x_dst[None], adj, query)
        assert out.shape == (5, 6)
        assert torch.allclose(out, expected[0], atol=1e-12)
        assert torch.equal(ei, edge_index)
        assert torch.allclose(alpha, weight[0, edge_index[1], edge_index[0]], atol=1e-12)


def test_attention_normalised_and_isolated_target_gets_zero_message():
    gen = torch.Generator().manual_seed(0)
    att = make_layer()
    x_src, x_dst = torch.randn(7, 6).double(), torch.randn(5, 6).double()
    query = torch.randn(1, 5).double()
    edge_index = random_bipartite(7, 5, 12, gen)
    out, (_, alpha) = att((x_src, x_dst), edge_index, query, return_attention_weights=True)
    sums = scatter(alpha, edge_index[1], dim_size=5, reduce="sum")
    has_edges = torch.zeros(5, dtype=torch.bool)
    has_edges[edge_index[1]] = True
    assert torch.allclose(sums[has_edges], torch.ones(int(has_edges.sum())).double())
    assert not has_edges[4]
    # target 4 has no incoming edge: its message is zero, so out = W6 [x_4 ; 0]
    expected = att.lin_out(torch.cat([x_dst[4], torch.zeros(4).double()]))
    assert torch.allclose(out[4], expected)
    assert torch.isfinite(out).all()


def test_stable_for_huge_and_equal_scores():
    att = CrossScaleAttention(3, 2, hidden_channels=2)
    x_src = torch.full((3, 3), 1e4)
    x_dst = torch.full((1, 3), 1e4)
    edge_index = torch.tensor([[0, 1, 2], [0, 0, 0]])
    out, (_, alpha) = att(
        (x_src, x_dst), edge_index, torch.ones(1, 2), return_attention_weights=True
    )
    assert torch.isfinite(out).all()
    assert torch.allclose(alpha, torch.full((3,), 1 / 3))


def test_locality():
    # Changing a source with no edge into y leaves out[y] unchanged (the authors'
    # dense softmax over all clips fails this).
    att = make_layer()
    x_src, x_dst = torch.randn(4, 6).double(), torch.randn(2, 6).double()
    query = torch.randn(1, 5).double()
    edge_index = torch.tensor([[0, 1, 2, 3], [0, 0, 1, 1]])
    out = att((x_src, x_dst), edge_index, query)
    x_src[2:] = 100 * torch.randn(2, 6).double()
    out2 = att((x_src, x_dst), edge_index, query)
    assert torch.equal(out[0], out2[0])
    assert not torch.allclose(out[1], out2[1])


def test_edge_order_invariance():
    gen = torch.Generator().manual_seed(3)
    att = make_layer()
    x_src, x_dst = torch.randn(7, 6).double(), torch.randn(5, 6).double()
    query = torch.randn(1, 5).double()
    edge_index = random_bipartite(7, 5, 14, gen)
    perm = torch.randperm(edge_index.size(1), generator=gen)
    out, (_, alpha) = att((x_src, x_dst), edge_index, query, return_attention_weights=True)
    out2, (_, alpha2) = att(
        (x_src, x_dst), edge_index[:, perm], query, return_attention_weights=True
    )
    assert torch.allclose(out, out2, atol=1e-12)
    assert torch.allclose(alpha[perm], alpha2, atol=1e-12)


def test_batching_invariance():
    # Two graphs batched, each with its own question, equal each graph run alone.
    att = make_layer()
    xs_a, xd_a, q_a = torch.randn(3, 6).double(), torch.randn(2, 6).double(), torch.randn(1, 5)
    xs_b, xd_b, q_b = torch.randn(4, 6).double(), torch.randn(3, 6).double(), torch.randn(1, 5)
    e_a = torch.tensor([[0, 1, 2, 2], [0, 0, 1, 0]])
    e_b = torch.tensor([[0, 1, 3, 2], [0, 1, 2, 2]])
    out_a = att((xs_a, xd_a), e_a, q_a.double())
    out_b = att((xs_b, xd_b), e_b, q_b.double())
    edge_index = torch.cat([e_a, e_b + torch.tensor([[3], [2]])], dim=1)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    out = att(
        (torch.cat([xs_a, xs_b]), torch.cat([xd_a, xd_b])),
        edge_index,
        torch.cat([q_a, q_b]).double(),
        batch=batch,
    )
    assert torch.allclose(out, torch.cat([out_a, out_b]), atol=1e-12)


@pytest.mark.parametrize("fused", [True, False])
def test_same_node_set_and_gradcheck(fused):
    att = make_layer(fused=fused)
    x = torch.randn(5, 6, dtype=torch.double, requires_grad=True)
    query = torch.randn(1, 5, dtype=torch.double, requires_grad=True)
    edge_index = torch.tensor([[0, 1, 2, 3, 4, 0], [1, 2, 3, 4, 0, 2]])
    assert att(x, edge_index, query).shape == (5, 6)
    assert torch.autograd.gradcheck(lambda x, q: att(x, edge_index, q), (x, query))


def test_dropout_only_in_training():
    att = CrossScaleAttention(6, 5, dropout=0.5)
    x, query = torch.randn(4, 6), torch.randn(1, 5)
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 1, 1, 1]])
    att.eval()
    assert torch.equal(att(x, edge_index, query), att(x, edge_index, query))
    # in training mode the attention weights are dropped at random: two calls differ
    att.train()
    torch.manual_seed(0)
    assert not torch.equal(att(x, edge_index, query), att(x, edge_index, query))
