"""Reusing :class:`mspan_pyg.CrossScaleAttention` outside video: a question-conditioned
layer in an ordinary PyG model, in two recipes.

* homogeneous (:class:`QuestionGraphClassifier`): the layer on ``data.edge_index`` with
  ``batch=data.batch`` so that each graph is conditioned on its own question;
* heterogeneous (:class:`HeteroQuestionClassifier`): the layer inside
  :class:`~torch_geometric.nn.conv.HeteroConv`, given ``batch_dict=data.batch_dict`` and the
  question for every node type (``query_dict``), as any PyG layer takes its arguments.

Each graph is a small random "scene": nodes carry a one-hot colour plus noise and
link to their ring neighbours. The question is a colour; the answer is whether the
scene holds at least ``THRESHOLD`` nodes of that colour. The layer lets every node
attend to its neighbours with question-conditioned scores and messages, so the
pooled representation can count what the question asks about.

    python examples/question_conditioned_graph.py --epochs 15 [--hetero]
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data, HeteroData
from torch_geometric.loader import DataLoader
from torch_geometric.nn import HeteroConv, global_add_pool

from mspan_pyg import CrossScaleAttention

COLOURS, NODES, THRESHOLD = 5, 10, 3


def make_scene(generator: torch.Generator) -> Data:
    colour = torch.randint(0, COLOURS, (NODES,), generator=generator)
    x = F.one_hot(colour, COLOURS).float() + 0.1 * torch.randn(NODES, COLOURS, generator=generator)
    ring = torch.arange(NODES)
    edge_index = torch.cat(
        [
            torch.stack([ring, (ring + 1) % NODES]),
            torch.stack([(ring + 1) % NODES, ring]),
            torch.stack([ring, ring]),
        ],
        dim=1,
    )
    asked = int(torch.randint(0, COLOURS, (1,), generator=generator))
    label = float((colour == asked).sum() >= THRESHOLD)
    return Data(
        x=x,
        edge_index=edge_index,
        query=F.one_hot(torch.tensor([asked]), COLOURS).float(),
        y=torch.tensor([label]),
    )


class QuestionGraphClassifier(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.attention = CrossScaleAttention(
            COLOURS, COLOURS, hidden_channels=hidden, out_channels=hidden
        )
        self.classifier = nn.Sequential(
            nn.Linear(hidden + COLOURS, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, data: Data) -> torch.Tensor:
        h = F.relu(self.attention(data.x, data.edge_index, data.query, batch=data.batch))
        pooled = global_add_pool(h, data.batch, size=data.num_graphs)
        return self.classifier(torch.cat([pooled, data.query], dim=-1)).squeeze(-1)


def to_hetero_scene(data: Data) -> HeteroData:
    """The same scene with a ``hub`` node that every node links to."""
    hetero = HeteroData(query=data.query, y=data.y)
    hetero["node"].x = data.x
    hetero["hub"].x = torch.zeros(1, COLOURS)
    hetero["node", "near", "node"].edge_index = data.edge_index
    hetero["node", "in", "hub"].edge_index = torch.stack(
        [torch.arange(NODES), torch.zeros(NODES, dtype=torch.long)]
    )
    return hetero


class HeteroQuestionClassifier(nn.Module):
    def __init__(self, hidden: int = 32):
        super().__init__()
        self.conv = HeteroConv(
            {
                ("node", "near", "node"): CrossScaleAttention(-1, COLOURS, out_channels=hidden),
                ("node", "in", "hub"): CrossScaleAttention((-1, -1), COLOURS, out_channels=hidden),
            }
        )
        self.classifier = nn.Sequential(
            nn.Linear(hidden + COLOURS, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, data: HeteroData) -> torch.Tensor:
        questions = {node_type: data.query for node_type in data.node_types}
        out = self.conv(
            data.x_dict, data.edge_index_dict, query_dict=questions, batch_dict=data.batch_dict
        )
        return self.classifier(torch.cat([F.relu(out["hub"]), data.query], -1)).squeeze(-1)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--num-train", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hetero", action="store_true", help="the HeteroConv recipe")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train = [make_scene(generator) for _ in range(args.num_train)]
    test = [make_scene(generator) for _ in range(200)]
    model = QuestionGraphClassifier()
    if args.hetero:
        train, test = [to_hetero_scene(d) for d in train], [to_hetero_scene(d) for d in test]
        model = HeteroQuestionClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    for _ in range(args.epochs):
        model.train()
        for batch in DataLoader(train, batch_size=32, shuffle=True):
            optimizer.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(batch), batch.y)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        batch = next(iter(DataLoader(test, batch_size=len(test))))
        accuracy = ((model(batch) > 0).float() == batch.y).float().mean().item()
        majority = max(batch.y.mean().item(), 1 - batch.y.mean().item())
    print(f"test accuracy {accuracy:.3f} (majority class {majority:.3f})")
    return accuracy


if __name__ == "__main__":
    main()
