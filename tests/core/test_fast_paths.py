"""The fast paths (mspan_pyg.nn.sparse) compute exactly what the generic PyG paths compute."""

import pytest
import torch
from torch_geometric.explain.algorithm.utils import clear_masks, set_masks
from torch_geometric.nn import GCNConv

from mspan_pyg import MSPAN, CrossScaleAttention
from mspan_pyg.models.mspan import SameScaleGCN
from mspan_pyg.nn.sparse import GCNAdjacency, gather_rows

DT = torch.float64


def random_bipartite(num_src, num_dst, num_edges, seed):
    g = torch.Generator().manual_seed(seed)
    edge_index = torch.stack(
        [
            torch.randint(0, num_src, (num_edges,), generator=g),
            torch.randint(0, num_dst - 1, (num_edges,), generator=g),
        ]
    )
    return edge_index  # unsorted, duplicates possible, target num_dst - 1 has no edge


def grads(out, tensors):
    weights = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(1))
    return torch.autograd.grad((out * weights).sum(), tensors, allow_unused=True, retain_graph=True)


@pytest.mark.parametrize("scale_scores", [False, True])
def test_fused_attention_equals_message_passing(scale_scores):
    torch.manual_seed(0)
    att = CrossScaleAttention(
        (6, 5), query_channels=4, hidden_channels=7, scale_scores=scale_scores
    ).to(DT)
    x_src = torch.randn(9, 6, dtype=DT, requires_grad=True)
    x_dst = torch.randn(6, 5, dtype=DT, requires_grad=True)
    query = torch.randn(3, 4, dtype=DT, requires_grad=True)
    batch = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    edge_index = random_bipartite(9, 6, 25, seed=3)
    inputs = [x_src, x_dst, query] + list(att.parameters())
    results = []
    for fused in (True, False):
        att.fused = fused
        out, (ei, alpha) = att(
            (x_src, x_dst), edge_index, query, batch=batch, return_attention_weights=True
        )
        results.append((out, alpha, grads(out, inputs), grads(alpha, inputs)))
    (out_f, alpha_f, g_f, ga_f), (out_g, alpha_g, g_g, ga_g) = results
    assert torch.allclose(out_f, out_g, atol=1e-12)
    assert torch.allclose(alpha_f, alpha_g, atol=1e-12)  # same edge order as edge_index
    assert out_f[-1].abs().sum() > 0 and torch.allclose(
        out_f[-1], att.lin_out(torch.cat([x_dst[-1], torch.zeros(7, dtype=DT)]))
    )
    for t, a, b in zip(inputs + inputs, g_f + ga_f, g_g + ga_g):
        zero = torch.zeros_like(t)  # an unused input: None in one path, zeros in the other
        assert torch.allclose(zero if a is None else a, zero if b is None else b, atol=1e-10)


def test_generic_path_kept_for_dropout_and_hooks(monkeypatch):
    att = CrossScaleAttention(4, 3, dropout=0.5)
    x, q, ei = torch.randn(5, 4), torch.randn(1, 3), random_bipartite(5, 5, 12, seed=0)
    calls = []
    original = CrossScaleAttention.message
    monkeypatch.setattr(
        CrossScaleAttention,
        "message",
        lambda self, *a, **k: calls.append(1) or original(self, *a, **k),
    )
    att.eval()
    att(x, ei, q)
    assert calls == []  # inference without hooks: the fused kernel
    att.train()
    att(x, ei, q)
    assert calls == [1]  # attention dropout: message passing
    att.eval()
    set_masks(att, torch.ones(ei.size(1)), ei)  # what PyG's explainers do: mask messages
    att(x, ei, q)
    assert calls == [1, 1]
    clear_masks(att)
    att(x, ei, q)
    assert calls == [1, 1] and att.fused
    att.register_message_forward_hook(lambda *args: None)
    att(x, ei, q)
    assert calls == [1, 1, 1] and not att.fused  # hooks see messages: the public switch is off


def test_gcn_adjacency_equals_gcnconv():
    torch.manual_seed(0)
    gcn = SameScaleGCN(5).to(DT)
    ei = random_bipartite(8, 8, 20, seed=2)
    ei = torch.cat([ei, ei.flip(0)], 1)  # undirected, with duplicates and without self loops
    x = torch.randn(8, 5, dtype=DT, requires_grad=True)
    inputs = [x] + list(gcn.parameters())
    out_generic = gcn(x, ei)
    out_fast = gcn(x, GCNAdjacency(ei, 8, DT))
    assert torch.allclose(out_fast, out_generic, atol=1e-12)
    for a, b in zip(grads(out_fast, inputs), grads(out_generic, inputs)):
        assert torch.allclose(a, b, atol=1e-12)
    directed = random_bipartite(8, 8, 20, seed=5)  # also right for a non-symmetric graph
    conv = GCNConv(5, 5).to(DT)
    fast = GCNAdjacency(directed, 8, DT) @ conv.lin(x) + conv.bias
    assert torch.allclose(fast, conv(x, directed), atol=1e-12)
    assert torch.allclose(grads(fast, [x])[0], grads(conv(x, directed), [x])[0], atol=1e-12)


def test_gather_rows_gradient():
    x = torch.randn(4, 3, dtype=DT, requires_grad=True)
    index = torch.tensor([3, 0, 0, 2, 3, 3])
    out = gather_rows(x, index)
    assert torch.equal(out, x[index])
    assert torch.allclose(grads(out, [x])[0], grads(x[index], [x])[0])


@pytest.mark.parametrize("video_len", [None, [12, 7, 3]])
def test_model_fast_and_generic_paths_agree(video_len):
    torch.manual_seed(0)
    model = MSPAN(
        30,
        task="open",
        num_answers=5,
        appearance_dim=6,
        motion_dim=0,
        visual_dim=8,
        module_dim=4,
        word_dim=3,
        num_scales=4,
        num_iterations=2,
        dropout=0.0,
    ).to(DT)
    inputs = dict(
        appearance=torch.randn(3, 12, 6, dtype=DT),
        motion=None,
        question=torch.randint(2, 30, (3, 4)),
        question_len=torch.tensor([4, 2, 1]),
        video_len=None if video_len is None else torch.tensor(video_len),
    )
    out_fast = model(**inputs)
    g_fast = grads(out_fast, list(model.parameters()))
    for m in model.modules():
        if isinstance(m, CrossScaleAttention):
            m.fused = False
    out_generic = model(**inputs)
    assert torch.allclose(out_fast, out_generic, atol=1e-12)
    for a, b in zip(g_fast, grads(out_generic, list(model.parameters()))):
        assert torch.allclose(a, b, atol=1e-10)


def test_second_derivatives_of_gcn_adjacency_and_gather():
    torch.manual_seed(0)
    gcn = SameScaleGCN(3).to(DT)
    ei = random_bipartite(6, 6, 12, seed=4)
    adj = GCNAdjacency(ei, 6, DT)
    x = torch.randn(6, 3, dtype=DT, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: torch.tanh(gcn(x, adj)), (x,))
    index = torch.tensor([3, 0, 0, 2, 5])
    assert torch.autograd.gradgradcheck(lambda x: gather_rows(x, index).square(), (x,))
