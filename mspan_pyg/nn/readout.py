import torch
from torch import Tensor, nn
from torch_geometric.nn.dense.linear import Linear
from torch_geometric.utils import scatter, softmax


class QuestionReadout(nn.Module):
    r"""Question-guided attention read-out and fusion of MSPAN (eq. 11–13).

    .. math::
        \tilde{w}_j &= \mathrm{softmax}_j\big(\mathbf{W}_7 ((\mathbf{W}_8 \mathbf{v}_j)
            \odot (\mathbf{W}_9 \mathbf{q}))\big)

        \tilde{\mathbf{F}} &= \sum_j \tilde{w}_j \mathbf{v}_j

        \mathbf{F} &= \mathrm{ELU}\big((\mathbf{W}_{10} \tilde{\mathbf{F}}) \odot
            (\mathbf{W}_{11} \mathbf{q}) + \mathbf{b}\big)

    The softmax runs over the nodes of each graph; a graph without nodes reads
    out :math:`\tilde{\mathbf{F}} = \mathbf{0}`.

    Args:
        in_channels (int): Node feature size :math:`D`.
        query_channels (int): Question size :math:`Q`; also the output size.
    """

    def __init__(self, in_channels: int, query_channels: int):
        super().__init__()
        self.lin_node_key = Linear(in_channels, query_channels)  # W8
        self.lin_query_key = Linear(query_channels, query_channels)  # W9
        # No bias: a constant added to every score cancels in the softmax.
        self.lin_score = Linear(query_channels, 1, bias=False)  # W7
        self.lin_node_out = Linear(in_channels, query_channels, bias=False)  # W10
        self.lin_query_out = Linear(query_channels, query_channels, bias=False)  # W11
        self.bias = nn.Parameter(torch.empty(query_channels))  # b
        self.reset_parameters()

    def reset_parameters(self):
        for lin in (
            self.lin_node_key,
            self.lin_query_key,
            self.lin_score,
            self.lin_node_out,
            self.lin_query_out,
        ):
            lin.reset_parameters()
        nn.init.zeros_(self.bias)

    def forward(self, x: Tensor, query: Tensor, batch: Tensor, return_weights: bool = False):
        """``x`` ``[n, D]``, ``query`` ``[G, Q]`` or ``[G, R, Q]`` (``R`` queries per
        graph, e.g. answer candidates), ``batch`` ``[n]`` -> ``[G, Q]`` or ``[G, R, Q]``;
        with ``return_weights`` also the node weights ``[n]`` or ``[n, R]``."""
        single = query.dim() == 2
        if single:
            query = query.unsqueeze(1)
        num_graphs = query.size(0)
        node_key = self.lin_node_key(x).unsqueeze(1)  # [n, 1, Q]
        score = self.lin_score(node_key * self.lin_query_key(query)[batch]).squeeze(-1)  # [n, R]
        weight = softmax(score, batch, num_nodes=num_graphs, dim=0)
        pooled = scatter(
            x.unsqueeze(1) * weight.unsqueeze(-1), batch, dim=0, dim_size=num_graphs, reduce='sum'
        )  # [G, R, D]
        out = nn.functional.elu(self.lin_node_out(pooled) * self.lin_query_out(query) + self.bias)
        if single:
            out, weight = out.squeeze(1), weight.squeeze(1)
        return (out, weight) if return_weights else out

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}({self.lin_node_key.in_channels}, '
            f'query={self.lin_query_key.in_channels})'
        )
