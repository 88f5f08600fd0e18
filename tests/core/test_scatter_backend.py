"""With torch-scatter installed, PyG's scatter/softmax may take its kernels: the
results must match PyG's pure-PyTorch path."""

import pytest
import torch
import torch_geometric.typing

from mspan_pyg import MSPAN

pytest.importorskip("torch_scatter")


def run_model(seed=0):
    torch.manual_seed(seed)
    model = MSPAN(
        30,
        task="multichoice",
        appearance_dim=6,
        motion_dim=2,
        visual_dim=8,
        module_dim=4,
        word_dim=4,
        num_scales=3,
        num_iterations=2,
        dropout=0.0,
    ).double()
    appearance = torch.randn(2, 7, 6, dtype=torch.double)
    motion = torch.randn(2, 7, 2, dtype=torch.double)
    question = torch.randint(1, 30, (2, 5))
    candidates = torch.randint(1, 30, (2, 5, 2))
    out = model(
        appearance,
        motion,
        question,
        torch.tensor([5, 3]),
        candidates,
        torch.full((2, 5), 2),
        video_len=torch.tensor([7, 4]),
    )
    out.sum().backward()
    return out.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_same_results_with_and_without_torch_scatter(monkeypatch):
    assert torch_geometric.typing.WITH_TORCH_SCATTER
    with_scatter = run_model()
    monkeypatch.setattr(torch_geometric.typing, "WITH_TORCH_SCATTER", False)
    without = run_model()
    assert torch.allclose(with_scatter[0], without[0], atol=1e-12)
    for a, b in zip(with_scatter[1], without[1]):
        assert torch.allclose(a, b, atol=1e-10)
